import { DMA_READ, DMA_WRITE } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { cdFields, ipaView, Rig, s2Fields } from '../__tests__/rig.js';
import { STE_CFG_NESTED, STE_CFG_S1_TRANS, STE_CFG_S2_TRANS } from '../format/ste.js';

function s1(cfg = {}) {
  const r = new Rig(cfg);
  const pt = r.table(1);
  const cd = r.alloc() * 4096;
  r.writeCd(cd, cdFields(pt.root * 4096, 7));
  r.writeSte(3, { v: 1, config: STE_CFG_S1_TRANS, s1ContextPtr: BigInt(cd), s2vmid: 0 });
  const a = r.alloc();
  const b = r.alloc();
  pt.map(0x50, a, 3, { write: true, user: true });
  return { r, pt, cd, a, b };
}

describe('the TLB stays stale until the matching TLBI', () => {
  it('TLBI_NH_VA with the right ASID and address', () => {
    const { r, pt, a, b } = s1();
    expect(r.translate(3, 0x50_000, DMA_READ)).toBe(a * 4096);
    pt.unmap(0x50);
    pt.map(0x50, b, 3, { write: true, user: true });
    expect(r.translate(3, 0x50_000, DMA_READ)).toBe(a * 4096);
    r.submit(r.cmd('CFGI_CD_ALL', { sid: 3 }), r.cmd('CMD_SYNC'));
    expect(r.translate(3, 0x50_000, DMA_READ)).toBe(a * 4096);
    r.submit(r.cmd('TLBI_NH_VA', { asid: 8, addr: 0x50_000n }), r.cmd('CMD_SYNC'));
    expect(r.translate(3, 0x50_000, DMA_READ)).toBe(a * 4096);
    r.submit(r.cmd('TLBI_NH_VA', { asid: 7, addr: 0x51_000n }), r.cmd('CMD_SYNC'));
    expect(r.translate(3, 0x50_000, DMA_READ)).toBe(a * 4096);
    r.submit(r.cmd('TLBI_NH_VA', { asid: 7, vmid: 1, addr: 0x50_000n }), r.cmd('CMD_SYNC'));
    expect(r.translate(3, 0x50_000, DMA_READ)).toBe(a * 4096);
    r.submit(r.cmd('TLBI_NH_VA', { asid: 7, addr: 0x50_000n, leaf: 1 }), r.cmd('CMD_SYNC'));
    expect(r.translate(3, 0x50_000, DMA_READ)).toBe(b * 4096);
  });

  it('a range TLBI (RIL): (NUM + 1) << SCALE pages of TG', () => {
    const { r, pt } = s1();
    for (let i = 0; i < 40; i++) pt.map(0x100 + i, 0x400 + i, 3, { write: true, user: true });
    for (let i = 0; i < 40; i++) r.translate(3, (0x100 + i) * 4096, DMA_READ);
    for (let i = 0; i < 40; i++) pt.map(0x100 + i, 0x500 + i, 3, { write: true, user: true });
    // NUM 1, SCALE 4: 2 * 16 = 32 pages of 4 KiB from 0x100000
    r.submit(r.cmd('TLBI_NH_VA', { asid: 7, num: 1, scale: 4, tg: 1, ttl: 3, leaf: 1, addr: 0x10_0000n }), r.cmd('CMD_SYNC'));
    expect(r.translate(3, (0x100 + 31) * 4096, DMA_READ)).toBe((0x500 + 31) * 4096);
    expect(r.translate(3, (0x100 + 32) * 4096, DMA_READ)).toBe((0x400 + 32) * 4096);
  });

  it('TLBI_NH_ASID, TLBI_NH_ALL and TLBI_NSNH_ALL', () => {
    const { r, pt, a, b } = s1();
    const again = () => {
      r.translate(3, 0x50_000, DMA_READ);
      pt.map(0x50, a, 3, { write: true, user: true });
      r.translate(3, 0x50_000, DMA_READ);
      pt.map(0x50, b, 3, { write: true, user: true });
    };
    again();
    r.submit(r.cmd('TLBI_NH_ALL', { vmid: 1 }), r.cmd('CMD_SYNC'));
    expect(r.translate(3, 0x50_000, DMA_READ)).toBe(a * 4096);
    r.submit(r.cmd('TLBI_NH_ASID', { asid: 7 }), r.cmd('CMD_SYNC'));
    expect(r.translate(3, 0x50_000, DMA_READ)).toBe(b * 4096);
    pt.map(0x50, a, 3, { write: true, user: true });
    r.submit(r.cmd('TLBI_NH_ALL', { vmid: 0 }), r.cmd('CMD_SYNC'));
    expect(r.translate(3, 0x50_000, DMA_READ)).toBe(a * 4096);
    pt.map(0x50, b, 3, { write: true, user: true });
    r.submit(r.cmd('TLBI_NSNH_ALL'), r.cmd('CMD_SYNC'));
    expect(r.translate(3, 0x50_000, DMA_READ)).toBe(b * 4096);
  });

  it('a write that the TLB entry does not permit walks again (and faults on the current tables)', () => {
    const { r, pt, a } = s1();
    pt.map(0x60, a, 3, { write: false, user: true });
    expect(r.translate(3, 0x60_000, DMA_READ)).toBe(a * 4096);
    expect(r.translate(3, 0x60_000, DMA_WRITE)).toBe(-1);
    expect(r.smmu.lastFault().reasonName).toBe('F_PERMISSION');
  });
});

describe('stage-2 invalidation', () => {
  function nested() {
    const r = new Rig();
    const ipaBase = 0x4000_0000;
    const guest = r.alloc(256);
    const s2 = r.table(2, { startLevel: 0 });
    for (let i = 0; i < 32; i++) s2.map(ipaBase / 4096 + i, guest + i, 3, { read: true, write: true });
    let next = ipaBase / 4096 + 1;
    const s1 = r.table(1, { view: ipaView(r.mem, ipaBase, guest * 4096), alloc: () => next++ });
    r.writeCd(guest * 4096, cdFields(s1.root * 4096, 9));
    r.writeSte(4, { v: 1, config: STE_CFG_NESTED, s1ContextPtr: BigInt(ipaBase), ...s2Fields(s2.root * 4096, 3) });
    r.writeSte(5, { v: 1, config: STE_CFG_S2_TRANS, ...s2Fields(s2.root * 4096, 3) });
    s1.map(0x70, ipaBase / 4096 + 20, 3, { write: true, user: true });
    return { r, s1, s2, ipaBase, guest };
  }

  it('TLBI_S2_IPA drops stage-2-only entries but not nested ones; TLBI_NH_ALL(VMID) drops nested ones', () => {
    const { r, s2, ipaBase, guest } = nested();
    const ipa20 = ipaBase + 20 * 4096;
    expect(r.translate(5, ipa20, DMA_READ)).toBe((guest + 20) * 4096);
    expect(r.translate(4, 0x70_000, DMA_READ)).toBe((guest + 20) * 4096);
    s2.map(ipa20 / 4096, guest + 21, 3, { read: true, write: true });
    r.submit(r.cmd('TLBI_S2_IPA', { vmid: 3, addr: BigInt(ipa20), leaf: 1 }), r.cmd('CMD_SYNC'));
    expect(r.translate(5, ipa20, DMA_READ)).toBe((guest + 21) * 4096);
    expect(r.translate(4, 0x70_000, DMA_READ)).toBe((guest + 20) * 4096);
    r.submit(r.cmd('TLBI_NH_ALL', { vmid: 3 }), r.cmd('CMD_SYNC'));
    expect(r.translate(4, 0x70_000, DMA_READ)).toBe((guest + 21) * 4096);
  });

  it('TLBI_S12_VMALL drops both', () => {
    const { r, s2, ipaBase, guest } = nested();
    const ipa20 = ipaBase + 20 * 4096;
    r.translate(5, ipa20, DMA_READ);
    r.translate(4, 0x70_000, DMA_READ);
    s2.map(ipa20 / 4096, guest + 22, 3, { read: true, write: true });
    r.submit(r.cmd('TLBI_S12_VMALL', { vmid: 2 }), r.cmd('CMD_SYNC'));
    expect(r.translate(5, ipa20, DMA_READ)).toBe((guest + 20) * 4096);
    r.submit(r.cmd('TLBI_S12_VMALL', { vmid: 3 }), r.cmd('CMD_SYNC'));
    expect(r.translate(5, ipa20, DMA_READ)).toBe((guest + 22) * 4096);
    expect(r.translate(4, 0x70_000, DMA_READ)).toBe((guest + 22) * 4096);
  });
});

describe('the configuration cache stays stale until CFGI', () => {
  it('a changed CD is used after CFGI_CD; a changed STE after CFGI_STE, CFGI_STE_RANGE or CFGI_ALL', () => {
    const { r, pt, cd, a } = s1();
    const other = r.table(1);
    const c = r.alloc();
    other.map(0x50, c, 3, { write: true, user: true });
    expect(r.translate(3, 0x50_000, DMA_READ)).toBe(a * 4096);
    r.writeCd(cd, cdFields(other.root * 4096, 9));
    expect(r.translate(3, 0x51_000, DMA_READ)).toBe(-1);
    r.submit(r.cmd('CFGI_CD', { sid: 3, ssid: 1, leaf: 1 }), r.cmd('CMD_SYNC'));
    expect(r.translate(3, 0x50_000, DMA_READ)).toBe(a * 4096);
    r.submit(r.cmd('CFGI_CD', { sid: 3, ssid: 0, leaf: 1 }), r.cmd('CMD_SYNC'));
    expect(r.translate(3, 0x50_000, DMA_READ)).toBe(c * 4096);
    expect(pt.root).not.toBe(other.root);

    r.writeSte(3, { v: 1, config: 4 });
    expect(r.translate(3, 0x77_000, DMA_READ)).toBe(-1);
    r.submit(r.cmd('CFGI_STE', { sid: 2, leaf: 1 }), r.cmd('CMD_SYNC'));
    expect(r.translate(3, 0x77_000, DMA_READ)).toBe(-1);
    r.submit(r.cmd('CFGI_STE_RANGE', { sid: 2, range: 0 }), r.cmd('CMD_SYNC'));
    expect(r.translate(3, 0x77_000, DMA_READ)).toBe(0x77_000);
    r.writeSte(3, { v: 1, config: 0 });
    r.submit(r.cmd('CFGI_STE_RANGE', { range: 31 }), r.cmd('CMD_SYNC'));
    expect(r.translate(3, 0x77_000, DMA_READ)).toBe(-1);
  });
});

describe('the missing-invalidation detector', () => {
  it('reports a TLB hit that differs from a fresh walk', () => {
    const { r, pt, a, b } = s1({ detectStale: true });
    r.translate(3, 0x50_000, DMA_READ);
    r.translate(3, 0x50_000, DMA_READ);
    expect(r.smmu.staleReports).toEqual([]);
    pt.map(0x50, b, 3, { write: true, user: true });
    r.translate(3, 0x50_000, DMA_READ);
    expect(r.smmu.staleReports).toEqual([
      { sid: 3, ssid: -1, iova: 0x50_000n, vmid: 0, asid: 7, cached: { pa: BigInt(a * 4096), perm: 63 }, fresh: { pa: BigInt(b * 4096), perm: 63 } },
    ]);
    pt.unmap(0x50);
    r.translate(3, 0x50_000, DMA_READ);
    expect(r.smmu.staleReports[1]!.fresh).toEqual({ fault: 'F_TRANSLATION' });
    expect(r.events()).toEqual([]);
  });
});

describe('hardware updates of the Access flag and dirty state (IDR0.HTTU)', () => {
  it('CD.HA sets AF; CD.HD turns writable-clean into writable-dirty on a write', () => {
    const r = new Rig({ httu: 2 });
    const pt = r.table(1);
    const cd = r.alloc() * 4096;
    r.writeCd(cd, { ...cdFields(pt.root * 4096, 1), ha: 1, hd: 1 });
    r.writeSte(1, { v: 1, config: STE_CFG_S1_TRANS, s1ContextPtr: BigInt(cd) });
    pt.map(0x80, 0x600, 3, { write: false, user: true, af: false });
    const entryAddr = () => {
      const l0 = r.mem.u64(pt.root * 4096) & 0xffff_ffff_f000n;
      const l1 = r.mem.u64(Number(l0)) & 0xffff_ffff_f000n;
      const l2 = r.mem.u64(Number(l1)) & 0xffff_ffff_f000n;
      return Number(l2) + 0x80 * 8;
    };
    // make it writable-clean: DBM (bit 51) with AP[2] set
    r.mem.setU64(entryAddr(), r.mem.u64(entryAddr()) | (1n << 51n));
    expect(r.translate(1, 0x80_000, DMA_READ)).toBe(0x60_0000);
    expect(r.mem.u64(entryAddr()) & 0x480n).toBe(0x480n);
    expect(r.translate(1, 0x80_000, DMA_WRITE)).toBe(0x60_0000);
    expect(r.mem.u64(entryAddr()) & 0x480n).toBe(0x400n);
  });
});
