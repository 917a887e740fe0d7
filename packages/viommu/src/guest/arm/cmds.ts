// The commands the guest driver builds (Linux's arm_smmu_make_cmd_*, IHI0070 4), as four u32 words each
// (dword 0 bits 31:0, 63:32, dword 1 bits 31:0, 63:32) appended to a batch without allocation.
import { CMDQ_OP as OP } from '@iommu-lab/hw-smmuv3/format';

/** CMDQ_BATCH_ENTRIES: commands one submission carries before a CMD_SYNC (BITS_PER_LONG). */
export const CMDQ_BATCH_ENTRIES = 64;
/** ARM_SMMU_SH_ISH and ARM_SMMU_MEMATTR_OIWB, the MSI's shareability and attributes. */
const SH_ISH = 3;
const MEMATTR_OIWB = 0xf;
/** CFGI_STE_RANGE with Range 31: every StreamID (CMDQ_OP_CFGI_ALL). */
const CFGI_ALL_RANGE = 31;

/** struct arm_smmu_cmdq_batch: up to CMDQ_BATCH_ENTRIES commands. */
export class CmdBatch {
  readonly words = new Uint32Array(4 * CMDQ_BATCH_ENTRIES);
  num = 0;
  /** Names of the commands added, for the guest's own accounting. */
  readonly ops = new Uint8Array(CMDQ_BATCH_ENTRIES);

  get full(): boolean {
    return this.num === CMDQ_BATCH_ENTRIES;
  }

  private add(op: number, w0: number, w1: number, w2: number, w3: number): void {
    if (this.full) throw new RangeError('cmdq batch full: submit it first');
    const o = 4 * this.num;
    this.ops[this.num++] = op;
    this.words[o] = (op | w0) >>> 0;
    this.words[o + 1] = w1 >>> 0;
    this.words[o + 2] = w2 >>> 0;
    this.words[o + 3] = w3 >>> 0;
  }

  /** arm_smmu_make_cmd_cfgi_ste: SID [63:32], Leaf (dword 1 bit 0). */
  cfgiSte(sid: number, leaf: boolean): void {
    this.add(OP.CFGI_STE, 0, sid, leaf ? 1 : 0, 0);
  }

  /** arm_smmu_make_cmd_cfgi_all: CFGI_STE_RANGE of 2^32 StreamIDs from 0. */
  cfgiAll(): void {
    this.add(OP.CFGI_STE_RANGE, 0, 0, CFGI_ALL_RANGE, 0);
  }

  /** arm_smmu_make_cmd_cfgi_cd: SSID [31:12], SID [63:32], Leaf. */
  cfgiCd(sid: number, ssid: number, leaf: boolean): void {
    this.add(OP.CFGI_CD, (ssid & 0xfffff) << 12, sid, leaf ? 1 : 0, 0);
  }

  /** arm_smmu_make_cmd_prefetch_cfg: SID [63:32]. */
  prefetchCfg(sid: number): void {
    this.add(OP.PREFETCH_CONFIG, 0, sid, 0, 0);
  }

  /** arm_smmu_make_cmd_tlbi for the non-sized variants: VMID [47:32], ASID [63:48]. */
  tlbi(op: number, asid: number, vmid: number): void {
    this.add(op, 0, (vmid & 0xffff) | ((asid & 0xffff) << 16), 0, 0);
  }

  /**
   * A sized TLBI (TLBI_NH_VA): NUM [16:12] and SCALE [24:20] of a range (RIL; num is the field value, the
   * count minus one), Leaf, TTL [9:8], TG [11:10], the address page in [63:12].
   */
  tlbiVa(op: number, asid: number, vmid: number, num: number, scale: number, leaf: boolean, ttl: number, tg: number, pfn: number): void {
    const w0 = ((num & 0x1f) << 12) | ((scale & 0x1f) << 20);
    const w2 = (leaf ? 1 : 0) | (ttl << 8) | (tg << 10) | ((pfn % 2 ** 20) * 4096);
    this.add(op, w0, (vmid & 0xffff) | ((asid & 0xffff) << 16), w2, Math.floor(pfn / 2 ** 20));
  }

  /** arm_smmu_make_cmd_atc_inv: SSV, SSID, SID; Size [5:0] (log2 of 4 KiB pages), Addr [63:12]. */
  atcInv(sid: number, ssid: number, pfn: number, size: number): void {
    const ssv = ssid > 0 ? 1 << 11 : 0;
    this.add(OP.ATC_INV, ssv | ((ssid & 0xfffff) << 12), sid, size | ((pfn % 2 ** 20) * 4096), Math.floor(pfn / 2 ** 20));
  }

  /** arm_smmu_make_cmd_pri_resp: SSV [11], SSID [31:12], SID [63:32]; PRG index [8:0], Resp [13:12]. */
  priResp(sid: number, ssid: number, ssv: boolean, grpid: number, resp: number): void {
    this.add(OP.PRI_RESP, (ssv ? 1 << 11 : 0) | ((ssv ? ssid & 0xfffff : 0) << 12), sid, (grpid & 0x1ff) | ((resp & 3) << 12), 0);
  }

  /** arm_smmu_make_cmd_sync: CS, MSH = ISH, MSIAttr = OIWB; MSIAddr [51:2]. */
  sync(cs: number, msiAddr: number): void {
    this.add(OP.CMD_SYNC, (cs << 12) | (SH_ISH << 22) | (MEMATTR_OIWB << 24), 0, (msiAddr % 2 ** 32) & ~3, Math.floor(msiAddr / 2 ** 32) & 0xfffff);
  }
}
