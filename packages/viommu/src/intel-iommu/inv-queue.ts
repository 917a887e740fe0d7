// The emulated invalidation queue (vtd_fetch_inv_desc / vtd_process_inv_desc): descriptors are read from
// guest RAM between IQH and IQT when the guest writes IQT, checked as QEMU checks them, then dispatched.
import { QI_CC_TYPE, QI_DEIOTLB_TYPE, QI_DIOTLB_TYPE, QI_EIOTLB_TYPE, QI_IEC_TYPE, QI_IOTLB_TYPE, QI_IWD_TYPE, QI_PC_TYPE, QI_PGRP_RESP_TYPE } from '@iommu-lab/hw-vtd/format';
import type { Tracepoint } from '@iommu-lab/platform';
import type { GuestRam } from '../vm/guest-ram.js';
import { bump, type VmStats } from '../vm/stats.js';

/** What the unit does with each valid descriptor. Addresses are page numbers. */
export interface InvHandlers {
  /** G: 1 global, 2 domain (acts globally in QEMU), 3 device (SID with function mask FM). */
  contextCache(g: number, did: number, sid: number, fm: number): void;
  /** G: 1 global, 2 domain-selective, 3 page-selective (2^AM pages at pfn). */
  iotlb(g: number, did: number, pfn: number, am: number, ih: boolean): void;
  /** G: 2 all of a PASID, 3 page-selective within the PASID. */
  piotlb(g: number, did: number, pasid: number, pfn: number, am: number, ih: boolean): void;
  /** G: 0 domain-selective, 1 PASID-selective within the domain, 3 global. */
  pasidCache(g: number, did: number, pasid: number): void;
  /** Wait descriptor with IF: the invalidation completion event. */
  completionEvent(): void;
  /** Page group response (7.7.1): RID, PASID (-1 when PP is clear), response code, group index. */
  pageGroupResponse(rid: number, pasid: number, code: number, prgi: number): void;
}

/** Guest-visible names of descriptor types, for stats.guestInvalidations. */
export const INV_DESC_STAT: Readonly<Record<number, string>> = {
  [QI_CC_TYPE]: 'cc',
  [QI_IOTLB_TYPE]: 'iotlb',
  [QI_DIOTLB_TYPE]: 'dev-tlb',
  [QI_IEC_TYPE]: 'iec',
  [QI_IWD_TYPE]: 'wait',
  [QI_EIOTLB_TYPE]: 'piotlb',
  [QI_PC_TYPE]: 'pc',
  [QI_DEIOTLB_TYPE]: 'pasid-dev-tlb',
  [QI_PGRP_RESP_TYPE]: 'pgrp-resp',
};

const ALL = 0xffff_ffff;
/** QEMU's reserved masks per type as u32 words [qw0.lo, qw0.hi, qw1.lo, qw1.hi]; qw2-qw3 must be 0. */
const RSVD: Readonly<Record<number, readonly number[]>> = {
  [QI_CC_TYPE]: [0xffc0, 0xfffc_0000, ALL, ALL],
  [QI_IOTLB_TYPE]: [0xff00, ALL, 0xf80, 0],
  [QI_DIOTLB_TYPE]: [0xffe0_fff8, 0xffff_0000, 0xffe, 0],
  [QI_IEC_TYPE]: [0x07ff_f1e0, 0xffff_0000, ALL, ALL],
  [QI_IWD_TYPE]: [0xffff_ff80, 0, 3, 0],
  [QI_EIOTLB_TYPE]: [0xf1c0, 0xfff0_0000, 0xf80, 0],
  [QI_PC_TYPE]: [0xf1c0, 0xfff0_0000, ALL, ALL],
  [QI_DEIOTLB_TYPE]: [0xf000, 0xfff0_0000, 0x7fe, 0],
  [QI_PGRP_RESP_TYPE]: [0x01e0, 0xfff0_0000, 0xffff_f003, ALL],
};
const hex = (hi: number, lo: number) => `0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}`;
const WIDE_ONLY = new Set([QI_EIOTLB_TYPE, QI_PC_TYPE, QI_DEIOTLB_TYPE]);

export class VtdInvQueue {
  /** GSTS.QIES. */
  enabled = false;
  /** IQA base GPA, entries, 256-bit descriptors. */
  base = 0;
  size = 0;
  dw = false;
  head = 0;
  tail = 0;
  lastDescType = 0;
  /** ECAP.PDS: a wait descriptor may carry PD (page-request drain, bit 7). */
  pageDrain = false;
  private readonly d = new Uint32Array(8);
  private readonly e = new Uint32Array(2);

  constructor(
    private readonly ram: GuestRam,
    private readonly handlers: InvHandlers,
    private readonly stats: () => VmStats,
    private readonly tp: Tracepoint | null = null,
  ) {}

  /**
   * Processes descriptors until IQH reaches IQT. Returns false on a queue error (invalid tail,
   * unreadable or invalid descriptor): the caller sets FSTS.IQE; IQH stays at the bad descriptor.
   */
  fetch(): boolean {
    if (this.tail >= this.size) return false;
    while (this.head !== this.tail) {
      if (!this.processOne()) return false;
      this.head = (this.head + 1) % this.size;
    }
    return true;
  }

  /** IQH_REG as the guest reads it (index << 4, or << 5 with 256-bit descriptors). */
  get iqhReg(): number {
    return (this.head << (this.dw ? 5 : 4)) & 0x7fff0;
  }

  private processOne(): boolean {
    const d = this.d;
    const words = this.dw ? 4 : 2;
    const gpa = this.base + this.head * (this.dw ? 32 : 16);
    for (let i = 0; i < words; i++) {
      if (!this.ram.read64(gpa + 8 * i, this.e)) {
        this.lastDescType = 0;
        return false;
      }
      d[2 * i] = this.e[0]!;
      d[2 * i + 1] = this.e[1]!;
    }
    if (!this.dw) d.fill(0, 4);
    const type = (d[0]! & 0xf) | ((d[0]! >>> 5) & 0x70);
    this.lastDescType = type;
    const rsvd = RSVD[type];
    if (!rsvd) return false;
    if (!this.dw && WIDE_ONLY.has(type)) return false;
    const pd = type === QI_IWD_TYPE && this.pageDrain ? 0x80 : 0;
    if ((d[0]! & rsvd[0]! & ~pd) !== 0) return false;
    for (let i = 1; i < 4; i++) if ((d[i]! & rsvd[i]!) !== 0) return false;
    if (this.dw && (d[4]! | d[5]! | d[6]! | d[7]!) !== 0) return false;
    bump(this.stats().guestInvalidations, INV_DESC_STAT[type]!);
    if (this.tp?.enabled) this.tp.emit({ desc: INV_DESC_STAT[type]!, qw0: hex(d[1]!, d[0]!), qw1: hex(d[3]!, d[2]!) });
    const g = (d[0]! >>> 4) & 3;
    const did = d[0]! >>> 16;
    const pasid = d[1]! & 0xfffff;
    const pfn = d[3]! * 2 ** 20 + (d[2]! >>> 12);
    const am = d[2]! & 0x3f;
    const ih = (d[2]! & 0x40) !== 0;
    const h = this.handlers;
    switch (type) {
      case QI_CC_TYPE:
        if (g === 0) return false;
        h.contextCache(g, did, d[1]! & 0xffff, (d[1]! >>> 16) & 3);
        return true;
      case QI_IOTLB_TYPE:
        if (g === 0) return false;
        if (g === 3 && am > 18) return false;
        h.iotlb(g, did, pfn, am, ih);
        return true;
      case QI_EIOTLB_TYPE:
        if (g !== 2 && g !== 3) return false;
        h.piotlb(g, did, pasid, pfn, am, ih);
        return true;
      case QI_PC_TYPE:
        if (g === 2) return false;
        h.pasidCache(g, did, pasid);
        return true;
      case QI_IWD_TYPE:
        return this.wait();
      case QI_PGRP_RESP_TYPE:
        h.pageGroupResponse(d[0]! >>> 16, d[0]! & 0x10 ? pasid : -1, (d[0]! >>> 12) & 0xf, (d[2]! >>> 3) & 0x1ff);
        return true;
      default:
        // Device-TLBs and the interrupt entry cache: nothing of them is emulated.
        return true;
    }
  }

  /** vtd_process_wait_desc: status write (SW), completion interrupt (IF); a wait with none of IF/SW/FN is invalid. */
  private wait(): boolean {
    const d = this.d;
    let ok = true;
    if (d[0]! & 0x20) {
      const addr = d[3]! * 2 ** 32 + d[2]!;
      if (addr % 4 !== 0 || !this.ram.contains(addr, 4)) ok = false;
      else this.ram.setU32(addr, d[1]!);
    }
    if (d[0]! & 0x10) this.handlers.completionEvent();
    if ((d[0]! & 0x70) === 0) return false;
    return ok;
  }
}
