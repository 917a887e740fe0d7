import { describe, expect, it } from 'vitest';
import { Rig } from '../__tests__/rig.js';
import { CERROR_ILL, queueIdx } from '../format/queue.js';
import { GERROR_CMDQ_ERR, SMMU_REG } from '../format/registers.js';

const cons = (r: Rig) => r.smmu.read32(SMMU_REG.CMDQ_CONS);
const err = (r: Rig) => (cons(r) >>> 24) & 0x7f;
const gerrorActive = (r: Rig) => (r.smmu.read32(SMMU_REG.GERROR) ^ r.smmu.read32(SMMU_REG.GERRORN)) & GERROR_CMDQ_ERR;

describe('an illegal command stops the queue (CERROR_ILL)', () => {
  it('CONS stays on it with ERR=1, GERROR.CMDQ_ERR is active, later commands wait for GERRORN', () => {
    const r = new Rig();
    const irqs: number[] = [];
    r.smmu.setIrqHandler('gerror', () => irqs.push(cons(r)));
    r.submit(r.cmd('CMD_SYNC'), [0x7fn, 0n], r.cmd('CMD_SYNC', { cs: 2 }));
    expect(queueIdx(cons(r), r.cmdqLog2)).toBe(1);
    expect(err(r)).toBe(CERROR_ILL);
    expect(gerrorActive(r)).toBe(GERROR_CMDQ_ERR);
    expect(irqs).toEqual([(CERROR_ILL << 24) | 1]);
    expect(r.smmu.cmdq.stats).toMatchObject({ syncs: 1, errors: 1, sevs: 0 });
    // still stopped: a new PROD write runs nothing
    r.submit(r.cmd('CMD_SYNC'));
    expect(queueIdx(cons(r), r.cmdqLog2)).toBe(1);
    // what Linux does: overwrite the bad command with a CMD_SYNC, then acknowledge
    r.writeDwords(r.cmdq + 16, r.cmd('CMD_SYNC'));
    r.smmu.write32(SMMU_REG.GERRORN, r.smmu.read32(SMMU_REG.GERROR));
    expect(queueIdx(cons(r), r.cmdqLog2)).toBe(4);
    expect(err(r)).toBe(0);
    expect(r.smmu.cmdq.stats).toMatchObject({ syncs: 4, sevs: 1 });
  });

  it('a GERROR handler that repairs and acknowledges lets the queue run on at once', () => {
    const r = new Rig();
    r.smmu.setIrqHandler('gerror', () => {
      const at = r.cmdq + queueIdx(cons(r), r.cmdqLog2) * 16;
      r.writeDwords(at, r.cmd('CMD_SYNC'));
      r.smmu.write32(SMMU_REG.GERRORN, r.smmu.read32(SMMU_REG.GERROR));
    });
    r.submit([0x99n, 0n], r.cmd('TLBI_NSNH_ALL'), r.cmd('CMD_SYNC'));
    expect(queueIdx(cons(r), r.cmdqLog2)).toBe(3);
    expect(r.smmu.cmdq.stats.byOp).toMatchObject({ CMD_SYNC: 2, TLBI_NSNH_ALL: 1 });
  });

  const illegal: [string, Partial<ConstructorParameters<typeof Rig>[0]>, [bigint, bigint]][] = [
    ['an unknown opcode', {}, [0x07fn, 0n]],
    ['SSec set on the Non-secure queue', {}, [0x0003n | (1n << 10n), 0n]],
    ['a RES0 bit (CFGI_STE dword 1 bit 1)', {}, [0x03n, 2n]],
    ['TLBI_EL2_ALL without IDR0.HYP', {}, [0x20n, 0n]],
    ['TLBI_S2_IPA without stage 2', { s2p: false }, [0x2an, 0n]],
    ['TLBI_NH_ALL without stage 1', { s1p: false }, [0x10n, 0n]],
    ['range fields without IDR3.RIL', { ril: false }, [0x12n | (3n << 20n), 1n << 10n]],
    ['a range with NUM=SCALE=TTL=0 (reserved)', {}, [0x12n, 1n << 10n]],
    ['ATC_INV without ATS', { ats: false }, [0x40n, 52n]],
    ['ATC_INV with Size above 52', {}, [0x40n, 53n]],
    ['PRI_RESP with Resp=3', {}, [0x41n, 3n << 12n]],
    ['RESUME on an SMMU that cannot stall', {}, [0x44n, 0n]],
    ['CMD_SYNC with CS=3', {}, [0x46n | (3n << 12n), 0n]],
    ['an ASID above 255 with 8-bit ASIDs', { asid16: false }, [0x11n | (0x100n << 48n), 0n]],
  ];
  it.each(illegal)('%s', (_name, cfg, cmd) => {
    const r = new Rig(cfg);
    r.submit(cmd);
    expect(err(r)).toBe(CERROR_ILL);
    expect(gerrorActive(r)).toBe(GERROR_CMDQ_ERR);
  });

  it('commands Linux issues are legal', () => {
    const r = new Rig();
    r.submit(
      r.cmd('PREFETCH_CONFIG', { sid: 1 }),
      r.cmd('CFGI_STE', { sid: 1, leaf: 1 }),
      r.cmd('CFGI_STE_RANGE', { range: 31 }),
      r.cmd('CFGI_CD', { sid: 1, ssid: 3, leaf: 1 }),
      r.cmd('CFGI_CD_ALL', { sid: 1 }),
      r.cmd('TLBI_NH_ASID', { asid: 1 }),
      r.cmd('TLBI_NH_VA', { asid: 1, leaf: 1, addr: 0x1000n }),
      r.cmd('TLBI_NH_VAA', { vmid: 1, num: 3, tg: 1, ttl: 3, addr: 0x1000n }),
      r.cmd('TLBI_S12_VMALL', { vmid: 1 }),
      r.cmd('TLBI_S2_IPA', { vmid: 1, scale: 1, tg: 1, addr: 0x2000n }),
      r.cmd('ATC_INV', { sid: 1, ssv: 1, ssid: 2, size: 52 }),
      r.cmd('PRI_RESP', { sid: 1, prgIndex: 5, resp: 2 }),
      r.cmd('CMD_SYNC', { cs: 2, msh: 3, msiAttr: 0xf }),
    );
    expect(err(r)).toBe(0);
    expect(r.smmu.cmdq.stats.consumed).toBe(13);
  });
});

describe('queue wrap', () => {
  it('a 4-entry command queue runs 11 commands across three wraps', () => {
    const r = new Rig({}, { cmdqLog2: 2 });
    const batches = [3, 4, 2, 2];
    for (const n of batches) r.submit(...Array.from({ length: n }, () => r.cmd('CMD_SYNC', { cs: 2 })));
    // 11 entries = 2 full wraps + 3: index 3, wrap bit (bit 2) = 0 after an even number of wraps
    expect(cons(r)).toBe(11 % 8);
    expect(r.smmu.read32(SMMU_REG.CMDQ_PROD)).toBe(11 % 8);
    expect(r.smmu.cmdq.stats.sevs).toBe(11);
  });
});

describe('CMD_SYNC completion', () => {
  it('writes MSIData to MSIAddr when CS=IRQ and the SMMU has MSIs', () => {
    const r = new Rig();
    const flag = r.alloc() * 4096 + 0x40;
    r.mem.setU32(flag, 0xffff_ffff);
    r.submit(r.cmd('CMD_SYNC', { cs: 1, msiData: 0x1234, msiAddr: BigInt(flag) }));
    expect(r.mem.u32(flag)).toBe(0x1234);
    expect(r.smmu.cmdq.stats).toMatchObject({ syncs: 1, msiWrites: 1 });
  });

  it('raises the wired CMD_SYNC interrupt without an MSI address', () => {
    const r = new Rig({ msi: false });
    let n = 0;
    r.smmu.setIrqHandler('cmdSync', () => n++);
    r.submit(r.cmd('CMD_SYNC', { cs: 1, msiAddr: 0x1000n }));
    expect(n).toBe(1);
    expect(r.smmu.cmdq.stats.syncIrqs).toBe(1);
  });
});

describe('registers', () => {
  it('reads the ID registers, acks CR0, and guards the bases while enabled', () => {
    const r = new Rig();
    expect(r.smmu.read32(SMMU_REG.CR0ACK)).toBe(0xd);
    // IDR0 of the defaults: S2P|S1P, TTF=2, COHACC (low byte 0x1b), ATS, ASID16, MSI, SEV, PRI, VMID16, CD2L, TTENDIAN=2,
    // STALL_MODEL=1, TERM_MODEL, ST_LEVEL=1
    expect(r.smmu.read32(SMMU_REG.IDR0)).toBe(0x0d4d_741b);
    const base = r.smmu.read64(SMMU_REG.STRTAB_BASE);
    r.smmu.write64(SMMU_REG.STRTAB_BASE, 0x8000n);
    expect(r.smmu.read64(SMMU_REG.STRTAB_BASE)).toBe(base);
    // 32-bit halves of a 64-bit register
    expect(r.smmu.read32(SMMU_REG.CMDQ_BASE)).toBe(Number(r.smmu.read64(SMMU_REG.CMDQ_BASE) & 0xffff_ffffn));
  });
});
