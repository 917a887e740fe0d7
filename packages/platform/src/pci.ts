// PCI devices as DMA masters: BDF/RID, the PASID capability, and DMA through the IOMMU in front of them.
import type { PhysMem } from './phys-mem.js';
import { PAGE_SIZE } from './phys-mem.js';
import type { Tracepoint, Tracer } from './trace.js';

export const DMA_READ = 1;
export const DMA_WRITE = 2;
export const DMA_EXEC = 4;
export const DMA_PRIV = 8;
/**
 * The device asks through ATS (a Translation Request, PCIe 10.2.2): conditions a page request can resolve
 * (not present, missing permission) come back to the device as "no access" instead of being recorded as faults.
 */
export const DMA_ATS = 16;

/** No PASID on the request (a plain RID request). */
export const NO_PASID = -1;

/** What the IOMMU hardware reported for a translation that failed. */
export interface DmaFaultInfo {
  /** Vendor fault reason: a VT-d fault reason code, an SMMUv3 event id, a mock reason. */
  readonly reason: number;
  /** The reason's name in the vendor's documentation ("SM: Present bit in PASID entry is clear"). */
  readonly reasonName: string;
  readonly address: bigint;
  readonly pasid: number;
  readonly access: number;
  /** True when the IOMMU sent a page request to software and the device may retry after a response. */
  readonly recoverable?: boolean;
  /** The vendor's record (fault recording register contents, event record), for debugging. */
  readonly record?: unknown;
}

/** PRG Response Message codes (PCIe 10.4.2.1), and what the device decides when none arrives. */
export const PRG_RESPONSE_SUCCESS = 0;
export const PRG_RESPONSE_INVALID = 1;
export const PRG_RESPONSE_FAILURE = 0xf;
export const PRG_RESPONSE_TIMEOUT = -1;

/** A Page Request Message (PCIe 10.4.1): one page of a page request group (PRGI), L on the group's last page. */
export interface PageRequest {
  readonly rid: number;
  /** NO_PASID for a request without a PASID prefix. */
  readonly pasid: number;
  readonly iovaPfn: number;
  /** DMA_READ / DMA_WRITE / DMA_EXEC / DMA_PRIV. */
  readonly access: number;
  readonly prgi: number;
  readonly last: boolean;
}

/** The hardware side of an IOMMU, as seen by the devices behind it. */
export interface DmaTranslator {
  /**
   * Translates one 4 KiB page of a request: the host PFN for iovaPfn, or -1 when translation
   * failed, with the details in lastFault(). `pasid` is NO_PASID for a request without PASID.
   */
  translate(rid: number, pasid: number, iovaPfn: number, access: number): number;
  lastFault(): DmaFaultInfo;
  /** PRI: the device sent a page request; the answer comes back through the device's pageResponse(). */
  pageRequest?(dev: PciDevice, req: PageRequest): void;
}

/** A DMA that the IOMMU did not allow; nothing of the transfer reached memory. */
export class DmaFault extends Error {
  constructor(
    readonly device: string,
    readonly info: DmaFaultInfo,
  ) {
    super(
      `DMA fault on ${device}: ${info.reasonName} (reason 0x${info.reason.toString(16)}) at 0x${info.address.toString(16)}` +
        (info.pasid >= 0 ? ` pasid ${info.pasid}` : ''),
    );
    this.name = 'DmaFault';
  }
  get reason(): number {
    return this.info.reason;
  }
  get address(): bigint {
    return this.info.address;
  }
  get pasid(): number {
    return this.info.pasid;
  }
}

export interface DmaOptions {
  pasid?: number;
  priv?: boolean;
  exec?: boolean;
  /** Translate through ATS (DMA_ATS) before the access. */
  ats?: boolean;
}

/** "0000:01:00.0" -> segment, bus, device, function; throws RangeError naming the bad text. */
export function parseBdf(bdf: string): { segment: number; bus: number; dev: number; fn: number } {
  const m = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(bdf);
  if (!m) throw new RangeError(`invalid BDF "${bdf}" (expected SSSS:BB:DD.F, e.g. 0000:01:00.0)`);
  const dev = parseInt(m[3]!, 16);
  if (dev > 0x1f) throw new RangeError(`invalid BDF "${bdf}": device ${dev} > 31`);
  return { segment: parseInt(m[1]!, 16), bus: parseInt(m[2]!, 16), dev, fn: parseInt(m[4]!, 10) };
}

export interface PciDeviceConfig {
  bdf: string;
  /** PASID capability: number of PASID bits (0 = none). */
  pasidBits?: number;
  /** ATS capability. */
  ats?: boolean;
  /** PRI capability (page requests for recoverable faults). */
  pri?: boolean;
  /** Name of the IOMMU unit in front of the device, if any. */
  iommu?: string;
}

export interface DmaStats {
  reads: number;
  writes: number;
  bytes: number;
  faults: number;
}

export class PciDevice {
  readonly bdf: string;
  readonly segment: number;
  readonly bus: number;
  readonly devfn: number;
  /** Requester ID: bus << 8 | devfn. */
  readonly rid: number;
  readonly pasidBits: number;
  readonly ats: boolean;
  readonly pri: boolean;
  readonly iommu: string | undefined;
  /** /dev/vfio/devices/vfioN once VFIO has registered the device. */
  cdevPath: string | undefined;
  /** The IOMMU hardware in front of the device; without one, DMA addresses are physical. */
  translator: DmaTranslator | null = null;
  readonly stats: DmaStats = { reads: 0, writes: 0, bytes: 0, faults: 0 };
  /** PRI Enable in the device's PRI control register, set by the host's IOMMU driver (pci_enable_pri). */
  priEnabled = false;
  /** Page requests sent and PRG responses received. */
  pageRequests = 0;
  pageResponses = 0;
  private nextPrgi = 0;
  /** Responses that arrived, by PRGI: [pasid, code]. */
  private readonly prgResponses = new Map<number, [number, number]>();
  private readonly tpDma: Tracepoint;
  private readonly tpFault: Tracepoint;
  private readonly tpPri: Tracepoint;

  constructor(
    cfg: PciDeviceConfig,
    private readonly mem: PhysMem,
    trace: Tracer,
  ) {
    const b = parseBdf(cfg.bdf);
    this.bdf = cfg.bdf.toLowerCase();
    this.segment = b.segment;
    this.bus = b.bus;
    this.devfn = (b.dev << 3) | b.fn;
    this.rid = (b.bus << 8) | this.devfn;
    this.pasidBits = cfg.pasidBits ?? 0;
    if (!Number.isInteger(this.pasidBits) || this.pasidBits < 0 || this.pasidBits > 20) {
      throw new RangeError(`device ${cfg.bdf}: pasidBits ${cfg.pasidBits} must be 0..20`);
    }
    this.ats = cfg.ats ?? false;
    this.pri = cfg.pri ?? false;
    this.iommu = cfg.iommu;
    this.tpDma = trace.point('pci_dma', 'dma');
    this.tpFault = trace.point('pci_dma_fault', 'dma');
    this.tpPri = trace.point('pci_page_request', 'dma');
  }

  /** Reads length bytes at iova; throws DmaFault (and reads nothing) when any page does not translate. */
  dmaRead(iova: bigint, length: number, opts: DmaOptions = {}): Uint8Array {
    const pfns = this.translateRange(iova, length, DMA_READ, opts);
    const out = new Uint8Array(length);
    this.forEachChunk(iova, length, pfns, (pa, off, n) => this.mem.readInto(pa, out.subarray(off, off + n)));
    this.stats.reads++;
    this.stats.bytes += length;
    if (this.tpDma.enabled) this.tpDma.emit({ dev: this.bdf, op: 'read', iova: `0x${iova.toString(16)}`, length, pasid: opts.pasid });
    return out;
  }

  /** Writes bytes at iova; throws DmaFault (and writes nothing) when any page does not translate. */
  dmaWrite(iova: bigint, bytes: Uint8Array, opts: DmaOptions = {}): void {
    const pfns = this.translateRange(iova, bytes.length, DMA_WRITE, opts);
    this.forEachChunk(iova, bytes.length, pfns, (pa, off, n) => this.mem.write(pa, bytes.subarray(off, off + n)));
    this.stats.writes++;
    this.stats.bytes += bytes.length;
    if (this.tpDma.enabled) this.tpDma.emit({ dev: this.bdf, op: 'write', iova: `0x${iova.toString(16)}`, length: bytes.length, pasid: opts.pasid });
  }

  /**
   * PRI: a one-page group (L = 1) for the page at iova, then the wait for its PRG Response. The model is
   * single-threaded: the IOMMU and all the software that handles the request (interrupt handlers, and the
   * processes they wake) run inside translator.pageRequest, so a response that has not arrived when it
   * returns never will: that is the device's response timeout (PRG_RESPONSE_TIMEOUT).
   */
  pageRequest(iova: bigint, access: number, opts: DmaOptions = {}): number {
    if (!this.pri || !this.priEnabled) throw new RangeError(`device ${this.bdf} cannot send page requests (PRI ${this.pri ? 'disabled' : 'absent'})`);
    const pasid = opts.pasid ?? NO_PASID;
    const prgi = this.nextPrgi;
    this.nextPrgi = (prgi + 1) & 0x1ff;
    this.prgResponses.delete(prgi);
    this.pageRequests++;
    const dir = access & (DMA_READ | DMA_WRITE | DMA_EXEC | DMA_PRIV);
    const req: PageRequest = { rid: this.rid, pasid, iovaPfn: Number(iova >> 12n), access: dir | (opts.priv ? DMA_PRIV : 0) | (opts.exec ? DMA_EXEC : 0), prgi, last: true };
    if (this.tpPri.enabled) this.tpPri.emit({ dev: this.bdf, iova: `0x${iova.toString(16)}`, pasid, prgi, access: req.access });
    this.translator?.pageRequest?.(this, req);
    const r = this.prgResponses.get(prgi);
    this.prgResponses.delete(prgi);
    if (!r || (pasid !== NO_PASID && r[0] !== pasid)) return PRG_RESPONSE_TIMEOUT;
    return r[1];
  }

  /** A PRG Response Message the IOMMU forwarded to the device. */
  pageResponse(prgi: number, pasid: number, code: number): void {
    this.pageResponses++;
    this.prgResponses.set(prgi & 0x1ff, [pasid, code]);
  }

  private translateRange(iova: bigint, length: number, dir: number, opts: DmaOptions): number[] {
    if (typeof iova !== 'bigint' || iova < 0n || iova + BigInt(length) > 1n << 64n) throw new RangeError(`bad DMA address ${String(iova)}`);
    if (!Number.isSafeInteger(length) || length <= 0) throw new RangeError(`bad DMA length ${length}`);
    const pasid = opts.pasid ?? NO_PASID;
    if (pasid !== NO_PASID && (!Number.isInteger(pasid) || pasid < 0 || pasid >= 2 ** this.pasidBits)) {
      throw new RangeError(`device ${this.bdf} cannot issue PASID ${pasid} (PASID capability: ${this.pasidBits} bits)`);
    }
    const access = dir | (opts.priv ? DMA_PRIV : 0) | (opts.exec ? DMA_EXEC : 0) | (opts.ats ? DMA_ATS : 0);
    const first = Number(iova >> 12n);
    const last = Number((iova + BigInt(length) - 1n) >> 12n);
    const pfns: number[] = [];
    for (let p = first; p <= last; p++) {
      let pfn: number;
      if (this.translator) {
        pfn = this.translator.translate(this.rid, pasid, p, access);
        if (pfn < 0) this.fault(this.translator.lastFault());
        // A translation to an address with no RAM behind it ends the request before any byte moves.
        if (!this.mem.contains(pfn * PAGE_SIZE, PAGE_SIZE)) {
          this.fault({ reason: 0, reasonName: 'unsupported request: translated address has no memory', address: BigInt(p) << 12n, pasid, access });
        }
      } else {
        pfn = p;
        if (!this.mem.contains(p * PAGE_SIZE, PAGE_SIZE)) {
          this.fault({ reason: 0, reasonName: 'unsupported request: no memory at this physical address', address: BigInt(p) << 12n, pasid, access });
        }
      }
      pfns.push(pfn);
    }
    return pfns;
  }

  private fault(info: DmaFaultInfo): never {
    this.stats.faults++;
    if (this.tpFault.enabled) this.tpFault.emit({ dev: this.bdf, reason: info.reason, name: info.reasonName, address: `0x${info.address.toString(16)}` });
    throw new DmaFault(this.bdf, info);
  }

  private forEachChunk(iova: bigint, length: number, pfns: number[], fn: (pa: number, off: number, n: number) => void): void {
    let off = 0;
    let pageOff = Number(iova & 0xfffn);
    for (const pfn of pfns) {
      const n = Math.min(length - off, PAGE_SIZE - pageOff);
      fn(pfn * PAGE_SIZE + pageOff, off, n);
      off += n;
      pageOff = 0;
    }
  }
}
