// The QEMU command line a VM is described with: -m, -M, -device, -object, parsed as qemu-options.hx does.
import { parseSize } from '@iommu-lab/platform';

/** A refusal worded as QEMU words it ("qemu-system-x86_64: -device intel-iommu,...: <why>"). */
export class QemuOptionError extends Error {
  constructor(
    readonly option: string,
    readonly reason: string,
  ) {
    super(`qemu-system: ${option}: ${reason}`);
    this.name = 'QemuOptionError';
  }
}

/** One -device or -object: its driver (or type) and properties in order, as given. */
export interface QemuDriverOpts {
  readonly driver: string;
  readonly props: ReadonlyMap<string, string>;
  /** The option as written, for error messages ("-device intel-iommu,x-flts=on"). */
  readonly text: string;
}

export interface QemuCommandLine {
  /** -m in bytes (QEMU's default is 128M). */
  readonly memory: number;
  /** -M / -machine type (q35 or virt). */
  readonly machine: string;
  readonly machineText: string;
  readonly devices: readonly QemuDriverOpts[];
  readonly objects: readonly QemuDriverOpts[];
}

/** Splits "a,b=c,d" as QemuOpts does: ",," is a literal comma; the first item without '=' is the implied key. */
function parseOpts(flag: string, value: string, implied: string): QemuDriverOpts {
  const text = `${flag} ${value}`;
  const items: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] === ',' && value[i + 1] === ',') {
      cur += ',';
      i++;
    } else if (value[i] === ',') {
      items.push(cur);
      cur = '';
    } else {
      cur += value[i];
    }
  }
  items.push(cur);
  const props = new Map<string, string>();
  let driver = '';
  items.forEach((item, i) => {
    const eq = item.indexOf('=');
    if (i === 0 && eq < 0) {
      driver = item;
      return;
    }
    if (eq < 0) throw new QemuOptionError(text, `Invalid parameter '${item}'`);
    const key = item.slice(0, eq);
    if (i === 0 && key === implied) driver = item.slice(eq + 1);
    else props.set(key, item.slice(eq + 1));
  });
  if (!driver) throw new QemuOptionError(text, `Parameter '${implied}' is missing`);
  return { driver, props, text };
}

/** Splits a command line string on whitespace (no shell quoting: QEMU options here have no spaces). */
export function splitArgs(line: string): string[] {
  return line.trim().split(/\s+/).filter(Boolean);
}

export function parseQemuCommandLine(args: readonly string[] | string): QemuCommandLine {
  const argv = typeof args === 'string' ? splitArgs(args) : args;
  let memory = 128 * 2 ** 20;
  let machine = 'q35';
  let machineText = '';
  const devices: QemuDriverOpts[] = [];
  const objects: QemuDriverOpts[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!.replace(/^--/, '-');
    const value = argv[i + 1];
    if (!['-m', '-M', '-machine', '-device', '-object'].includes(flag)) throw new QemuOptionError(flag, 'invalid option');
    if (value === undefined) throw new QemuOptionError(flag, 'requires an argument');
    i++;
    if (flag === '-m') {
      try {
        // A bare number is MiB, as QEMU reads -m.
        memory = /^\d+$/.test(value) ? Number(value) * 2 ** 20 : parseSize(value.replace(/^size=/, ''));
      } catch {
        throw new QemuOptionError(`-m ${value}`, 'Parameter size expects a non-negative number below 2^64');
      }
    } else if (flag === '-M' || flag === '-machine') {
      const m = parseOpts(flag, value, 'type');
      machine = m.driver;
      machineText = m.text;
    } else if (flag === '-device') {
      devices.push(parseOpts(flag, value, 'driver'));
    } else {
      objects.push(parseOpts(flag, value, 'qom-type'));
    }
  }
  return { memory, machine, machineText, devices, objects };
}

/** A QEMU boolean property: on/off/yes/no/true/false. */
export function qemuBool(opts: QemuDriverOpts, name: string, dflt: boolean): boolean {
  const v = opts.props.get(name);
  if (v === undefined) return dflt;
  if (['on', 'yes', 'true', 'y'].includes(v)) return true;
  if (['off', 'no', 'false', 'n'].includes(v)) return false;
  throw new QemuOptionError(opts.text, `Parameter '${name}' expects 'on' or 'off'`);
}

/** A QEMU unsigned integer property. */
export function qemuUint(opts: QemuDriverOpts, name: string, dflt: number, max: number): number {
  const v = opts.props.get(name);
  if (v === undefined) return dflt;
  const n = /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n > max) throw new QemuOptionError(opts.text, `Parameter '${name}' expects uint${max > 0xffff ? 32 : max > 0xff ? 16 : 8}`);
  return n;
}

/** Refuses properties the device does not have, as qdev does ("Property 'intel-iommu.x' not found"). */
export function checkKnownProps(opts: QemuDriverOpts, known: readonly string[]): void {
  for (const k of opts.props.keys()) {
    if (!known.includes(k)) throw new QemuOptionError(opts.text, `Property '${opts.driver}.${k}' not found`);
  }
}
