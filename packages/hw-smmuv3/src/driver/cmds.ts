// The commands the driver builds (arm_smmu_make_cmd_* of arm-smmu-v3.h), as two u64 dwords.
import { ATC_INV_SIZE_ALL, CMD_SYNC_CS_SEV, encodeCmd } from '../format/cmd.js';

export type SmmuCmd = readonly [bigint, bigint];

export const cmdCfgiSte = (sid: number, leaf: boolean): SmmuCmd => encodeCmd('CFGI_STE', { sid, leaf: leaf ? 1 : 0 });

/** CMD_CFGI_ALL: CFGI_STE_RANGE covering every StreamID. */
export const cmdCfgiAll = (): SmmuCmd => encodeCmd('CFGI_STE_RANGE', { range: 31 });

export const cmdCfgiCd = (sid: number, ssid: number, leaf: boolean): SmmuCmd => encodeCmd('CFGI_CD', { sid, ssid, leaf: leaf ? 1 : 0 });

export const cmdPrefetchCfg = (sid: number): SmmuCmd => encodeCmd('PREFETCH_CONFIG', { sid });

/** TLBI_NH_ASID, NH_ALL, S12_VMALL, NSNH_ALL: opcode, ASID and VMID only. */
export const cmdTlbi = (name: 'TLBI_NH_ALL' | 'TLBI_NH_ASID' | 'TLBI_S12_VMALL' | 'TLBI_NSNH_ALL', asid: number, vmid: number): SmmuCmd =>
  name === 'TLBI_NSNH_ALL' ? encodeCmd(name) : name === 'TLBI_NH_ASID' ? encodeCmd(name, { asid, vmid }) : encodeCmd(name, { vmid });

export interface TlbiRange {
  num: number;
  scale: number;
  ttl: number;
  tg: number;
  leaf: boolean;
  addr: bigint;
}

/** TLBI_NH_VA (with ASID) or TLBI_S2_IPA (with VMID) for one range step. */
export function cmdTlbiRange(name: 'TLBI_NH_VA' | 'TLBI_S2_IPA', asid: number, vmid: number, r: TlbiRange): SmmuCmd {
  const f: Record<string, number | bigint> = { vmid, num: r.num, scale: r.scale, ttl: r.ttl, tg: r.tg, leaf: r.leaf ? 1 : 0, addr: r.addr };
  if (name === 'TLBI_NH_VA') f.asid = asid;
  return encodeCmd(name, f);
}

/** ATC_INV; SSV when the substream is not IOMMU_NO_PASID (0). */
export const cmdAtcInv = (sid: number, ssid: number, addr: bigint, size: number): SmmuCmd =>
  encodeCmd('ATC_INV', { sid, ssid, ssv: ssid !== 0 ? 1 : 0, size, addr });

export const cmdAtcInvAll = (sid: number, ssid: number): SmmuCmd => cmdAtcInv(sid, ssid, 0n, ATC_INV_SIZE_ALL);

/** CMD_SYNC as Linux builds it: Inner Shareable, write-back MSI attributes. */
export const cmdSync = (cs: number, msiAddr: bigint): SmmuCmd => encodeCmd('CMD_SYNC', { cs, msh: 3, msiAttr: 0xf, msiAddr });

export const cmdSyncSev = (): SmmuCmd => cmdSync(CMD_SYNC_CS_SEV, 0n);

export const cmdResume = (sid: number, stag: number, action: number): SmmuCmd => encodeCmd('RESUME', { sid, stag, action });

/**
 * arm_smmu_atc_inv_to_cmd: the smallest naturally aligned power-of-two span of 4 KiB pages that
 * covers [iova, iova + size).
 */
export function cmdAtcInvRange(sid: number, ssid: number, iova: number, size: number): SmmuCmd {
  let start = Math.floor(iova / 4096);
  const end = Math.floor((iova + size - 1) / 4096);
  let log2 = 0;
  while (Math.floor(start / 2 ** log2) !== Math.floor(end / 2 ** log2)) log2++;
  start = Math.floor(start / 2 ** log2) * 2 ** log2;
  return cmdAtcInv(sid, ssid, BigInt(start) << 12n, log2);
}

/** arm_smmu_make_cmd_pri_resp: SSV and SSID only when the response carries the PASID. */
export const cmdPriResp = (sid: number, ssid: number, ssv: boolean, grpid: number, resp: number): SmmuCmd =>
  encodeCmd('PRI_RESP', { sid, ssid: ssv ? ssid : 0, ssv: ssv ? 1 : 0, prgIndex: grpid, resp });
