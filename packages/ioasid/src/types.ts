// The IOASID types of include/linux/ioasid.h.
import type { IoasidSet } from './set.js';

/** ioasid_t is a u32 and (ioasid_t)-1 means "no ID": a custom allocator returns it on failure. */
export const INVALID_IOASID = 0xffff_ffff;

/** The largest ID ever handed out (everything below INVALID_IOASID). */
export const IOASID_MAX = INVALID_IOASID - 1;

/** PCI_PASID_MAX: the 20-bit PASID space, the default system capacity of the ioasid_set rework. */
export const PCI_PASID_MAX = 0x10_0000;

/**
 * struct ioasid_allocator_ops: a custom allocator (e.g. the VT-d virtual command interface of a
 * guest). Registrations whose `alloc` and `free` are the same functions share one allocator and
 * one ID space; `pdata` tells them apart (one per vIOMMU).
 */
export interface IoasidAllocatorOps {
  /** An ID in [min, max], or INVALID_IOASID when there is none. */
  alloc(min: number, max: number, pdata: unknown): number;
  free(id: number, pdata: unknown): void;
  readonly pdata?: unknown;
}

/** What a notifier learns when an ID is freed (IOASID_NOTIFY_FREE with struct ioasid_nb_args). */
export interface IoasidFreeEvent {
  readonly id: number;
  readonly set: IoasidSet;
  readonly private: unknown;
}

/** Called synchronously, once per freed ID, while the ID is still allocated (not yet reusable). */
export type IoasidNotifier = (event: IoasidFreeEvent) => void;
