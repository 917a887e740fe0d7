// /proc/PID/maps and /proc/PID/stat of a real process, parsed (proc(5)).
import { readFileSync } from 'node:fs';

/** One line of /proc/PID/maps. */
export interface RealVma {
  start: number;
  end: number;
  read: boolean;
  write: boolean;
  exec: boolean;
  shared: boolean;
  /** File offset of `start` in bytes. */
  offset: number;
  /** "major:minor" of the backing inode's device, hex as the kernel prints it. */
  dev: string;
  inode: number;
  path: string;
}

/** Parses the text of /proc/PID/maps; lines are "start-end perms offset dev inode [path]". */
export function parseMaps(text: string): RealVma[] {
  const out: RealVma[] = [];
  let pos = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const line = text.slice(pos, nl);
    pos = nl + 1;
    if (line.length === 0) continue;
    const dash = line.indexOf('-');
    const sp1 = line.indexOf(' ', dash);
    const sp2 = line.indexOf(' ', sp1 + 1);
    const sp3 = line.indexOf(' ', sp2 + 1);
    const sp4 = line.indexOf(' ', sp3 + 1);
    let sp5 = line.indexOf(' ', sp4 + 1);
    if (sp5 < 0) sp5 = line.length;
    const perms = line.slice(sp1 + 1, sp2);
    out.push({
      start: parseInt(line.slice(0, dash), 16),
      end: parseInt(line.slice(dash + 1, sp1), 16),
      read: perms[0] === 'r',
      write: perms[1] === 'w',
      exec: perms[2] === 'x',
      shared: perms[3] === 's',
      offset: parseInt(line.slice(sp2 + 1, sp3), 16),
      dev: line.slice(sp3 + 1, sp4),
      inode: parseInt(line.slice(sp4 + 1, sp5), 10),
      path: line.slice(sp5).trimStart(),
    });
  }
  return out;
}

export function readMaps(pid: number): RealVma[] {
  return parseMaps(readFileSync(`/proc/${pid}/maps`, 'latin1'));
}

/** What /proc/PID/stat says about a process's lifetime. */
export interface ProcLife {
  /** 'R', 'S', 'Z', ... (field 3). */
  state: string;
  /** PF_* flags (field 9). */
  flags: number;
  /** Start time in clock ticks after boot (field 22): tells a reused pid from the original. */
  startTime: number;
}

const PF_EXITING = 0x4;

/** Parses /proc/PID/stat; the command name (field 2) may hold spaces and parentheses. */
export function parseStat(text: string): ProcLife {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3.
  return { state: rest[0]!, flags: Number(rest[6]), startTime: Number(rest[19]) };
}

/** The process's life as /proc shows it, or null when the pid is gone. */
export function procLife(pid: number): ProcLife | null {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return null;
  }
}

/** True while `pid` is the process that started at `startTime` and is not exiting or a zombie. */
export function processAlive(pid: number, startTime: number): boolean {
  const s = procLife(pid);
  if (!s || s.startTime !== startTime) return false;
  return s.state !== 'Z' && s.state !== 'X' && (s.flags & PF_EXITING) === 0;
}
