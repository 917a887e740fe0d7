// The PRI queue producer (IHI0070 3.9, 8): page requests from PRI-capable devices as 16-byte records at PRIQ_PROD,
// the overflow flag, the PRIQ interrupt, and CMD_PRI_RESP turned into the PRG Response Message to the device.
import { DMA_EXEC, DMA_PRIV, DMA_READ, DMA_WRITE, NO_PASID, type PageRequest, type PciDevice, type Tracepoint } from '@iommu-lab/platform';
import { PRI_RESP_TO_PRG } from '../format/priq.js';
import { PRIQ_ENT_SIZE, queueFull, queueIdx, queueInc, queueOverflowProd } from '../format/queue.js';
import { CR0_PRIQEN, GERROR_PRIQ_ABT_ERR } from '../format/registers.js';
import type { SmmuV3 } from './smmu.js';

export interface PriqStats {
  /** Page requests received, and written into the queue. */
  received: number;
  written: number;
  /** Requests discarded because the queue was full (OVFLG toggles once per overflow episode). */
  lost: number;
  /** Requests discarded because PRIQEN was clear. */
  dropped: number;
  /** PRG responses the SMMU sent by itself for discarded requests that ended their group. */
  autoResponses: number;
  /** CMD_PRI_RESP commands forwarded to a device. */
  responses: number;
}

/** PCIe PRG response codes the SMMU sends by itself. */
const PRG_SUCCESS = 0;
const PRG_RESPONSE_FAILURE = 0xf;

export class PriQueue {
  readonly stats: PriqStats = { received: 0, written: 0, lost: 0, dropped: 0, autoResponses: 0, responses: 0 };
  /** Where PRG responses go: the devices that sent requests, by StreamID. */
  private readonly devices = new Map<number, PciDevice>();
  private readonly tp: Tracepoint | null;

  constructor(private readonly s: SmmuV3) {
    this.tp = s.trace?.point('smmuv3_pri_request', 'smmuv3') ?? null;
  }

  /**
   * A Page Request Message from `dev`. Queued while PRIQEN is set and there is room; otherwise discarded, and
   * when it ends its group the SMMU answers it: Response Failure with the queue disabled (nobody will handle
   * PRI), Success on overflow (the device retries, faults through ATS again and asks again).
   */
  request(dev: PciDevice, req: PageRequest): void {
    const r = this.s.regs;
    this.stats.received++;
    this.devices.set(req.rid, dev);
    if ((r.cr0 & CR0_PRIQEN) === 0) {
      this.stats.dropped++;
      return this.autoRespond(dev, req, PRG_RESPONSE_FAILURE);
    }
    const log2 = r.priqLog2;
    if (queueFull(r.priqProd, r.priqCons, log2)) {
      this.stats.lost++;
      r.priqProd = queueOverflowProd(r.priqProd, r.priqCons);
      return this.autoRespond(dev, req, PRG_SUCCESS);
    }
    const pasid = req.pasid !== NO_PASID;
    const a = req.access;
    // dword 0 high word: SSID[51:32] in bits 19:0, Priv 58, Exec 59, Read 60, Write 61, Last 62, SSV 63
    const hi =
      (pasid ? req.pasid & 0xfffff : 0) |
      (a & DMA_PRIV ? 1 << 26 : 0) |
      (a & DMA_EXEC ? 1 << 27 : 0) |
      (a & DMA_READ ? 1 << 28 : 0) |
      (a & DMA_WRITE ? 1 << 29 : 0) |
      (req.last ? 1 << 30 : 0) |
      (pasid ? 1 << 31 : 0);
    const at = r.priqBaseAddr + queueIdx(r.priqProd, log2) * PRIQ_ENT_SIZE;
    const mem = this.s.mem;
    // dword 1: PRG index [8:0], page address [63:12]
    if (!mem.write64(at, req.rid >>> 0, hi >>> 0) || !mem.write64(at + 8, ((req.iovaPfn % 2 ** 20) * 4096 + (req.prgi & 0x1ff)) >>> 0, Math.floor(req.iovaPfn / 2 ** 20) >>> 0)) {
      this.s.raiseGerror(GERROR_PRIQ_ABT_ERR);
      return;
    }
    r.priqProd = queueInc(r.priqProd, log2);
    this.stats.written++;
    if (this.tp?.enabled) this.tp.emit({ sid: req.rid, pasid: req.pasid, addr: `0x${(req.iovaPfn * 4096).toString(16)}`, prgi: req.prgi, last: req.last });
    this.s.raise('priq');
  }

  /** CMD_PRI_RESP (IHI0070 4.6.1): the PRG Response Message, with the PASID when SSV is set. */
  respond(w0: number, sid: number, w2: number): void {
    const dev = this.devices.get(sid);
    if (!dev) return;
    this.stats.responses++;
    const ssv = (w0 & 0x800) !== 0;
    dev.pageResponse(w2 & 0x1ff, ssv ? (w0 >>> 12) & 0xfffff : NO_PASID, PRI_RESP_TO_PRG[(w2 >>> 12) & 3]!);
  }

  /** The SMMU's own response to a discarded request that ends its group; the PASID only with STE.PPAR. */
  private autoRespond(dev: PciDevice, req: PageRequest, code: number): void {
    if (!req.last) return;
    this.stats.autoResponses++;
    const ppar = req.pasid !== NO_PASID && this.s.configCache.stream(req.rid)?.ppar === true;
    dev.pageResponse(req.prgi, ppar ? req.pasid : NO_PASID, code);
  }
}
