// arm-smmuv3's qdev properties (smmuv3_properties + the arm-smmu base's) and smmu_validate_property's refusals.
import { checkKnownProps, QemuOptionError, type QemuDriverOpts, qemuBool, qemuUint } from '../qemu/options.js';

export const SMMU_OAS_44BIT = 44;
export const SMMU_OAS_48BIT = 48;
/** SMMU_SSID_MAX_BITS. */
export const SMMU_SSID_MAX_BITS = 20;
/** The only PCIe root complex of this virt machine. */
export const PRIMARY_BUS = 'pcie.0';

export interface SmmuV3Config {
  /** stage: "1" (default), "2" or "nested". */
  stage: '1' | '2' | 'nested';
  /** accel: the host SMMUv3 nests the guest's stage 1 (iommufd vIOMMU). */
  accel: boolean;
  /** ril: IDR3.RIL, range invalidation (only accel may turn it off). */
  ril: boolean;
  /** ats: IDR0.ATS (accel only). */
  ats: boolean;
  /** pri: IDR0.PRI and the PRI queue, fed from the host's fault queue (accel and ats only; this model's own). */
  pri: boolean;
  /** oas: 44 or 48 (48 with accel only). */
  oas: number;
  /** ssidsize: IDR1.SSIDSIZE, SubstreamID bits (accel only). */
  ssidsize: number;
  /** msi-gpa: the guest's MSI doorbell for accel (kept, not used by this model's guest). */
  msiGpa: number;
  primaryBus: string;
}

const KNOWN = ['stage', 'accel', 'ril', 'ats', 'pri', 'oas', 'ssidsize', 'msi-gpa', 'primary-bus', 'bus_num', 'id'];

/** Reads the properties with QEMU's defaults and applies the realize-time checks. */
export function smmuV3Config(opts: QemuDriverOpts): SmmuV3Config {
  checkKnownProps(opts, KNOWN);
  const stage = opts.props.get('stage') ?? '1';
  const c: SmmuV3Config = {
    stage: stage as SmmuV3Config['stage'],
    accel: qemuBool(opts, 'accel', false),
    ril: qemuBool(opts, 'ril', true),
    ats: qemuBool(opts, 'ats', false),
    pri: qemuBool(opts, 'pri', false),
    oas: qemuUint(opts, 'oas', SMMU_OAS_44BIT, 0xff),
    ssidsize: qemuUint(opts, 'ssidsize', 0, 0xff),
    msiGpa: qemuUint(opts, 'msi-gpa', 0, Number.MAX_SAFE_INTEGER),
    primaryBus: opts.props.get('primary-bus') ?? '',
  };
  if (!['1', '2', 'nested'].includes(stage)) throw new QemuOptionError(opts.text, `Invalid stage "${stage}": use 1, 2 or nested`);
  // smmu_base_realize: the SMMU translates for the PCIe root complex it is linked to.
  if (!c.primaryBus) throw new QemuOptionError(opts.text, 'SMMU is not attached to any PCI bus! (add primary-bus=pcie.0)');
  if (c.primaryBus !== PRIMARY_BUS) throw new QemuOptionError(opts.text, `Property '${opts.driver}.primary-bus' can't find value '${c.primaryBus}'`);
  if (!c.accel) {
    if (!c.ril) throw new QemuOptionError(opts.text, 'ril can only be disabled if accel=on');
    if (c.ats) throw new QemuOptionError(opts.text, 'ats can only be enabled if accel=on');
    if (c.pri) throw new QemuOptionError(opts.text, 'pri can only be enabled if accel=on');
    if (c.oas !== SMMU_OAS_44BIT) throw new QemuOptionError(opts.text, 'OAS must be 44 bits when accel=off');
    if (c.ssidsize) throw new QemuOptionError(opts.text, 'ssidsize can only be set if accel=on');
    // Stage 2 and nesting of the emulated (non-accel) unit are not modelled: it serves no device here anyway.
    if (c.stage !== '1') throw new QemuOptionError(opts.text, `stage=${c.stage} is not modelled: this arm-smmuv3 emulates stage 1 only`);
    return c;
  }
  if (c.stage !== '1') throw new QemuOptionError(opts.text, 'Only stage1 is supported for SMMUv3 with accel=on');
  if (c.oas !== SMMU_OAS_44BIT && c.oas !== SMMU_OAS_48BIT) throw new QemuOptionError(opts.text, 'OAS can only be set to 44 or 48 bits');
  if (c.ssidsize > SMMU_SSID_MAX_BITS) throw new QemuOptionError(opts.text, `ssidsize must be in the range 0 to ${SMMU_SSID_MAX_BITS}`);
  // Page requests follow ATS translation requests that failed: PRI without ATS has nothing to report.
  if (c.pri && !c.ats) throw new QemuOptionError(opts.text, 'pri can only be enabled if ats=on');
  return c;
}
