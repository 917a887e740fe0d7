// backends/iommufd.c: the VMM's /dev/iommu, with every ioctl counted.
import {
  IOMMU_DESTROY,
  IOMMU_GET_HW_INFO,
  IOMMU_HWPT_ALLOC,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_HWPT_INVALIDATE,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP,
  IOMMU_FAULT_QUEUE_ALLOC,
  IOMMU_VDEVICE_ALLOC,
  IOMMU_VEVENTQ_ALLOC,
  IOMMU_VIOMMU_ALLOC,
} from '@iommu-lab/iommu-core';
import { ErrnoError, type Process, type Tracepoint } from '@iommu-lab/platform';
import { HostFd } from '../vm/host-fd.js';
import type { VmStats } from '../vm/stats.js';

/** What IOMMU_GET_HW_INFO told the VMM about a device's IOMMU. */
export interface HostHwInfo {
  readonly type: number;
  readonly data: Uint8Array;
  readonly capabilities: bigint;
  readonly maxPasidLog2: number;
}

/** Scratch memory in the VMM process for the structs ioctls take by pointer. */
class Scratch {
  private readonly va: bigint;
  constructor(private readonly proc: Process) {
    this.va = proc.mmap(64 * 1024, { name: 'iommufd-scratch' });
  }
  /** Copies bytes in and returns their address (valid until the next put). */
  put(bytes: Uint8Array): bigint {
    if (bytes.length > 64 * 1024) throw new RangeError('scratch overflow');
    this.proc.memWrite(this.va, bytes);
    return this.va;
  }
  get(length: number): Uint8Array {
    return this.proc.memRead(this.va, length);
  }
  get address(): bigint {
    return this.va;
  }
}

export class IommufdBackend {
  readonly fd: HostFd;
  private readonly scratch: Scratch;

  constructor(
    readonly id: string,
    readonly proc: Process,
    stats: () => VmStats,
    tp: Tracepoint,
  ) {
    this.fd = new HostFd(proc, proc.open('/dev/iommu'), stats, tp);
    this.scratch = new Scratch(proc);
  }

  ioasAlloc(): number {
    const cmd = { flags: 0, out_ioas_id: 0 };
    this.fd.ioctl(IOMMU_IOAS_ALLOC, cmd);
    return cmd.out_ioas_id;
  }

  /** iommufd_backend_map_dma: fixed IOVA, read-only when asked. */
  map(ioas: number, iova: bigint, hva: bigint, length: number, readonly = false): void {
    const flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | (readonly ? 0 : IOMMU_IOAS_MAP_WRITEABLE);
    this.fd.ioctl(IOMMU_IOAS_MAP, { flags, ioas_id: ioas, user_va: hva, length: BigInt(length), iova });
  }

  /** iommufd_backend_unmap_dma: an unmap of nothing (ENOENT) counts as done, as with the legacy backend. */
  unmap(ioas: number, iova: bigint, length: bigint): bigint {
    const cmd = { ioas_id: ioas, iova, length };
    try {
      this.fd.ioctl(IOMMU_IOAS_UNMAP, cmd);
    } catch (e) {
      if (e instanceof ErrnoError && e.code === 'ENOENT') return 0n;
      throw e;
    }
    return cmd.length;
  }

  /** IOMMU_IOAS_IOVA_RANGES: the usable IOVA ranges of an IOAS (what its attached domains allow). */
  iovaRanges(ioas: number): { start: bigint; last: bigint }[] {
    const max = 64;
    const cmd = { ioas_id: ioas, num_iovas: max, out_iova_alignment: 0n, allowed_iovas: this.scratch.address };
    this.fd.ioctl(IOMMU_IOAS_IOVA_RANGES, cmd);
    const bytes = this.scratch.get(Math.min(cmd.num_iovas, max) * 16);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out: { start: bigint; last: bigint }[] = [];
    for (let i = 0; i < Math.min(cmd.num_iovas, max); i++) out.push({ start: dv.getBigUint64(i * 16, true), last: dv.getBigUint64(i * 16 + 8, true) });
    return out;
  }

  hwptAlloc(devId: number, ptId: number, flags: number, dataType = IOMMU_HWPT_DATA_NONE, data?: Uint8Array, faultId?: number): number {
    const cmd = {
      flags: flags | (faultId !== undefined ? IOMMU_HWPT_FAULT_ID_VALID : 0),
      dev_id: devId,
      pt_id: ptId,
      out_hwpt_id: 0,
      data_type: dataType,
      data_len: data?.length ?? 0,
      data_uptr: data ? this.scratch.put(data) : 0n,
      fault_id: faultId ?? 0,
    };
    this.fd.ioctl(IOMMU_HWPT_ALLOC, cmd);
    return cmd.out_hwpt_id;
  }

  /** IOMMU_HWPT_INVALIDATE of `entries` (entryLen bytes each) on a nested HWPT or vIOMMU; returns how many were handled. */
  invalidate(hwptId: number, dataType: number, entryLen: number, entries: Uint8Array): number {
    const cmd = { hwpt_id: hwptId, data_uptr: this.scratch.put(entries), data_type: dataType, entry_len: entryLen, entry_num: entries.length / entryLen };
    this.fd.ioctl(IOMMU_HWPT_INVALIDATE, cmd);
    return cmd.entry_num;
  }

  getHwInfo(devId: number): HostHwInfo {
    const cap = 256;
    this.scratch.put(new Uint8Array(cap));
    const cmd = { flags: 0, dev_id: devId, data_len: cap, data_uptr: this.scratch.address, in_data_type: 0, out_data_type: 0, out_max_pasid_log2: 0, out_capabilities: 0n };
    this.fd.ioctl(IOMMU_GET_HW_INFO, cmd);
    return { type: cmd.out_data_type, data: this.scratch.get(Math.min(cmd.data_len, cap)), capabilities: cmd.out_capabilities, maxPasidLog2: cmd.out_max_pasid_log2 };
  }

  viommuAlloc(devId: number, hwptId: number, type: number, data?: Uint8Array): number {
    const cmd = { flags: 0, type, dev_id: devId, hwpt_id: hwptId, out_viommu_id: 0, data_len: data?.length ?? 0, data_uptr: data ? this.scratch.put(data) : 0n };
    this.fd.ioctl(IOMMU_VIOMMU_ALLOC, cmd);
    return cmd.out_viommu_id;
  }

  vdeviceAlloc(viommuId: number, devId: number, virtId: bigint): number {
    const cmd = { viommu_id: viommuId, dev_id: devId, out_vdevice_id: 0, virt_id: virtId };
    this.fd.ioctl(IOMMU_VDEVICE_ALLOC, cmd);
    return cmd.out_vdevice_id;
  }

  /** Returns the vEVENTQ's object ID and the fd to read events from. */
  veventqAlloc(viommuId: number, type: number, depth: number): { id: number; fd: number } {
    const cmd = { flags: 0, viommu_id: viommuId, type, veventq_depth: depth, out_veventq_id: 0, out_veventq_fd: 0 };
    this.fd.ioctl(IOMMU_VEVENTQ_ALLOC, cmd);
    return { id: cmd.out_veventq_id, fd: cmd.out_veventq_fd };
  }

  /** Returns the fault object's ID and the fd to read page requests from. */
  faultQueueAlloc(): { id: number; fd: number } {
    const cmd = { flags: 0, out_fault_id: 0, out_fault_fd: 0 };
    this.fd.ioctl(IOMMU_FAULT_QUEUE_ALLOC, cmd);
    return { id: cmd.out_fault_id, fd: cmd.out_fault_fd };
  }

  destroy(id: number): void {
    this.fd.ioctl(IOMMU_DESTROY, { id });
  }
}
