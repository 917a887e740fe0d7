// Both ways to ask the unit to invalidate: the queue's descriptors (vtd_process_*_desc) and the register-based
// CCMD_REG / IOTLB_REG (vtd_handle_ccmd_write / vtd_handle_iotlb_write, refused while QI is enabled).
import { DMAR_CCMD_REG } from '@iommu-lab/hw-vtd/format';
import type { InvHandlers } from './inv-queue.js';
import {
  contextDeviceInvalidate,
  contextGlobalInvalidate,
  iotlbDomainInvalidate,
  iotlbGlobalInvalidate,
  iotlbPageInvalidateNotify,
  pasidCacheSync,
  piotlbPageInvalidate,
  piotlbPasidInvalidate,
} from './invalidate.js';
import { DMAR_IVA_REG, type VtdCsr } from './regs.js';
import type { VtdState } from './state.js';

export function invHandlers(s: VtdState, completionEvent: () => void): InvHandlers {
  // The response to a page request nobody is waiting for (the PASID went away meanwhile) is dropped.
  return {
    contextCache(g, _did, sid, fm) {
      if (g === 3) contextDeviceInvalidate(s, sid, fm);
      else contextGlobalInvalidate(s);
    },
    iotlb(g, did, pfn, am) {
      if (g === 1) iotlbGlobalInvalidate(s);
      else if (g === 2) iotlbDomainInvalidate(s, did);
      else iotlbPageInvalidateNotify(s, did, pfn, am, -1);
    },
    piotlb(g, did, pasid, pfn, am, ih) {
      if (g === 2) piotlbPasidInvalidate(s, did, pasid);
      else piotlbPageInvalidate(s, did, pasid, pfn, am, ih);
    },
    pasidCache(g, did, pasid) {
      pasidCacheSync(s, g, did, pasid);
    },
    completionEvent,
    pageGroupResponse(rid, pasid, code, prgi) {
      s.pageFaults?.respond(rid, pasid, code, prgi);
    },
  };
}

/** Register-based invalidation: CCMD.ICC or IOTLB.IVT starts it; the unit clears the bit and reports the granularity. */
export function registerInvalidation(s: VtdState, csr: VtdCsr, reg: number, qiEnabled: boolean): void {
  const hi = csr.raw(reg + 4);
  if ((hi & 0x8000_0000) === 0) return;
  if (qiEnabled) {
    s.errors.push('Queued Invalidation enabled, should not use register-based invalidation');
    return;
  }
  let actual = 0;
  if (reg === DMAR_CCMD_REG) {
    // CIRG 62:61: 1 global, 2 domain (handled as global), 3 device; CAIG 60:59 reports what was done.
    const cirg = (hi >>> 29) & 3;
    const lo = csr.raw(reg);
    if (cirg === 1 || cirg === 2) {
      contextGlobalInvalidate(s);
      actual = 1;
    } else if (cirg === 3) {
      contextDeviceInvalidate(s, lo >>> 16, hi & 3);
      actual = 3;
    }
    csr.setRaw(reg + 4, ((hi & ~0x8000_0000 & ~(3 << 27)) | (actual << 27)) >>> 0);
    return;
  }
  // IOTLB_REG: IIRG 61:60, DID 47:32; IAIG 58:57. IVA_REG: ADDR 63:12, AM 5:0.
  const iirg = (hi >>> 28) & 3;
  const did = hi & 0xffff;
  if (iirg === 1) {
    iotlbGlobalInvalidate(s);
    actual = 1;
  } else if (iirg === 2) {
    iotlbDomainInvalidate(s, did);
    actual = 2;
  } else if (iirg === 3) {
    const ivaLo = csr.raw(DMAR_IVA_REG);
    const am = ivaLo & 0x3f;
    if (am <= 18) {
      iotlbPageInvalidateNotify(s, did, csr.raw(DMAR_IVA_REG + 4) * 2 ** 20 + (ivaLo >>> 12), am, -1);
      actual = 3;
    }
  }
  csr.setRaw(reg + 4, ((hi & ~0x8000_0000 & ~(3 << 25)) | (actual << 25)) >>> 0);
}
