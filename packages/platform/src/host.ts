// The machine under the kernel: RAM, frames, PCI devices, device nodes, processes and tracing.
import { ErrnoError } from './errno.js';
import { FaultInjector } from './fault-inject.js';
import { FrameAllocator } from './frame-allocator.js';
import { PciDevice, type PciDeviceConfig } from './pci.js';
import { PhysMem } from './phys-mem.js';
import { registerProcSelfExe } from './proc-self-exe.js';
import { type Capability, Process, UserAccount } from './process.js';
import { Tracer } from './trace.js';
import { Vfs } from './vfs.js';

export interface MachineConfig {
  /** RAM in bytes (a multiple of 2 MiB). */
  memory: number;
  devices?: readonly PciDeviceConfig[];
}

export interface SpawnOptions {
  uid?: number;
  capabilities?: Iterable<Capability>;
  rlimitMemlock?: number;
}

/**
 * The platform of one simulated host. Kernel subsystems attach to it at creation (they register
 * device nodes in `vfs` and keep their per-host state under a symbol in `ext`).
 */
export class Host {
  readonly mem: PhysMem;
  readonly faults = new FaultInjector();
  readonly frames: FrameAllocator;
  readonly vfs = new Vfs();
  readonly trace = new Tracer();
  readonly devices: readonly PciDevice[];
  /** Per-host state of kernel subsystems, keyed by a symbol each subsystem owns. */
  readonly ext = new Map<symbol, unknown>();
  private readonly users = new Map<number, UserAccount>();
  private readonly live = new Set<Process>();
  private nextPid = 1000;

  constructor(cfg: MachineConfig) {
    this.mem = new PhysMem(cfg.memory);
    this.frames = new FrameAllocator(this.mem, this.faults);
    const devices: PciDevice[] = [];
    const seen = new Set<string>();
    for (const d of cfg.devices ?? []) {
      const dev = new PciDevice(d, this.mem, this.trace);
      if (seen.has(dev.bdf)) throw new RangeError(`device ${dev.bdf} is listed twice`);
      seen.add(dev.bdf);
      devices.push(dev);
    }
    this.devices = devices;
    registerProcSelfExe(this.vfs, this.frames, this.mem);
  }

  /** The PCI device at a BDF ("0000:01:00.0"); ENODEV names it when absent. */
  device(bdf: string): PciDevice {
    const d = this.devices.find((x) => x.bdf === bdf.toLowerCase());
    if (!d) throw new ErrnoError('ENODEV', 'pci', `no device ${bdf} (have: ${this.devices.map((x) => x.bdf).join(', ') || 'none'})`);
    return d;
  }

  /** A new process of `uid` (root by default, with every capability). */
  spawnProcess(opts: SpawnOptions = {}): Process {
    const p = new Process(this, this.user(opts.uid ?? 0), opts);
    this.live.add(p);
    return p;
  }

  /** Processes that have not exited. */
  get processes(): readonly Process[] {
    return [...this.live];
  }

  user(uid: number): UserAccount {
    let u = this.users.get(uid);
    if (!u) this.users.set(uid, (u = new UserAccount(uid)));
    return u;
  }

  /** Ends every live process (closing its files), as a shutdown would. */
  shutdown(): void {
    for (const p of [...this.live]) p.exit();
  }

  /** @internal */
  allocPid(): number {
    return this.nextPid++;
  }

  /** @internal fork() registers the child. */
  adopt(p: Process): void {
    this.live.add(p);
  }

  /** @internal exit() unregisters. */
  reap(p: Process): void {
    this.live.delete(p);
  }
}
