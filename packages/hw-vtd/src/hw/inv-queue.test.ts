import { DMA_READ, DMA_WRITE, NO_PASID, X86PageTable } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import {
  ContextCacheInvDesc,
  InvWaitDesc,
  IotlbInvDesc,
  PasidCacheInvDesc,
  PasidIotlbInvDesc,
} from '../format/inv-desc.js';
import { PASID_ENTRY_PGTT_FL_ONLY, PASID_ENTRY_PGTT_NESTED, PASID_ENTRY_PGTT_SL_ONLY } from '../format/pasid-entry.js';
import * as R from '../format/registers.js';
import { GUEST_BASE, guestStage1, guestStage2, hwFixture, queue, RID } from './__tests__/fixture.js';

const iotlbPsi = (did: number, pfn: number, am = 0, ih = false) => IotlbInvDesc.encode({ type: 2, g: 3, did, addr: BigInt(pfn) << 12n, am, ih });
const piotlb = (did: number, pasid: number, pfn = -1, ih = false) =>
  pfn < 0 ? PasidIotlbInvDesc.encode({ type: 6, g: 2, did, pasid }) : PasidIotlbInvDesc.encode({ type: 6, g: 3, did, pasid, addr: BigInt(pfn) << 12n, ih });

describe('stale translations until the right invalidation descriptor', () => {
  it('second stage: the IOTLB keeps the old page until a page-selective IOTLB invalidation of its DID', () => {
    const f = hwFixture();
    const q = queue(f);
    const ss = f.alloc();
    f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 2, did: 5, ssptptr: BigInt(ss) * 4096n });
    const leaf = f.w.ssMap(ss, 4, 0x40, 0x600, 1);
    expect(f.hw.translate(RID, NO_PASID, 0x40, DMA_READ)).toBe(0x600);
    f.mem.setU64(leaf, (0x700n << 12n) | 3n);
    expect(f.hw.translate(RID, NO_PASID, 0x40, DMA_READ)).toBe(0x600);
    q.submit(iotlbPsi(6, 0x40));
    expect(f.hw.translate(RID, NO_PASID, 0x40, DMA_READ)).toBe(0x600);
    q.submit(iotlbPsi(5, 0x41));
    expect(f.hw.translate(RID, NO_PASID, 0x40, DMA_READ)).toBe(0x600);
    q.submit(iotlbPsi(5, 0x40, 1));
    expect(f.hw.translate(RID, NO_PASID, 0x40, DMA_READ)).toBe(0x700);
    // Unmapped now, but cached: still translates until a domain-selective flush.
    f.mem.setU64(leaf, 0n);
    expect(f.hw.translate(RID, NO_PASID, 0x40, DMA_READ)).toBe(0x700);
    q.submit(IotlbInvDesc.encode({ type: 2, g: 2, did: 5 }));
    expect(f.hw.translate(RID, NO_PASID, 0x40, DMA_READ)).toBe(-1);
  });

  it('nested: a changed stage-1 entry shows only after a PASID-based IOTLB invalidation of (DID, PASID)', () => {
    const f = hwFixture();
    const q = queue(f);
    const ss = guestStage2(f);
    const g = guestStage1(f);
    f.w.setPasidEntry(RID, 7, { present: true, pgtt: PASID_ENTRY_PGTT_NESTED, aw: 2, did: 9, ssptptr: BigInt(ss) * 4096n, fsptptr: BigInt(g.pt.root) * 4096n });
    g.pt.map(0x10, 0x300, 1, { write: true, user: true });
    expect(f.hw.translate(RID, 7, 0x10, DMA_READ)).toBe(GUEST_BASE + 0x300);
    g.pt.map(0x10, 0x301, 1, { write: true, user: true });
    q.submit(piotlb(9, 8));
    expect(f.hw.translate(RID, 7, 0x10, DMA_READ)).toBe(GUEST_BASE + 0x300);
    q.submit(piotlb(9, 7, 0x10, true));
    expect(f.hw.translate(RID, 7, 0x10, DMA_READ)).toBe(GUEST_BASE + 0x301);
  });

  it('paging-structure caches survive a leaf-only (IH = 1) invalidation and go with IH = 0', () => {
    const f = hwFixture();
    const q = queue(f);
    const pt = new X86PageTable(f.mem, f.alloc, 4);
    f.w.setPasidEntry(RID, 2, { present: true, pgtt: PASID_ENTRY_PGTT_FL_ONLY, did: 1, fsptptr: BigInt(pt.root) * 4096n });
    pt.map(0x200, 0x600, 1, { write: true, user: true });
    expect(f.hw.translate(RID, 2, 0x200, DMA_READ)).toBe(0x600);
    // Replace the PDE with a new page table mapping 0x200 -> 0x601.
    const pt2 = f.alloc();
    f.mem.setU64(pt2 * 4096, (0x601n << 12n) | 0x27n);
    const pdePa = (() => {
      let t = pt.root;
      for (let l = 4; l > 2; l--) t = Number((f.mem.u64(t * 4096 + (Math.floor(0x200 / 2 ** (9 * (l - 1))) % 512) * 8) >> 12n) & 0xfffffn);
      return t * 4096 + 1 * 8;
    })();
    f.mem.setU64(pdePa, (BigInt(pt2) << 12n) | 0x27n);
    q.submit(piotlb(1, 2, 0x200, true));
    expect(f.hw.translate(RID, 2, 0x200, DMA_READ)).toBe(0x600);
    q.submit(piotlb(1, 2, 0x200, false));
    expect(f.hw.translate(RID, 2, 0x200, DMA_READ)).toBe(0x601);
  });

  it('PASID cache: a rewritten PASID entry is used only after a PASID-cache invalidation (plus the IOTLB)', () => {
    const f = hwFixture();
    const q = queue(f);
    const ssA = f.alloc();
    const ssB = f.alloc();
    f.w.ssMap(ssA, 4, 0x10, 0x600, 1);
    f.w.ssMap(ssB, 4, 0x10, 0x700, 1);
    f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 2, did: 5, ssptptr: BigInt(ssA) * 4096n });
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_READ)).toBe(0x600);
    f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 2, did: 6, ssptptr: BigInt(ssB) * 4096n });
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_READ)).toBe(0x600);
    q.submit(PasidCacheInvDesc.encode({ type: 7, g: 1, did: 6, pasid: 0 }));
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_READ)).toBe(0x600);
    q.submit(PasidCacheInvDesc.encode({ type: 7, g: 1, did: 5, pasid: 0 }));
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_READ)).toBe(0x700);
  });

  it('context cache: a cleared context entry keeps translating until a device-selective context-cache invalidation', () => {
    const f = hwFixture();
    const q = queue(f);
    const ss = f.alloc();
    f.w.ssMap(ss, 4, 0x10, 0x600, 1);
    f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 2, did: 5, ssptptr: BigInt(ss) * 4096n });
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_READ)).toBe(0x600);
    f.w.setContext(RID, {});
    q.submit(ContextCacheInvDesc.encode({ type: 1, g: 3, sid: RID + 1 }));
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_READ)).toBe(0x600);
    q.submit(ContextCacheInvDesc.encode({ type: 1, g: 3, sid: RID }), IotlbInvDesc.encode({ type: 2, g: 2, did: 5 }));
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_READ)).toBe(-1);
    expect(f.hw.lastFault().reason).toBe(0x41);
  });

  it('caching mode: a not-present context entry is cached until invalidated', () => {
    const f = hwFixture({ cachingMode: true });
    const q = queue(f);
    f.w.contextPa(RID);
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_READ)).toBe(-1);
    const ss = f.alloc();
    f.w.ssMap(ss, 4, 0x10, 0x600, 1);
    f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 2, did: 5, ssptptr: BigInt(ss) * 4096n });
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_READ)).toBe(-1);
    q.submit(ContextCacheInvDesc.encode({ type: 1, g: 3, sid: RID }));
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_READ)).toBe(0x600);
  });
});

describe('wait descriptors', () => {
  it('write the status dword, set ICS.IWC and raise the completion event', () => {
    const f = hwFixture();
    const q = queue(f);
    let events = 0;
    f.hw.onInvalidationEvent = () => events++;
    const status = f.alloc() * 4096 + 0x44;
    q.submit(InvWaitDesc.encode({ type: 5, sw: true, if: true, statusData: 2, statusAddr: BigInt(status) }));
    expect(f.mem.u32(status)).toBe(2);
    expect(f.hw.read32(R.DMAR_ICS_REG) & R.DMA_ICS_IWC).toBe(1);
    expect(events).toBe(1);
    f.hw.write32(R.DMAR_ICS_REG, R.DMA_ICS_IWC);
    expect(f.hw.read32(R.DMAR_ICS_REG)).toBe(0);
    expect(Number(f.hw.read64(R.DMAR_IQH_REG))).toBe(32);
  });
});

describe('invalidation queue errors (FSTS.IQE with IQER.IQEI; processing stops at the bad descriptor)', () => {
  const status = (f: ReturnType<typeof hwFixture>) => f.alloc() * 4096;
  it.each([
    ['an unknown type', [0xan, 0n, 0n, 0n], 3],
    ['a type in bits 11:9', [0x205n, 0n, 0n, 0n], 3],
    ['a reserved bit in qword 0', [0x9_0132n, 0n, 0n, 0n], 4],
    ['a non-zero qword 3', [0x31n, 0n, 0n, 1n], 4],
    ['a reserved granularity', [0x0_0002n, 0n, 0n, 0n], 4],
    ['an address mask beyond MAMV', [0x9_0032n, 19n, 0n, 0n], 4],
    ['a wait with no action', [0x5n, 0n, 0n, 0n], 4],
  ] as const)('%s', (_name, bad, iqei) => {
    const f = hwFixture();
    const q = queue(f);
    const st = status(f);
    q.submit([...bad], InvWaitDesc.encode({ type: 5, sw: true, statusData: 2, statusAddr: BigInt(st) }));
    expect(f.hw.read32(R.DMAR_FSTS_REG) & R.DMA_FSTS_IQE).toBe(R.DMA_FSTS_IQE);
    expect(Number(f.hw.read64(R.DMAR_IQER_REG) & 0xfn)).toBe(iqei);
    expect(Number(f.hw.read64(R.DMAR_IQH_REG))).toBe(0);
    expect(f.mem.u32(st)).toBe(0);
    // Software replaces the bad descriptor (as qi_check_fault copies the wait over it) and clears IQE: processing resumes.
    InvWaitDesc.encode({ type: 5, fn: true }).forEach((w, i) => f.mem.setU64(q.base * 4096 + i * 8, w));
    f.hw.write32(R.DMAR_FSTS_REG, R.DMA_FSTS_IQE);
    expect(f.mem.u32(st)).toBe(2);
    expect(Number(f.hw.read64(R.DMAR_IQH_REG))).toBe(64);
  });

  it('refuses PASID-based descriptors in a 128-bit queue, a misaligned or out-of-range tail, an unreadable queue', () => {
    const f = hwFixture();
    const q = queue(f, 0);
    q.submit(PasidCacheInvDesc.encode({ type: 7, g: 3 }));
    expect(Number(f.hw.read64(R.DMAR_IQER_REG) & 0xfn)).toBe(5);
    const f2 = hwFixture();
    queue(f2);
    f2.hw.write64(R.DMAR_IQT_REG, 0x30n);
    expect(Number(f2.hw.read64(R.DMAR_IQER_REG) & 0xfn)).toBe(6);
    const f3 = hwFixture();
    queue(f3);
    f3.hw.write64(R.DMAR_IQT_REG, 128n << 5n);
    expect(Number(f3.hw.read64(R.DMAR_IQER_REG) & 0xfn)).toBe(1);
    const f4 = hwFixture();
    f4.hw.write64(R.DMAR_IQA_REG, (0x3f_0000_0000n) | (1n << 11n));
    f4.hw.write32(R.DMAR_GCMD_REG, (1 << 31) | (1 << 26));
    f4.hw.write64(R.DMAR_IQT_REG, 32n);
    expect(Number(f4.hw.read64(R.DMAR_IQER_REG) & 0xfn)).toBe(2);
  });
});

describe('register-based invalidation (CCMD, IOTLB_REG) while queued invalidation is off', () => {
  it('flushes the context cache and the IOTLB', () => {
    const f = hwFixture();
    const ss = f.alloc();
    const leaf = f.w.ssMap(ss, 4, 0x10, 0x600, 1);
    f.w.setPasidEntry(RID, 0, { present: true, pgtt: PASID_ENTRY_PGTT_SL_ONLY, aw: 2, did: 5, ssptptr: BigInt(ss) * 4096n });
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_WRITE)).toBe(0x600);
    f.mem.setU64(leaf, (0x700n << 12n) | 3n);
    f.hw.write64(R.VTD_IOTLB_REG_OFFSET + 8, R.DMA_TLB_IVT | R.DMA_TLB_DSI_FLUSH | (5n << 32n));
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_WRITE)).toBe(0x700);
    expect(f.hw.read64(R.VTD_IOTLB_REG_OFFSET + 8) & R.DMA_TLB_IVT).toBe(0n);
    f.w.setContext(RID, {});
    f.hw.write64(R.DMAR_CCMD_REG, R.DMA_CCMD_ICC | R.DMA_CCMD_DEVICE_INVL | (BigInt(RID) << 16n));
    f.hw.write64(R.VTD_IOTLB_REG_OFFSET + 8, R.DMA_TLB_IVT | R.DMA_TLB_GLOBAL_FLUSH);
    expect(f.hw.translate(RID, NO_PASID, 0x10, DMA_WRITE)).toBe(-1);
  });
});
