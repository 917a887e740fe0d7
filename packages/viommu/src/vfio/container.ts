// The VFIO container of an address space on iommufd: guest RAM at IOVA = GPA, or shadow mappings a vIOMMU drives.
import type { IommufdBackend } from '../backends/iommufd.js';
import type { GuestRam } from '../vm/guest-ram.js';

const ALL = 0xffff_ffff_ffff_ffffn;

export class IommufdContainer {
  readonly ioas: number;
  /** True while guest RAM is mapped at IOVA = GPA (the system address space). */
  ramMapped = false;

  constructor(
    readonly backend: IommufdBackend,
    readonly ram: GuestRam,
  ) {
    this.ioas = backend.ioasAlloc();
  }

  /** vfio_listener_region_add for each RAM section: guest RAM at IOVA = GPA. */
  mapRam(): void {
    if (this.ramMapped) return;
    for (const s of this.ram.sections) this.backend.map(this.ioas, BigInt(s.gpa), this.ram.hva + BigInt(s.offset), s.size);
    this.ramMapped = true;
  }

  /** vfio_listener_region_del for each RAM section. */
  unmapRam(): void {
    if (!this.ramMapped) return;
    for (const s of this.ram.sections) this.backend.unmap(this.ioas, BigInt(s.gpa), BigInt(s.size));
    this.ramMapped = false;
  }

  /** An IOMMU region went away: its whole range is unmapped (whatever shadow mappings it had). */
  unmapAll(): void {
    this.backend.unmap(this.ioas, 0n, ALL);
    this.ramMapped = false;
  }

  /** A shadow mapping from a vIOMMU's MAP notifier: IOVA -> the HVA of a guest page. */
  mapShadow(iova: bigint, gpa: number, length: number, readonly: boolean): void {
    this.backend.map(this.ioas, iova, this.ram.hvaOf(gpa), length, readonly);
  }

  unmapShadow(iova: bigint, length: bigint): void {
    this.backend.unmap(this.ioas, iova, length);
  }
}
