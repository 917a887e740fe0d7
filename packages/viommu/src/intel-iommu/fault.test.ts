import { describe, expect, it } from 'vitest';
import { DMA_FECTL_IM as VTD_FECTL_IM, DMA_FSTS_PFO as VTD_FSTS_PFO, DMA_FSTS_PPF as VTD_FSTS_PPF } from '@iommu-lab/hw-vtd/format';
import { VtdFaultUnit } from './fault.js';
import { VtdCsr } from './regs.js';

function rig() {
  const csr = new VtdCsr();
  csr.defineLong(0x34, 0, 0, 0x11);
  csr.defineLong(0x38, VTD_FECTL_IM, VTD_FECTL_IM, 0);
  csr.defineLong(0x3c, 0, 0xffff, 0);
  csr.defineLong(0x40, 0, 0xffff_fffc, 0);
  csr.defineQuad(0x220, 0n, 0n, 0n);
  csr.defineQuad(0x228, 0n, 0n, 0x8000_0000_0000_0000n);
  const irqs: [number, number][] = [];
  const unit = new VtdFaultUnit(csr, (a, d) => void irqs.push([a, d]));
  return { csr, unit, irqs };
}

describe('fault recording (vtd_report_frcd_fault)', () => {
  it('fills FRCD_REG_0 the way the kernel decodes it and sets PPF with FRI 0', () => {
    const r = rig();
    r.csr.setLong(0x38, 0);
    r.csr.setLong(0x3c, 0x40);
    r.csr.setLong(0x40, 0xfee0_0000);
    expect(r.unit.report({ sid: 0x18, pasid: 0, addr: 0xdead_beefn, reason: 0x71, write: true })).toBe(true);
    // lo: FI = page of the address.
    expect(r.csr.rawQuad(0x220)).toBe(0xdead_b000n);
    // hi: F 63 | FR 0x71 << 32 | PV 0 << 40 | PP 31 | SID 0x18; T (62) clear for a write.
    expect(r.csr.rawQuad(0x228)).toBe(0x8000_0071_8000_0018n);
    expect(r.csr.getLong(0x34)).toBe(VTD_FSTS_PPF);
    expect(r.irqs).toEqual([[0xfee0_0000, 0x40]]);
  });

  it('records a read without PASID with T set and PP clear', () => {
    const r = rig();
    r.unit.report({ sid: 0x100, pasid: -1, addr: 0x1000n, reason: 0x59, write: false });
    // F | T | FR 0x59; SID 0x100.
    expect(r.csr.rawQuad(0x228)).toBe(0xc000_0059_0000_0100n);
  });

  it('keeps FECTL.IP instead of interrupting while masked', () => {
    const r = rig();
    r.unit.report({ sid: 1, pasid: -1, addr: 0n, reason: 0x71, write: true });
    expect(r.irqs).toEqual([]);
    expect(r.csr.raw(0x38) >>> 0).toBe((VTD_FECTL_IM | (1 << 30)) >>> 0);
  });

  it('compresses a second fault of the same SID, overflows (PFO) on another, and recovers after F is cleared', () => {
    const r = rig();
    r.unit.report({ sid: 1, pasid: -1, addr: 0n, reason: 0x71, write: true });
    expect(r.unit.report({ sid: 1, pasid: -1, addr: 0x1000n, reason: 0x71, write: true })).toBe(false);
    expect(r.unit.report({ sid: 2, pasid: -1, addr: 0x2000n, reason: 0x71, write: true })).toBe(false);
    expect(r.csr.getLong(0x34) & VTD_FSTS_PFO).toBe(VTD_FSTS_PFO);
    // Software clears F (write 1 to bit 127) and PFO.
    r.csr.setLong(0x22c, 0x8000_0000);
    r.unit.updatePpf();
    r.csr.setLong(0x34, VTD_FSTS_PFO);
    expect(r.csr.getLong(0x34)).toBe(0);
    expect(r.unit.report({ sid: 2, pasid: 3, addr: 0x2000n, reason: 0x85, write: true })).toBe(true);
    expect(r.unit.dropped).toBe(2);
  });
});
