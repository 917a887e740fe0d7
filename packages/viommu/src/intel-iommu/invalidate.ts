// What the emulated unit does for each invalidation: context cache (switch + resync), IOTLB (shadow sync),
// PASID-based IOTLB (shadow sync, or forwarding to the host under x-flts) and PASID cache (bind/unbind).
import { flushHostPiotlb, propagateGuestPasid } from './accel.js';
import type { VtdAddressSpace } from './address-space.js';
import type { VtdState } from './state.js';
import { pe, PASID_0, samePasidEntry } from './structures.js';

const scratch = new Uint32Array(16);

/** vtd_address_space_refresh_all: every notifier unmapped, every address space switched again. */
export function refreshAll(s: VtdState): void {
  for (const as of s.spaces) as.unmapNotifier();
  for (const as of s.spaces) as.switchAddressSpace();
}

/** vtd_iommu_replay_all: a full resync of every address space with a notifier. */
function replayAll(s: VtdState): void {
  for (const as of s.spaces) as.sync();
}

/** vtd_context_global_invalidate (also used for domain-selective): refresh, resync, replay the PASID bindings. */
export function contextGlobalInvalidate(s: VtdState): void {
  s.contextCacheGen++;
  refreshAll(s);
  replayAll(s);
  pasidCacheSync(s, PC_GLOBAL, 0, 0);
}

/** vtd_context_device_invalidate: FM masks SID bits (none, 2, 2:1, 2:0) of the devfn. */
export function contextDeviceInvalidate(s: VtdState, sid: number, fm: number): void {
  const mask = ~[0, 4, 6, 7][fm & 3]! & 0xff;
  const bus = sid >>> 8;
  for (const as of s.spaces) {
    if (as.bus !== bus || (as.devfn & mask) !== (sid & 0xff & mask)) continue;
    as.switchAddressSpace();
    as.sync();
    // vtd_pasid_cache_devsi: a guest that skips the PASID-cache flush still gets its binding.
    syncOne(s, as, PC_GLOBAL, 0, 0);
  }
  s.sva?.pasidCacheSync(PC_GLOBAL, 0, 0);
}

export function iotlbGlobalInvalidate(s: VtdState): void {
  replayAll(s);
}

export function iotlbDomainInvalidate(s: VtdState, did: number): void {
  for (const as of s.spaces) if (as.useIommu && as.domainId() === did) as.sync();
}

/** vtd_iotlb_page_invalidate_notify: shadow resync of [pfn, pfn + 2^am) for the address spaces of (DID, PASID). */
export function iotlbPageInvalidateNotify(s: VtdState, did: number, pfn: number, am: number, pasid: number): void {
  for (const as of s.spaces) {
    if (!as.useIommu || as.domainId() !== did) continue;
    if (!(as.pasid === pasid || (as.pasid === -1 && pasid === PASID_0))) continue;
    if (!s.cfg.fsts || !s.rootScalable) as.syncRange(pfn, 2 ** am);
  }
}

/** vtd_piotlb_pasid_invalidate: all of a PASID; under x-flts it also goes to the host as npages = U64_MAX. */
export function piotlbPasidInvalidate(s: VtdState, did: number, pasid: number): void {
  for (const as of s.spaces) {
    if (as.domainId() !== did) continue;
    if ((as.pasid !== -1 || pasid !== PASID_0) && as.pasid !== pasid) continue;
    if (!s.cfg.fsts || !as.useIommu) as.sync();
  }
  if (s.cfg.fsts) flushHostPiotlb(s, did, pasid, 0, -1, false);
  s.sva?.flushPiotlb(did, pasid, 0, -1, false);
}

/** vtd_piotlb_page_invalidate: 2^am pages; forwarded with LEAF when IH says only leaves changed. */
export function piotlbPageInvalidate(s: VtdState, did: number, pasid: number, pfn: number, am: number, ih: boolean): void {
  iotlbPageInvalidateNotify(s, did, pfn, am, pasid);
  if (s.cfg.fsts) flushHostPiotlb(s, did, pasid, pfn, 2 ** am, ih);
  s.sva?.flushPiotlb(did, pasid, pfn, 2 ** am, ih);
}

export const PC_DSI = 0;
export const PC_PASID_SI = 1;
export const PC_GLOBAL = 3;

/** vtd_pasid_cache_sync_locked for one address space. */
function syncOne(s: VtdState, as: VtdAddressSpace, type: number, did: number, pasid: number): void {
  let prefix = 'Attaching to HWPT failed: ';
  if (as.pasidEntry(scratch) !== 0) {
    if (!as.pcValid) return;
    // The entry is gone: drop the cache, unmap the shadow at once, unbind.
    as.pcValid = false;
    as.unmapNotifier();
    as.switchAddressSpace();
    prefix = 'Detaching from HWPT failed: ';
  } else {
    if (type === PC_PASID_SI && (pasid === 0 ? -1 : pasid) !== as.pasid) return;
    if (type === PC_PASID_SI || type === PC_DSI) {
      const cached = as.pcValid ? pe.did(as.pcEntry) : pe.did(scratch);
      if (cached !== did) return;
    }
    if (as.pcValid) {
      if (samePasidEntry(as.pcEntry, scratch)) return;
      prefix = 'Replacing HWPT attachment failed: ';
    }
    as.pcEntry.set(scratch);
    as.pcValid = true;
    as.switchAddressSpace();
    as.sync();
  }
  const err = propagateGuestPasid(s, as, prefix);
  if (err) s.errors.push(err);
}

/** vtd_pasid_cache_sync: only in scalable mode with DMAR on. */
export function pasidCacheSync(s: VtdState, type: number, did: number, pasid: number): void {
  if (!s.rootScalable || !s.dmarEnabled) return;
  for (const as of s.spaces) syncOne(s, as, type, did, pasid);
  s.sva?.pasidCacheSync(type, did, pasid);
}

/** vtd_pasid_cache_reset_locked: every cached entry dropped and unbound (SRTP, TE, reset). */
export function pasidCacheReset(s: VtdState): void {
  for (const as of s.spaces) {
    if (!as.pcValid) continue;
    as.pcValid = false;
    const err = propagateGuestPasid(s, as, 'Detaching from HWPT failed: ');
    if (err) s.errors.push(err);
  }
  s.sva?.reset();
}
