// /proc/PID/task/TID/fail-nth served from the simulator's fault injection, one countdown per task.
import { ErrnoError, type FaultInjector, type FileOps, O_RDWR, OpenFile } from '@iommu-lab/platform';

/** A task's fail_nth: the Nth failable site it reaches fails; reads back what is left (0 once fired). */
export class TaskFailNth {
  remaining = 0;
  private sitesAtArm = 0;
  private active = false;

  /** Around a system call of the task: the host's injector counts for it alone. */
  enter(faults: FaultInjector): void {
    if (this.remaining === 0) return;
    faults.arm(this.remaining);
    this.sitesAtArm = faults.sites;
    this.active = true;
  }

  leave(faults: FaultInjector): void {
    if (!this.active) return;
    this.active = false;
    this.remaining = faults.fired ? 0 : Math.max(0, this.remaining - (faults.sites - this.sitesAtArm));
    faults.arm(0);
  }
}

/** The open file: its position for read(), and the task it controls. */
export class FailNthFile {
  pos = 0;
  constructor(readonly task: TaskFailNth) {}

  /** proc_fail_nth_read: "%u\n" from the offset. */
  read(length: number, offset: number): Uint8Array {
    const text = new TextEncoder().encode(`${this.task.remaining}\n`);
    if (offset >= text.length) return new Uint8Array(0);
    return text.subarray(offset, Math.min(text.length, offset + length));
  }

  /** proc_fail_nth_write: kstrtouint (base 0, one trailing newline) then the countdown; returns count. */
  write(bytes: Uint8Array): number {
    let s = new TextDecoder('latin1').decode(bytes);
    if (s.endsWith('\n')) s = s.slice(0, -1);
    let v: number;
    if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = parseInt(s.slice(2), 16);
    else if (/^0[0-7]*$/.test(s)) v = parseInt(s, 8);
    else if (/^\+?[1-9][0-9]*$/.test(s)) v = parseInt(s, 10);
    else throw new ErrnoError('EINVAL', 'write', `fail-nth: "${s}" is not a number`);
    if (v > 0xffff_ffff) throw new ErrnoError('ERANGE', 'write', 'fail-nth: above UINT_MAX');
    this.task.remaining = v;
    return bytes.length;
  }
}

export const failNthOps: FileOps = {
  name: 'fail-nth',
  read(file, length) {
    const f = file.priv as FailNthFile;
    const out = f.read(length, f.pos);
    f.pos += out.length;
    return out;
  },
  write(file, bytes) {
    return (file.priv as FailNthFile).write(bytes);
  },
};

export function openFailNth(task: TaskFailNth, path: string): OpenFile {
  return new OpenFile(failNthOps, new FailNthFile(task), path, O_RDWR);
}

/** The task a fail-nth path names: /proc/<pid>/task/<tid>/fail-nth or /proc/<pid>/fail-nth (the main thread). */
export function failNthTarget(path: string): number | null {
  const m = /^\/proc\/(\d+)\/(?:task\/(\d+)\/)?fail-nth$/.exec(path);
  if (!m) return null;
  return Number(m[2] ?? m[1]);
}
