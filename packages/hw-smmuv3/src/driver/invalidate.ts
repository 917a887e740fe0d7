// Domain invalidation (arm_smmu_domain_inv_range): TLBI by range or by tag, then ATC_INV, each batch with a CMD_SYNC.
import type { ArmSmmuDevice } from './device.js';
import { cmdAtcInvAll, cmdAtcInvRange, cmdTlbi, cmdTlbiRange, type SmmuCmd } from './cmds.js';

/** One attachment a domain invalidates for (struct arm_smmu_master_domain). */
export interface MasterDomain {
  readonly sid: number;
  readonly ssid: number;
  readonly atsEnabled: boolean;
}

export interface InvalidationScope {
  readonly stage: 'S1' | 'S2';
  readonly asid: number;
  readonly vmid: number;
  readonly nestParent: boolean;
  /** Smallest page size of the domain (the TG of range commands). */
  readonly leafPgsize: number;
}

/** arm_smmu_inv_size_too_big: 0 means everything; without RIL, more than granule/8 commands is too many. */
function tooBig(smmu: ArmSmmuDevice, size: number, granule: number): boolean {
  if (size === 0) return true;
  if (smmu.features.rangeInv) return false;
  return size >= (granule / 8) * granule;
}

function ctz(n: number): number {
  let z = 0;
  while (n % 2 === 0 && n > 0) {
    n /= 2;
    z++;
  }
  return z;
}

/** arm_smmu_cmdq_batch_add_range: one command per granule, or RIL steps of (NUM+1) << SCALE pages. */
function rangeCmds(smmu: ArmSmmuDevice, name: 'TLBI_NH_VA' | 'TLBI_S2_IPA', asid: number, vmid: number, leaf: boolean, iova: number, size: number, granule: number, pgsize: number): SmmuCmd[] {
  const out: SmmuCmd[] = [];
  const end = iova + size;
  const tgBits = Math.log2(pgsize);
  let numPages = 0;
  let tg = 0;
  let ttl = 0;
  const ril = smmu.features.rangeInv;
  if (ril) {
    numPages = Math.floor(size / pgsize);
    tg = (tgBits - 10) / 2;
    if (leaf) ttl = 4 - (Math.log2(granule) - 3) / (tgBits - 3);
    else if (numPages % 32 === 1) numPages++;
  }
  while (iova < end) {
    let step = granule;
    let num = 0;
    let scale = 0;
    if (ril) {
      if (numPages === 0) break;
      scale = ctz(numPages);
      const n = Math.floor(numPages / 2 ** scale) % 32;
      num = n - 1;
      step = n * 2 ** (scale + tgBits);
      numPages -= n * 2 ** scale;
    }
    out.push(cmdTlbiRange(name, asid, vmid, { num, scale: scale & 0x1f, ttl, tg, leaf, addr: BigInt(iova) }));
    iova += step;
  }
  return out;
}

/**
 * arm_smmu_domain_inv_range for the masters attached to a domain: the IOTLB commands (stage 1 by ASID,
 * stage 2 by VMID, plus NH_ALL when the domain is a nest parent) in one synced batch, then the ATC.
 */
export function domainInvRange(smmu: ArmSmmuDevice, scope: InvalidationScope, masters: readonly MasterDomain[], iova: number, size: number, granule: number, leaf: boolean): void {
  if (masters.length === 0) return;
  const big = tooBig(smmu, size, granule);
  const tlbi: SmmuCmd[] = [];
  if (scope.stage === 'S1') {
    if (big) tlbi.push(cmdTlbi('TLBI_NH_ASID', scope.asid, 0));
    else tlbi.push(...rangeCmds(smmu, 'TLBI_NH_VA', scope.asid, 0, leaf, iova, size, granule, scope.leafPgsize));
  } else {
    if (big) tlbi.push(cmdTlbi('TLBI_S12_VMALL', 0, scope.vmid));
    else tlbi.push(...rangeCmds(smmu, 'TLBI_S2_IPA', 0, scope.vmid, leaf, iova, size, granule, scope.leafPgsize));
    // All the nested stage-1 ASIDs go too when the stage 2 under them changes
    if (scope.nestParent && !big) tlbi.push(cmdTlbi('TLBI_NH_ALL', 0, scope.vmid));
  }
  smmu.issue(tlbi);
  const atc: SmmuCmd[] = [];
  for (const m of masters) {
    if (!m.atsEnabled) continue;
    atc.push(scope.nestParent ? cmdAtcInvAll(m.sid, 0) : size === 0 ? cmdAtcInvAll(m.sid, m.ssid) : cmdAtcInvRange(m.sid, m.ssid, iova, size));
  }
  smmu.issue(atc);
}

/** arm_smmu_inv_flush_iotlb_tag: an ASID or VMID no master uses any more is flushed at once. */
export function flushTag(smmu: ArmSmmuDevice, scope: InvalidationScope): void {
  smmu.issue([scope.stage === 'S1' ? cmdTlbi('TLBI_NH_ASID', scope.asid, 0) : cmdTlbi('TLBI_S12_VMALL', 0, scope.vmid)]);
}
