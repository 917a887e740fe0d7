// The SMMUv3 vIOMMU (struct arm_vsmmu): the parent's VMID, vSID -> SID, and the guest's invalidation commands.
import {
  type IommuDevice,
  type IommuUnit,
  type IommuUserDataArray,
  type IommuViommu,
  iommuCopyStructFromFullUserArray,
  iommu_viommu_arm_smmuv3_invalidate,
  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  type ViommuCore,
} from '@iommu-lab/iommu-core';
import { ErrnoError, genmask } from '@iommu-lab/platform';
import { ATC_INV_SIZE_ALL, CMDQ_OP } from '../format/cmd.js';
import { CMDQ_BATCH_ENTRIES } from './cmdq.js';
import type { SmmuCmd } from './cmds.js';
import type { ArmSmmuDevice } from './device.js';
import type { SmmuDomain } from './domain.js';
import { masterOf } from './probe.js';

const OP = 0xffn;
const SSV = 1n << 11n;
const SID = genmask(63, 32);
const SSID = genmask(31, 12);
const GLOBAL = 1n << 9n;
const NUM = genmask(16, 12);
const SCALE = genmask(25, 20);
const VMID = genmask(47, 32);
const LEAF = 1n;
const TTL = genmask(9, 8);
const TG = genmask(11, 10);
const VA = genmask(63, 12);
const ATC_SIZE = genmask(5, 0);

function eio(why: string): never {
  throw new ErrnoError('EIO', 'ioctl', why);
}

export class ArmVsmmu implements IommuViommu {
  readonly type = IOMMU_VIOMMU_TYPE_ARM_SMMUV3;

  constructor(
    readonly unit: IommuUnit,
    readonly parent: SmmuDomain,
    readonly core: ViommuCore,
    readonly smmu: ArmSmmuDevice,
    /** VMID of the nest parent (arm_vsmmu_init: the FIXME moving VMID allocation into the vSMMU). */
    readonly vmid: number,
  ) {}

  /** arm_vsmmu_vdevice_init: one StreamID per device, which every PCI device here has. */
  vdeviceInit(dev: IommuDevice): void {
    masterOf(dev);
  }

  /**
   * arm_vsmmu_cache_invalidate: converts each command (VMID forced, vSID -> SID) and issues them in
   * blocks of CMDQ_BATCH_ENTRIES - 1 with a CMD_SYNC. entry_num becomes the count handled, as the kernel
   * computes it: commands converted in a block that a later command failed are counted but not issued.
   */
  cacheInvalidate(array: IommuUserDataArray): void {
    let cur = 0;
    try {
      const cmds = iommuCopyStructFromFullUserArray(iommu_viommu_arm_smmuv3_invalidate, array, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3);
      const converted: SmmuCmd[] = [];
      let last = 0;
      while (cur !== cmds.length) {
        converted.push(this.convert(cmds[cur]!.cmd[0]!, cmds[cur]!.cmd[1]!));
        cur++;
        if (cur !== cmds.length && cur - last !== CMDQ_BATCH_ENTRIES - 1) continue;
        this.smmu.cmdq.issue(converted.slice(last, cur), true);
        last = cur;
      }
    } finally {
      array.entry_num = cur;
    }
  }

  destroy(): void {}

  /** arm_vsmmu_convert_user_cmd */
  private convert(d0: bigint, d1: bigint): SmmuCmd {
    this.validate(d0, d1);
    const op = Number(d0 & OP);
    switch (op) {
      case CMDQ_OP.TLBI_NSNH_ALL:
        return [BigInt(CMDQ_OP.TLBI_NH_ALL) | (BigInt(this.vmid) << 32n), 0n];
      case CMDQ_OP.TLBI_NH_VA:
      case CMDQ_OP.TLBI_NH_VAA:
      case CMDQ_OP.TLBI_NH_ALL:
      case CMDQ_OP.TLBI_NH_ASID:
        return [(d0 & ~VMID) | (BigInt(this.vmid) << 32n), d1];
      case CMDQ_OP.ATC_INV:
      case CMDQ_OP.CFGI_CD:
      case CMDQ_OP.CFGI_CD_ALL: {
        const dev = this.core.findDevice(d0 >> 32n);
        if (!dev) eio(`no vDEVICE with vSID 0x${(d0 >> 32n).toString(16)}`);
        return [(d0 & ~SID) | (BigInt(masterOf(dev).sid) << 32n), d1];
      }
      default:
        return eio(`opcode 0x${op.toString(16)} is not accepted from user space`);
    }
  }

  /** arm_vsmmu_validate_user_cmd: only the fields each opcode defines and this SMMU implements. */
  private validate(d0: bigint, d1: bigint): void {
    const f = this.smmu.features;
    const asidMask = genmask(f.asidBits - 1, 0) << 48n;
    let a0 = OP;
    let a1 = 0n;
    switch (Number(d0 & OP)) {
      case CMDQ_OP.TLBI_NSNH_ALL:
        break;
      case CMDQ_OP.TLBI_NH_VA:
      case CMDQ_OP.TLBI_NH_VAA:
        if (Number(d0 & OP) === CMDQ_OP.TLBI_NH_VA) a0 |= asidMask;
        if (f.rangeInv) {
          this.validateRange(d0, d1);
          a0 |= NUM | SCALE;
          a1 |= TG | TTL;
          if (!f.ds) a0 &= ~(1n << 25n);
        }
        a0 |= VMID;
        a1 |= LEAF | VA;
        break;
      case CMDQ_OP.TLBI_NH_ASID:
      case CMDQ_OP.TLBI_NH_ALL:
        if (Number(d0 & OP) === CMDQ_OP.TLBI_NH_ASID) a0 |= asidMask;
        a0 |= VMID;
        break;
      case CMDQ_OP.ATC_INV:
        if (!f.ats) eio('ATC_INV without ATS');
        if (Number(d1 & ATC_SIZE) > ATC_INV_SIZE_ALL) eio('ATC_INV Size above 52');
        if (f.ssidBits) a0 |= SSV | SSID | GLOBAL;
        a0 |= SID;
        a1 |= ATC_SIZE | VA;
        break;
      case CMDQ_OP.CFGI_CD:
      case CMDQ_OP.CFGI_CD_ALL:
        if (Number(d0 & OP) === CMDQ_OP.CFGI_CD) {
          if (f.ssidBits) a0 |= SSID;
          a1 |= LEAF;
        }
        a0 |= SID;
        break;
      default:
        eio(`opcode 0x${(d0 & OP).toString(16)} is not accepted from user space`);
    }
    if ((d0 & ~a0) !== 0n || (d1 & ~a1) !== 0n) eio('a field the opcode does not define is set');
  }

  /** arm_vsmmu_validate_range: the spec's reserved NUM/SCALE/TG/TTL combinations. */
  private validateRange(d0: bigint, d1: bigint): void {
    const range = (d0 & (NUM | SCALE)) !== 0n;
    const ttl = Number((d1 & TTL) >> 8n);
    const tg = Number((d1 & TG) >> 10n);
    if (tg === 0) {
      if (range || ttl) eio('NUM, SCALE and TTL are RES0 when TG is 0');
      return;
    }
    if (tg === 2 && ttl === 1 && !this.smmu.features.ds) eio('TTL 1 with a 16 KiB TG needs IDR5.DS');
    if (!range && !ttl) eio('NUM = SCALE = TTL = 0 is reserved');
  }
}
