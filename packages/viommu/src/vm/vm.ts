// A VM as QEMU builds it from its command line: guest RAM in the VMM process, iommufd backends, a vIOMMU,
// passthrough devices; and what the guest reaches: its RAM, MMIO and interrupts.
import { IOMMU_HWPT_ALLOC_NEST_PARENT } from '@iommu-lab/iommu-core';
import { type Host, POLLIN, type Process, type Tracepoint } from '@iommu-lab/platform';
import { IommufdBackend } from '../backends/iommufd.js';
import { parseQemuCommandLine, type QemuCommandLine, type QemuDriverOpts, QemuOptionError } from '../qemu/options.js';
import { IommufdContainer } from '../vfio/container.js';
import { VfioPciDevice } from '../vfio/vfio-pci.js';
import { GuestRam, ramLayout } from './guest-ram.js';
import { MmioBus } from './mmio.js';
import { machineRoms, type RomRegion } from './rom.js';
import { bump, emptyStats, type VmStats } from './stats.js';
import { type HostIommuDevice, type VirtualIommu, virtualIommuFactory } from './viommu-model.js';

const VIOMMU_DRIVERS = ['intel-iommu', 'arm-smmuv3'];
const MACHINE_OF: Record<string, string> = { 'intel-iommu': 'q35', 'arm-smmuv3': 'virt' };

/** A passthrough device in the VM: the VFIO device, its guest RID, its container (address space) and default HWPT. */
export interface VmDevice {
  readonly vfio: VfioPciDevice;
  readonly container: IommufdContainer;
  /** The HWPT the device uses for untranslated DMA: the IOAS's auto HWPT, or the nest parent when the vIOMMU nests. */
  defaultHwpt: number;
}

export class Vm {
  readonly cmdline: QemuCommandLine;
  /** The QEMU process on the host. */
  readonly vmm: Process;
  readonly ram: GuestRam;
  /** Read-only firmware regions (pc.bios on q35). */
  readonly roms: readonly RomRegion[];
  readonly mmio: MmioBus;
  stats: VmStats = emptyStats();
  readonly backends = new Map<string, IommufdBackend>();
  readonly devices: VmDevice[] = [];
  readonly viommu: VirtualIommu | null = null;
  private readonly irqHandlers = new Map<string, () => void>();
  /** The VMM's main loop: fds it waits on (POLLIN) and what it does when they are readable. */
  private readonly fdHandlers = new Map<number, () => void>();
  readonly tp: { ioctl: Tracepoint; exit: Tracepoint; irq: Tracepoint };

  constructor(
    readonly host: Host,
    args: readonly string[] | string,
  ) {
    this.cmdline = parseQemuCommandLine(args);
    const cl = this.cmdline;
    this.tp = { ioctl: host.trace.point('vmm_host_ioctl', 'vmm'), exit: host.trace.point('vm_exit', 'vmm'), irq: host.trace.point('vm_irq', 'vmm') };
    if (!['q35', 'virt'].includes(cl.machine)) throw new QemuOptionError(cl.machineText || `-M ${cl.machine}`, `unsupported machine type '${cl.machine}' (q35 or virt)`);
    if (cl.memory % (2 * 2 ** 20) !== 0 || cl.memory <= 0) throw new QemuOptionError(`-m ${cl.memory}`, 'RAM size must be a positive multiple of 2M');
    this.vmm = host.spawnProcess({ rlimitMemlock: Number.MAX_SAFE_INTEGER });
    this.mmio = new MmioBus(() => this.stats, this.tp.exit);
    try {
      this.ram = new GuestRam(this.vmm, cl.memory, host.mem, ramLayout(cl.machine, cl.memory));
      this.roms = machineRoms(cl.machine, this.vmm);
      this.viommu = this.realize(cl);
    } catch (e) {
      // A refused command line ends the VMM: every fd it opened is closed, nothing stays bound or mapped.
      this.vmm.exit();
      throw e;
    }
  }

  private realize(cl: QemuCommandLine): VirtualIommu | null {
    for (const o of cl.objects) {
      if (o.driver !== 'iommufd') throw new QemuOptionError(o.text, `invalid object type: ${o.driver}`);
      const id = o.props.get('id');
      if (!id) throw new QemuOptionError(o.text, "Parameter 'id' is missing");
      if (this.backends.has(id)) throw new QemuOptionError(o.text, `attempt to add duplicate property '${id}' to object (type 'container')`);
      this.backends.set(id, new IommufdBackend(id, this.vmm, () => this.stats, this.tp.ioctl));
    }
    const viommus = cl.devices.filter((d) => VIOMMU_DRIVERS.includes(d.driver));
    if (viommus.length > 1) throw new QemuOptionError(viommus[1]!.text, 'only one vIOMMU per machine is supported');
    const vi = viommus[0];
    if (vi) {
      if (MACHINE_OF[vi.driver] !== cl.machine) throw new QemuOptionError(vi.text, `${vi.driver} is only supported by the ${MACHINE_OF[vi.driver]} machine`);
      const factory = virtualIommuFactory(vi.driver);
      if (!factory) throw new QemuOptionError(vi.text, `'${vi.driver}' is not a valid device model name`);
      (this as { viommu: VirtualIommu | null }).viommu = factory(this, vi);
    }
    let slot = 3;
    for (const d of cl.devices) {
      if (VIOMMU_DRIVERS.includes(d.driver)) continue;
      if (d.driver !== 'vfio-pci') throw new QemuOptionError(d.text, `'${d.driver}' is not a valid device model name`);
      this.addVfioPci(d, slot++);
    }
    return this.viommu;
  }

  /**
   * vfio_realize with the iommufd backend: bind, default HWPT (a nest parent when the vIOMMU nests),
   * guest RAM at IOVA = GPA, then pci_device_set_iommu_device: the vIOMMU's HostIOMMUDevice check.
   */
  private addVfioPci(d: QemuDriverOpts, slot: number): void {
    const bdf = d.props.get('host');
    if (!bdf) throw new QemuOptionError(d.text, 'No provided host device - Use -device vfio-pci,host=DDDD:BB:DD.F');
    const backendId = d.props.get('iommufd');
    const backend = backendId === undefined ? undefined : this.backends.get(backendId);
    if (backendId !== undefined && !backend) throw new QemuOptionError(d.text, `Device '${backendId}' not found`);
    const guestRid = slot << 3;
    if (!backend) {
      // A legacy VFIO container: the vIOMMU may refuse it by itself (x-flts needs iommufd); this model has none.
      this.setIommuDevice(d, bdf, { name: bdf, kind: 'legacy', dev: null, awBits: 64, caps: null, guestRid, behindBridge: false });
      throw new QemuOptionError(d.text, 'this model only has the iommufd backend: add -object iommufd,id=ID and iommufd=ID');
    }
    let host;
    try {
      host = this.host.device(bdf);
    } catch {
      throw new QemuOptionError(d.text, `vfio ${bdf}: no such host device`);
    }
    const vfio = new VfioPciDevice(d.props.get('id') ?? `vfio${this.devices.length}`, host, guestRid, backend, this.vmm, () => this.stats, this.tp.ioctl);
    // iommufd_cdev_autodomains_get: the vIOMMU's quirks for this host decide what the nest parent may hold.
    const viommu = this.viommu;
    const bypassRo = viommu?.wantNestingParent === true && viommu.hostIommuQuirks?.(vfio.hwInfo).nestingParentBypassRo === true;
    const container = new IommufdContainer(backend, this.ram, this.roms, () => bypassRo);
    let defaultHwpt: number;
    if (this.viommu?.wantNestingParent) {
      // "vfio/iommufd: Force creating nesting parent HWPT".
      defaultHwpt = backend.hwptAlloc(vfio.devId, container.ioas, IOMMU_HWPT_ALLOC_NEST_PARENT);
      vfio.attach(defaultHwpt);
    } else {
      defaultHwpt = vfio.attach(container.ioas);
    }
    container.mapRam();
    const dev: VmDevice = { vfio, container, defaultHwpt };
    const ranges = backend.iovaRanges(container.ioas);
    const last = ranges.length ? ranges[ranges.length - 1]!.last : 0n;
    const awBits = ranges.length ? last.toString(2).length : 64;
    this.setIommuDevice(d, bdf, { name: bdf, kind: 'iommufd', dev, awBits, caps: vfio.hwInfo, guestRid, behindBridge: false });
    this.devices.push(dev);
  }

  /** pci_device_set_iommu_device; a refusal fails the realize as "vfio BDF: why". */
  private setIommuDevice(d: QemuDriverOpts, bdf: string, hiod: HostIommuDevice): void {
    if (!this.viommu) return;
    try {
      this.viommu.setIommuDevice(hiod);
    } catch (e) {
      if (e instanceof QemuOptionError) throw e;
      throw new QemuOptionError(d.text, `vfio ${bdf}: ${(e as Error).message}`);
    }
  }

  /** The main loop watches `fd` for input (qemu_set_fd_handler). */
  addFdHandler(fd: number, handler: () => void): void {
    this.fdHandlers.set(fd, handler);
  }

  /** One turn of the VMM's main loop: every readable fd's handler runs. The guest calls it when it waits. */
  mainLoop(): void {
    for (const [fd, handler] of this.fdHandlers) if (this.vmm.poll(fd, POLLIN) & POLLIN) handler();
  }

  /** The guest registers its handler for an interrupt line ("dmar-fault"). */
  onIrq(line: string, handler: () => void): void {
    this.irqHandlers.set(line, handler);
  }

  /** A device raises an interrupt: the guest's handler runs (an injection, counted as an exit cause). */
  raiseIrq(line: string): void {
    bump(this.stats.vmExits, `irq:${line}`);
    if (this.tp.irq.enabled) this.tp.irq.emit({ line });
    this.irqHandlers.get(line)?.();
  }

  device(id: string): VmDevice {
    const d = this.devices.find((x) => x.vfio.id === id);
    if (!d) throw new RangeError(`no device ${id} in the VM`);
    return d;
  }

  /** Stops the VM: the VMM process exits, closing every fd (VFIO devices, iommufd). */
  shutdown(): void {
    if (!this.vmm.exited) this.viommu?.unrealize?.();
    this.vmm.exit();
  }
}
