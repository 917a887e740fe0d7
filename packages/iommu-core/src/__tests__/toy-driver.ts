// A test double of a vendor driver: domains that record what the core asked of them.
import { ErrnoError, type DmaTranslator, type DmaFaultInfo } from '@iommu-lab/platform';
import type { IommuDevice } from '../device.js';
import type { IommuDomain, IommuDomainType, MapProgress } from '../domain.js';
import type { IotlbGather } from '../gather.js';
import type { IopfGroup } from '../iopf.js';
import type { IommuOps } from '../ops.js';
import type { IommuUnit } from '../unit.js';

export class ToyDomain implements IommuDomain {
  readonly geometry = { apertureStart: 0n, apertureEnd: (1n << 48n) - 1n, forceAperture: true };
  readonly log: string[] = [];
  readonly pages = new Map<number, number>();
  /** Device names whose attach fails with EINVAL. */
  failAttach = new Set<string>();
  /** Fail map_pages once this many bytes are mapped. */
  failMapAfter = Infinity;
  setDevPasid?: (dev: IommuDevice, pasid: number, old: IommuDomain | null) => void;
  iopfHandler?: (group: IopfGroup) => void;

  constructor(
    readonly owner: IommuOps,
    readonly type: IommuDomainType,
    readonly name: string,
    readonly pgsizes: readonly number[] = [4096, 2 ** 21, 2 ** 30],
    pasid = true,
  ) {
    if (pasid) {
      this.setDevPasid = (dev, p, old) => {
        if (this.failAttach.has(dev.name)) throw new ErrnoError('EINVAL', 'ioctl', 'toy pasid attach refused');
        this.log.push(`pasid ${dev.name}:${p} from ${(old as ToyDomain | null)?.name ?? 'none'}`);
      };
    }
  }

  attachDev(dev: IommuDevice, old: IommuDomain | null): void {
    if (this.failAttach.has(dev.name)) throw new ErrnoError('EINVAL', 'ioctl', 'toy attach refused');
    this.log.push(`attach ${dev.name} from ${(old as ToyDomain | null)?.name ?? 'none'}`);
  }

  mapPages(iova: number, paddr: number, pgsize: number, pgcount: number, _prot: number, progress: MapProgress): void {
    this.log.push(`map 0x${iova.toString(16)} 0x${pgsize.toString(16)} x${pgcount}`);
    for (let i = 0; i < pgcount; i++) {
      if (progress.mapped >= this.failMapAfter) throw new ErrnoError('ENOMEM', 'ioctl', 'toy map failure');
      this.pages.set(iova + i * pgsize, paddr + i * pgsize);
      progress.mapped += pgsize;
    }
  }

  unmapPages(iova: number, pgsize: number, pgcount: number, gather: IotlbGather): number {
    let n = 0;
    for (let i = 0; i < pgcount; i++) {
      if (!this.pages.delete(iova + i * pgsize)) break;
      n += pgsize;
    }
    gather.add(iova, n);
    this.log.push(`unmap 0x${iova.toString(16)} 0x${pgsize.toString(16)} x${pgcount} -> 0x${n.toString(16)}`);
    return n;
  }

  iotlbSync(gather: IotlbGather): void {
    this.log.push(`sync 0x${gather.start.toString(16)}-0x${gather.end.toString(16)}`);
  }

  free(): void {}
}

export function toyOps(name = 'toy'): IommuOps & { blockedDomain: ToyDomain } {
  const ops: IommuOps & { blockedDomain: ToyDomain } = {
    name,
    probeDevice(dev) {
      dev.maxPasids = dev.name.includes('pasid') ? 1 << 20 : 0;
    },
    blockedDomain: undefined as unknown as ToyDomain,
  };
  ops.blockedDomain = new ToyDomain(ops, 'blocked', 'blocked', []);
  return ops;
}

const noTranslation: DmaTranslator = {
  translate: () => -1,
  lastFault: (): DmaFaultInfo => ({ reason: 0, reasonName: 'toy', address: 0n, pasid: -1, access: 0 }),
};

export function toyUnit(id = 'toy0', ops = toyOps()): IommuUnit {
  return { id, model: 'toy', ops, hw: noTranslation, describe: () => ({}) };
}
