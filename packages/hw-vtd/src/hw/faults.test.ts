import { DMA_EXEC, DMA_PRIV, DMA_READ, DMA_WRITE, NO_PASID, X86PageTable } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { FaultRecord } from '../format/fault-record.js';
import { vtdFaultReasonName } from '../format/fault-reasons.js';
import { PASID_ENTRY_PGTT_FL_ONLY, PASID_ENTRY_PGTT_PT, PASID_ENTRY_PGTT_SL_ONLY } from '../format/pasid-entry.js';
import * as R from '../format/registers.js';
import { SS } from '../format/ss-pte.js';
import { type Fixture, hwFixture, RID } from './__tests__/fixture.js';
import type { VtdFaultRecordInfo } from './reports.js';

/** An address inside HAW (46 bits) but far past the fixture's 256 MiB of RAM. */
const BEYOND_RAM = 0x3f_0000_0000n;

function ssOnly(f: Fixture, extra: Record<string, unknown> = {}) {
  const ss = f.alloc();
  const pa = f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 2, did: 5, ssptptr: BigInt(ss) * 4096n, ...extra });
  return { ss, pa };
}

function fsOnly(f: Fixture, pasid = 1, extra: Record<string, unknown> = {}) {
  const pt = new X86PageTable(f.mem, f.alloc, 4);
  const pa = f.w.setPasidEntry(RID, pasid, { present: true, pgtt: PASID_ENTRY_PGTT_FL_ONLY, did: 1, fsptptr: BigInt(pt.root) * 4096n, ...extra });
  return { pt, pa };
}

function setRoot(f: Fixture, rtaddr: bigint) {
  f.hw.write64(R.DMAR_RTADDR_REG, rtaddr);
  f.hw.write32(R.DMAR_GCMD_REG, R.DMA_GCMD_SRTP | R.DMA_GCMD_TE);
}

/** A 4 KiB SS leaf for page 0 with TM (bit 62), reserved without device-TLBs. */
function withTm(f: Fixture, ss: number): void {
  const leafPa = f.w.ssMap(ss, 4, 0, 0x500, 1, SS.R);
  f.mem.setU64(leafPa, f.mem.u64(leafPa) | (1n << 62n));
}

interface Case {
  reason: number;
  opts?: Record<string, unknown>;
  /** Builds the broken state; returns the request [pasid, iovaPfn, access]. */
  setup(f: Fixture): [number, number, number];
}

const cases: Case[] = [
  { reason: 0x30, setup: (f) => (setRoot(f, (BigInt(f.w.rootPfn) << 12n) | (2n << 10n)), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x31, setup: (f) => (setRoot(f, BigInt(f.w.rootPfn) << 12n), [3, 0, DMA_READ]) },
  { reason: 0x38, setup: (f) => (setRoot(f, BEYOND_RAM | R.DMA_RTADDR_SMT), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x39, setup: () => [NO_PASID, 0, DMA_READ] },
  { reason: 0x3a, setup: (f) => (f.w.context(RID), f.mem.setU64(f.w.rootPfn * 4096 + 16, f.mem.u64(f.w.rootPfn * 4096 + 16) | 0x20n), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x40, setup: (f) => (f.mem.setU64(f.w.rootPfn * 4096 + 16, BEYOND_RAM | 1n), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x41, setup: (f) => (f.w.contextPa(RID), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x42, setup: (f) => (f.w.setContext(RID, { present: true, pdts: 2, pasidDirPtr: 0x10_0000n }), f.mem.setU64(f.w.contextPa(RID) + 8, 1n << 40n), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x45, setup: (f) => (f.w.setContext(RID, { present: true, pdts: 2, pasidDirPtr: BigInt(f.alloc()) * 4096n }), [7, 0, DMA_READ]) },
  { reason: 0x46, setup: (f) => (f.w.setContext(RID, { present: true, pasidEnable: true, pdts: 0, pasidDirPtr: BigInt(f.alloc()) * 4096n }), [8192, 0, DMA_READ]) },
  { reason: 0x48, setup: (f) => (f.w.setContext(RID, { present: true, pdts: 0, ridPasid: 9000, pasidDirPtr: BigInt(f.alloc()) * 4096n }), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x50, setup: (f) => (f.w.setContext(RID, { present: true, pdts: 2, pasidDirPtr: BEYOND_RAM }), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x51, setup: (f) => (f.w.context(RID), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x52, setup: (f) => (f.mem.setU64(Number(f.w.context(RID).pasidDirPtr), BigInt(f.alloc()) * 4096n | 0x5n), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x58, setup: (f) => (f.mem.setU64(Number(f.w.context(RID).pasidDirPtr), BEYOND_RAM | 1n), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x59, setup: (f) => (f.w.pasidEntryPa(RID, 0), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x5a, setup: (f) => (ssOnly(f), f.mem.setU64(f.w.pasidEntryPa(RID, 0) + 24, 1n), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x5a, opts: { srs: false }, setup: (f) => (fsOnly(f, 1, { sre: true }), [1, 0, DMA_READ]) },
  { reason: 0x5b, setup: (f) => (f.w.setPasidEntry(RID, 0, { present: true, pgtt: 5, did: 2 }), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x5b, opts: { addressWidth: 39 }, setup: (f) => (ssOnly(f), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x5b, setup: (f) => (fsOnly(f, 1, { fspm: 1 }), [1, 0, DMA_READ]) },
  { reason: 0x5c, setup: (f) => (fsOnly(f), [1, 0, DMA_READ | DMA_EXEC]) },
  { reason: 0x5d, setup: (f) => (fsOnly(f), [1, 0, DMA_READ | DMA_PRIV]) },
  { reason: 0x70, setup: (f) => (f.mem.setU64(fsOnly(f).pt.root * 4096, BEYOND_RAM | 7n), [1, 0, DMA_READ]) },
  { reason: 0x71, setup: (f) => (fsOnly(f), [1, 0, DMA_READ]) },
  { reason: 0x72, setup: (f) => (f.mem.setU64(fsOnly(f).pt.root * 4096, 0x20_0087n), [1, 0, DMA_READ]) },
  { reason: 0x73, setup: (f) => (f.w.setPasidEntry(RID, 1, { present: true, pgtt: PASID_ENTRY_PGTT_FL_ONLY, did: 1, fsptptr: BEYOND_RAM }), [1, 0, DMA_READ]) },
  { reason: 0x78, setup: (f) => (f.mem.setU64(ssOnly(f).ss * 4096, BEYOND_RAM | 3n), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x79, setup: (f) => (ssOnly(f), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x7a, opts: { deviceTlb: false }, setup: (f) => (withTm(f, ssOnly(f).ss), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x7a, setup: (f) => (f.mem.setU64(ssOnly(f).ss * 4096, 0x40_0083n), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x7b, setup: (f) => (f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 2, did: 5, ssptptr: BEYOND_RAM }), [NO_PASID, 0, DMA_READ]) },
  { reason: 0x80, setup: (f) => (fsOnly(f), [1, 2 ** 35, DMA_READ]) },
  { reason: 0x81, setup: (f) => (fsOnly(f).pt.map(0, 0x600, 1, { write: true, user: false }), [1, 0, DMA_READ]) },
  { reason: 0x82, opts: { ers: true }, setup: (f) => (fsOnly(f, 1, { ere: true }).pt.map(0, 0x600, 1, { user: true, xd: true }), [1, 0, DMA_READ | DMA_EXEC]) },
  { reason: 0x83, setup: (f) => (ssOnly(f), [NO_PASID, 2 ** 36, DMA_READ]) },
  { reason: 0x83, setup: (f) => (f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_PT, aw: 2, did: 1 }), [NO_PASID, 2 ** 34, DMA_READ]) },
  { reason: 0x85, setup: (f) => (f.w.ssMap(ssOnly(f).ss, 4, 0, 0x600, 1, SS.R), [NO_PASID, 0, DMA_WRITE]) },
  { reason: 0x86, setup: (f) => (f.w.ssMap(ssOnly(f).ss, 4, 0, 0x600, 1, SS.W), [NO_PASID, 0, DMA_READ]) },
];

describe('every fault reason the model produces, recorded as the spec lays out FRCD', () => {
  it.each(cases.map((c) => [c.reason.toString(16), c] as const))('0x%s', (_hex, c) => {
    const f = hwFixture(c.opts);
    const [pasid, iova, access] = c.setup(f);
    expect(f.hw.translate(RID, pasid, iova, access)).toBe(-1);
    const info = f.hw.lastFault();
    expect(info.reason.toString(16)).toBe(c.reason.toString(16));
    expect(info.reasonName).toBe(vtdFaultReasonName(c.reason));
    // The record sits in FRCD[0] at CAP.FRO * 16 (0x220): F, reason, SID and PASID as the kernel decodes them.
    const frcd = FaultRecord.decode([f.hw.read64(R.VTD_FRCD_REG_OFFSET), f.hw.read64(R.VTD_FRCD_REG_OFFSET + 8)]);
    expect(frcd).toMatchObject({ fault: true, reason: c.reason, sid: RID });
    expect((f.hw.read32(R.DMAR_FSTS_REG) & R.DMA_FSTS_PPF) !== 0).toBe(true);
  });

  it('records the page address, PASID, T (read = 1) and names stage and level', () => {
    const f = hwFixture();
    const { pt } = fsOnly(f, 0x33);
    pt.map(0x77, 0x600, 1, { write: false, user: true });
    expect(f.hw.translate(RID, 0x33, 0x77, DMA_WRITE)).toBe(-1);
    const frcd = FaultRecord.decode([f.hw.read64(0x220), f.hw.read64(0x228)]);
    expect(frcd).toMatchObject({ faultInfo: 0x77000n, pasidPresent: true, pasid: 0x33, reason: 0x85, type: false });
    expect(f.hw.lastFault().record).toMatchObject({ stage: 'first', level: 1, did: 1 } satisfies Partial<VtdFaultRecordInfo>);
  });
});

describe('fault recording registers and the fault event', () => {
  it('fills NFR registers in turn, then sets PFO; software clears F and the event fires per record', () => {
    const f = hwFixture({ nfr: 2 });
    let events = 0;
    f.hw.onFaultEvent = () => events++;
    for (let i = 0; i < 3; i++) f.hw.translate(RID, NO_PASID, i, DMA_READ);
    expect(f.hw.faults.recorded).toBe(2);
    expect(f.hw.faults.overflows).toBe(1);
    const fsts = f.hw.read32(R.DMAR_FSTS_REG);
    expect(fsts & (R.DMA_FSTS_PFO | R.DMA_FSTS_PPF)).toBe(R.DMA_FSTS_PFO | R.DMA_FSTS_PPF);
    expect(R.fstsFri(fsts)).toBe(0);
    expect(events).toBe(3);
    // Clear F in both records (write 1 to bit 127) and PFO: PPF drops.
    f.hw.write32(0x22c, 1 << 31);
    f.hw.write32(0x23c, 1 << 31);
    f.hw.write32(R.DMAR_FSTS_REG, R.DMA_FSTS_PFO);
    expect(f.hw.read32(R.DMAR_FSTS_REG) & 3).toBe(0);
  });

  it('holds the event pending while FECTL.IM is set and delivers it on unmask', () => {
    const f = hwFixture();
    let events = 0;
    f.hw.onFaultEvent = () => events++;
    f.hw.write32(R.DMAR_FECTL_REG, R.DMA_FECTL_IM);
    f.hw.translate(RID, NO_PASID, 0, DMA_READ);
    expect(events).toBe(0);
    expect(f.hw.read32(R.DMAR_FECTL_REG) & R.DMA_FECTL_IP).not.toBe(0);
    f.hw.write32(R.DMAR_FECTL_REG, 0);
    expect(events).toBe(1);
    expect(f.hw.read32(R.DMAR_FECTL_REG) & R.DMA_FECTL_IP).toBe(0);
  });

  it('does not record qualified faults when FPD is set in the context or PASID entry', () => {
    const f = hwFixture();
    ssOnly(f, { fpd: true });
    expect(f.hw.translate(RID, NO_PASID, 0, DMA_READ)).toBe(-1);
    expect(f.hw.lastFault().reason).toBe(0x79);
    expect((f.hw.lastFault().record as VtdFaultRecordInfo).recorded).toBe(false);
    expect(f.hw.faults.recorded).toBe(0);
    expect(f.hw.faults.suppressed).toBe(1);
  });
});
