// Host-spec options of an intel-vtd unit and the CAP/ECAP values they give (defaults: a current server part).
import { VtdCap, VtdEcap } from './format/cap.js';
import { VTD_FRCD_REG_OFFSET, VTD_IOTLB_REG_OFFSET } from './format/registers.js';

export interface VtdOptions {
  /** ECAP.SMTS. Legacy (non-scalable) mode is not modelled, so this must stay true. */
  scalableMode?: boolean;
  /** ECAP.FSTS: first-stage translation. */
  firstStage?: boolean;
  /** ECAP.SSTS: second-stage translation. */
  secondStage?: boolean;
  /** ECAP.NEST: nested translation. */
  nesting?: boolean;
  /** ECAP.PASID. */
  pasid?: boolean;
  /** PASID width, ECAP.PSS + 1 (1..20). */
  pasidBits?: number;
  /** CAP.FS1GP: first-stage 1 GiB pages. */
  fs1gp?: boolean;
  /** CAP.FS5LP: first-stage 5-level paging (default: addressWidth 57). */
  fs5lp?: boolean;
  /** CAP.MGAW: 39, 48 (4-level) or 57 (5-level); SAGAW lists every second-stage width up to it. */
  addressWidth?: number;
  /** CAP.SSLPS: bit 0 = 2 MiB, bit 1 = 1 GiB second-stage pages. */
  sslps?: number;
  /** CAP.CM: caching mode (what a vIOMMU reports). */
  cachingMode?: boolean;
  /** ECAP.PT: pass-through. */
  passThrough?: boolean;
  /** ECAP.SC: snoop control. */
  snoopControl?: boolean;
  /** ECAP.SRS: supervisor requests. */
  srs?: boolean;
  /** ECAP.ERS: execute requests. */
  ers?: boolean;
  /** ECAP.EAFS: extended accessed flag. */
  eafs?: boolean;
  /** ECAP.SSADS: second-stage A/D bits (dirty tracking). */
  ssads?: boolean;
  /** ECAP.DT: device-TLBs (ATS). */
  deviceTlb?: boolean;
  /** ECAP.PRS: page requests (PRI), with the page request queue. */
  prs?: boolean;
  /** ECAP.PDS: page-request drain (a wait descriptor's PD). */
  pds?: boolean;
  /** CAP.PSI: page-selective invalidation. */
  psi?: boolean;
  /** CAP.MAMV: largest address mask of a page-selective IOTLB invalidation. */
  mamv?: number;
  /** CAP.ND: 2^(4 + 2 * ND) domain IDs (0..6). */
  nd?: number;
  /** Number of fault recording registers (CAP.NFR + 1). */
  nfr?: number;
  /** Host address width (ACPI DMAR): table addresses at or above it are reserved bits. */
  haw?: number;
  /** VER_REG. */
  version?: number;
  /** Start with the missing-invalidation detector on. */
  detector?: boolean;
}

type Kind = 'boolean' | 'integer';
const KINDS: Record<keyof VtdOptions, Kind> = {
  scalableMode: 'boolean',
  firstStage: 'boolean',
  secondStage: 'boolean',
  nesting: 'boolean',
  pasid: 'boolean',
  pasidBits: 'integer',
  fs1gp: 'boolean',
  fs5lp: 'boolean',
  addressWidth: 'integer',
  sslps: 'integer',
  cachingMode: 'boolean',
  passThrough: 'boolean',
  snoopControl: 'boolean',
  srs: 'boolean',
  ers: 'boolean',
  eafs: 'boolean',
  ssads: 'boolean',
  deviceTlb: 'boolean',
  prs: 'boolean',
  pds: 'boolean',
  psi: 'boolean',
  mamv: 'integer',
  nd: 'integer',
  nfr: 'integer',
  haw: 'integer',
  version: 'integer',
  detector: 'boolean',
};

function range(name: string, v: number, lo: number, hi: number): void {
  if (v < lo || v > hi) throw new RangeError(`intel-vtd option "${name}": ${v} is outside ${lo}..${hi}`);
}

/** Checks host-spec options; a bad one is a RangeError that names it. */
export function parseVtdOptions(raw: Readonly<Record<string, unknown>>): Required<VtdOptions> {
  for (const [k, v] of Object.entries(raw)) {
    const kind = KINDS[k as keyof VtdOptions];
    if (!kind) throw new RangeError(`intel-vtd option "${k}" is unknown (known: ${Object.keys(KINDS).join(', ')})`);
    if (kind === 'boolean' && typeof v !== 'boolean') throw new RangeError(`intel-vtd option "${k}" must be true or false`);
    if (kind === 'integer' && !Number.isInteger(v)) throw new RangeError(`intel-vtd option "${k}" must be an integer`);
  }
  const o = raw as VtdOptions;
  const aw = o.addressWidth ?? 48;
  const opts: Required<VtdOptions> = {
    scalableMode: o.scalableMode ?? true,
    firstStage: o.firstStage ?? true,
    secondStage: o.secondStage ?? true,
    nesting: o.nesting ?? true,
    pasid: o.pasid ?? true,
    pasidBits: o.pasidBits ?? 20,
    fs1gp: o.fs1gp ?? true,
    fs5lp: o.fs5lp ?? aw === 57,
    addressWidth: aw,
    sslps: o.sslps ?? 3,
    cachingMode: o.cachingMode ?? false,
    passThrough: o.passThrough ?? true,
    snoopControl: o.snoopControl ?? true,
    srs: o.srs ?? true,
    ers: o.ers ?? false,
    eafs: o.eafs ?? false,
    ssads: o.ssads ?? true,
    deviceTlb: o.deviceTlb ?? true,
    prs: o.prs ?? true,
    pds: o.pds ?? o.prs ?? true,
    psi: o.psi ?? true,
    mamv: o.mamv ?? 18,
    nd: o.nd ?? 6,
    nfr: o.nfr ?? 8,
    haw: o.haw ?? 46,
    version: o.version ?? 0x10,
    detector: o.detector ?? false,
  };
  if (!opts.scalableMode) throw new RangeError('intel-vtd option "scalableMode": legacy (non-scalable) mode is not modelled');
  if (![39, 48, 57].includes(aw)) throw new RangeError(`intel-vtd option "addressWidth": ${aw} is not 39, 48 or 57`);
  if (!opts.firstStage && !opts.secondStage) throw new RangeError('intel-vtd option "secondStage": a unit needs the first or the second stage');
  if (opts.nesting && !(opts.firstStage && opts.secondStage)) throw new RangeError('intel-vtd option "nesting" needs firstStage and secondStage');
  range('pasidBits', opts.pasidBits, 1, 20);
  range('sslps', opts.sslps, 0, 3);
  range('mamv', opts.mamv, 0, 63);
  range('nd', opts.nd, 0, 6);
  range('nfr', opts.nfr, 1, 256);
  range('haw', opts.haw, 32, 52);
  range('version', opts.version, 0, 0xff);
  return opts;
}

/** SAGAW bits for every second-stage width up to MGAW: 39 -> bit 1, 48 -> bits 1-2, 57 -> bits 1-3. */
function sagawFor(aw: number): number {
  return aw === 39 ? 0b0010 : aw === 48 ? 0b0110 : 0b1110;
}

/** CAP_REG and ECAP_REG of a unit with these options. */
export function vtdCapabilities(o: Required<VtdOptions>): { cap: bigint; ecap: bigint } {
  const [cap] = VtdCap.encode({
    nd: o.nd,
    cm: o.cachingMode,
    sagaw: o.secondStage ? sagawFor(o.addressWidth) : 0,
    mgaw: o.addressWidth - 1,
    fro: VTD_FRCD_REG_OFFSET / 16,
    sslps: o.secondStage ? o.sslps : 0,
    psi: o.psi,
    nfr: o.nfr - 1,
    mamv: o.mamv,
    dwd: true,
    drd: true,
    fs1gp: o.firstStage && o.fs1gp,
    fs5lp: o.firstStage && o.fs5lp,
    esrtps: true,
  });
  const [ecap] = VtdEcap.encode({
    c: true,
    qi: true,
    dt: o.deviceTlb,
    prs: o.prs,
    pds: o.pds,
    pt: o.passThrough,
    sc: o.snoopControl,
    iro: VTD_IOTLB_REG_OFFSET / 16,
    nest: o.nesting,
    ers: o.ers,
    srs: o.srs,
    eafs: o.eafs,
    pss: o.pasid ? o.pasidBits - 1 : 0,
    pasid: o.pasid,
    smts: true,
    ssads: o.secondStage && o.ssads,
    ssts: o.secondStage,
    fsts: o.firstStage,
    smpwcs: true,
  });
  return { cap: cap!, ecap: ecap! };
}
