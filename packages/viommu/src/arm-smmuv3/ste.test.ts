import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { GuestRam } from '../vm/guest-ram.js';
import { smmuFindSte } from './ste.js';

const RAM = 0x4000_0000;

function ram(): GuestRam {
  const host = new Host({ memory: 64 * 2 ** 20 });
  return new GuestRam(host.spawnProcess(), 16 * 2 ** 20, host.mem, [{ gpa: RAM, size: 16 * 2 ** 20, offset: 0 }]);
}

describe('smmu_find_ste: the guest STE of a StreamID', () => {
  it('indexes a linear table: STRTAB_BASE + 64 * SID, within 2^LOG2SIZE StreamIDs', () => {
    const r = ram();
    const out = new Uint32Array(16);
    r.setU64(RAM + 0x1000 + 5 * 64, 0x1234_5678_9abc_def1n);
    r.setU64(RAM + 0x1000 + 5 * 64 + 56, 0x77n);
    // STRTAB_BASE_CFG: FMT 0 (linear) | LOG2SIZE 5
    const regs = { strtabBaseLo: RAM + 0x1000, strtabBaseHi: 0, strtabBaseCfg: 5 };
    expect(smmuFindSte(r, regs, 5, out)).toBe(0);
    expect([out[0], out[1], out[14]]).toEqual([0x9abc_def1, 0x1234_5678, 0x77]);
    expect(smmuFindSte(r, regs, 32, out)).toBe(0x02); // C_BAD_STREAMID
  });

  it('walks a 2-level table: the L1 descriptor (SPAN, L2Ptr) of SID >> SPLIT, then the STE in its L2 table', () => {
    const r = ram();
    const out = new Uint32Array(16);
    // STRTAB_BASE_CFG by hand (IHI0070 6.3.24): FMT 1 << 16 | SPLIT 8 << 6 | LOG2SIZE 16 = 0x1_0210
    const regs = { strtabBaseLo: RAM, strtabBaseHi: 0, strtabBaseCfg: 0x1_0210 };
    const sid = 0x0118; // bus 1, devfn 0x18
    expect(smmuFindSte(r, regs, sid, out)).toBe(0x02); // L1 descriptor 1 is invalid (SPAN 0)
    // L1 descriptor 1: L2Ptr 0x40004000 | SPAN 9 (2^8 STEs)
    r.setU64(RAM + 8, 0x4000_4000n | 9n);
    r.setU64(RAM + 0x4000 + 0x18 * 64, 0xbn);
    expect(smmuFindSte(r, regs, sid, out)).toBe(0);
    expect(out[0]).toBe(0xb);
    // SPAN 2 holds 2 STEs: entry 0x18 is beyond it, a bad STE
    r.setU64(RAM + 8, 0x4000_4000n | 2n);
    expect(smmuFindSte(r, regs, sid, out)).toBe(0x04);
    // An L2 table outside guest RAM: F_STE_FETCH
    r.setU64(RAM + 8, 0x1000_0000n | 9n);
    expect(smmuFindSte(r, regs, sid, out)).toBe(0x03);
  });
});
