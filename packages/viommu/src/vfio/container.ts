// The VFIO container of an address space on iommufd: guest RAM at IOVA = GPA, or shadow mappings a vIOMMU drives.
import type { IommufdBackend } from '../backends/iommufd.js';
import type { GuestRam } from '../vm/guest-ram.js';
import type { RomRegion } from '../vm/rom.js';

const ALL = 0xffff_ffff_ffff_ffffn;

export class IommufdContainer {
  readonly ioas: number;
  /** True while guest RAM is mapped at IOVA = GPA (the system address space). */
  ramMapped = false;

  /** The read-only regions mapped with the RAM (none under HOST_IOMMU_QUIRK_NESTING_PARENT_BYPASS_RO). */
  private romsMapped: readonly RomRegion[] = [];

  constructor(
    readonly backend: IommufdBackend,
    readonly ram: GuestRam,
    private readonly roms: readonly RomRegion[] = [],
    /** True when read-only sections must stay out of this container's (nest-parent) page table. */
    private readonly bypassRo: () => boolean = () => false,
  ) {
    this.ioas = backend.ioasAlloc();
  }

  /** vfio_listener_region_add for each RAM section (IOVA = GPA) and each ROM, read-only, unless the quirk says no. */
  mapRam(): void {
    if (this.ramMapped) return;
    for (const s of this.ram.sections) this.backend.map(this.ioas, BigInt(s.gpa), this.ram.hva + BigInt(s.offset), s.size);
    this.romsMapped = this.bypassRo() ? [] : this.roms;
    for (const r of this.romsMapped) this.backend.map(this.ioas, BigInt(r.gpa), r.hva, r.size, true);
    this.ramMapped = true;
  }

  /** vfio_listener_region_del for each section mapped. */
  unmapRam(): void {
    if (!this.ramMapped) return;
    for (const s of this.ram.sections) this.backend.unmap(this.ioas, BigInt(s.gpa), BigInt(s.size));
    for (const r of this.romsMapped) this.backend.unmap(this.ioas, BigInt(r.gpa), BigInt(r.size));
    this.romsMapped = [];
    this.ramMapped = false;
  }

  /** An IOMMU region went away: its whole range is unmapped (whatever shadow mappings it had). */
  unmapAll(): void {
    this.backend.unmap(this.ioas, 0n, ALL);
    this.romsMapped = [];
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
