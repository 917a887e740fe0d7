// intel-iommu's qdev properties (vtd_properties + x86-iommu's) and vtd_decide_config's refusals.
import { checkKnownProps, QemuOptionError, type QemuDriverOpts, qemuBool, qemuUint } from '../qemu/options.js';

export const VTD_HOST_AW_39BIT = 39;
export const VTD_HOST_AW_48BIT = 48;
/** VFIO_DEFAULT_PASID_QUOTA of the 2020 vSVA series. */
export const VTD_DEFAULT_PASID_QUOTA = 1000;

export interface IntelIommuConfig {
  /** aw-bits: guest address width (MGAW); 48 by default since QEMU 9.2. */
  awBits: number;
  cachingMode: boolean;
  /** x-scalable-mode. */
  scalableMode: boolean;
  /** x-flts: first-stage translation for the guest (the field is `fsts` in QEMU). */
  fsts: boolean;
  snoopControl: boolean;
  /** x-pasid-mode: ECAP.PASID with PSS. */
  pasid: boolean;
  /** svm (QEMU's 2025 ATS/PRI series): ECAP.PRS/PDS/NWFS; here also the virtual command interface (ECAP.VCS). */
  svm: boolean;
  /** x-pasid-quota (iommu-lab): how many PASIDs the guest may hold through VCMD (vfio's pasid_quota of the 2020 series). */
  pasidQuota: number;
  dmaDrain: boolean;
  staleTm: boolean;
  fs1gp: boolean;
  /** x86-iommu: device-iotlb (ECAP.DT), pt (ECAP.PT), dma-translation (SAGAW), intremap (ECAP.IR). */
  deviceIotlb: boolean;
  pt: boolean;
  dmaTranslation: boolean;
  intremap: boolean;
}

const KNOWN = [
  'version',
  'eim',
  'x-buggy-eim',
  'aw-bits',
  'caching-mode',
  'x-scalable-mode',
  'x-flts',
  'snoop-control',
  'x-pasid-mode',
  'svm',
  'x-pasid-quota',
  'dma-drain',
  'stale-tm',
  'fs1gp',
  'intremap',
  'device-iotlb',
  'pt',
  'dma-translation',
  'id',
  'bus',
];

/** Reads the properties with QEMU's defaults and applies vtd_realize/vtd_decide_config's checks. */
export function intelIommuConfig(opts: QemuDriverOpts): IntelIommuConfig {
  checkKnownProps(opts, KNOWN);
  const c: IntelIommuConfig = {
    awBits: qemuUint(opts, 'aw-bits', VTD_HOST_AW_48BIT, 0xff),
    cachingMode: qemuBool(opts, 'caching-mode', false),
    scalableMode: qemuBool(opts, 'x-scalable-mode', false),
    fsts: qemuBool(opts, 'x-flts', false),
    snoopControl: qemuBool(opts, 'snoop-control', false),
    pasid: qemuBool(opts, 'x-pasid-mode', false),
    svm: qemuBool(opts, 'svm', false),
    pasidQuota: qemuUint(opts, 'x-pasid-quota', VTD_DEFAULT_PASID_QUOTA, 0xffff_ffff),
    dmaDrain: qemuBool(opts, 'dma-drain', true),
    staleTm: qemuBool(opts, 'stale-tm', false),
    fs1gp: qemuBool(opts, 'fs1gp', true),
    deviceIotlb: qemuBool(opts, 'device-iotlb', false),
    pt: qemuBool(opts, 'pt', true),
    dmaTranslation: qemuBool(opts, 'dma-translation', true),
    intremap: qemuBool(opts, 'intremap', false),
  };
  const eim = opts.props.get('eim');
  if (eim !== undefined && !['on', 'off', 'auto'].includes(eim)) throw new QemuOptionError(opts.text, "Parameter 'eim' does not accept value '" + eim + "'");
  if (eim === 'on' && !c.intremap) throw new QemuOptionError(opts.text, 'eim=on cannot be selected without intremap=on');
  if (!c.scalableMode && c.fsts) throw new QemuOptionError(opts.text, 'x-flts is only available in scalable mode');
  if (!c.fsts && c.awBits !== VTD_HOST_AW_39BIT && c.awBits !== VTD_HOST_AW_48BIT) {
    const mode = c.scalableMode ? 'Scalable mode(flts=off)' : 'Legacy mode';
    throw new QemuOptionError(opts.text, `${mode}: supported values for aw-bits are: ${VTD_HOST_AW_39BIT}, ${VTD_HOST_AW_48BIT}`);
  }
  if (c.fsts && c.awBits !== VTD_HOST_AW_48BIT) throw new QemuOptionError(opts.text, `Scalable mode(x-flts=on): supported value for aw-bits is: ${VTD_HOST_AW_48BIT}`);
  if (c.scalableMode && !c.dmaDrain) throw new QemuOptionError(opts.text, 'Need to set dma_drain for scalable mode');
  if (c.pasid && !c.scalableMode) throw new QemuOptionError(opts.text, 'Need to set scalable mode for PASID');
  if (c.svm) {
    if (!c.deviceIotlb) throw new QemuOptionError(opts.text, 'Need to set device IOTLB for svm');
    if (!c.fsts) throw new QemuOptionError(opts.text, 'Need to set flts for svm');
    if (!c.dmaTranslation) throw new QemuOptionError(opts.text, 'Need to set dma-translation for svm');
    if (!c.pasid) throw new QemuOptionError(opts.text, 'Need to set PASID support for svm');
  }
  // The guest driver here speaks scalable mode only (Linux picks legacy mode on a unit without ECAP.SMTS).
  if (!c.scalableMode) throw new QemuOptionError(opts.text, 'this model emulates scalable mode only: add x-scalable-mode=on');
  return c;
}
