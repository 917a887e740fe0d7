// poll_wait and wake_up for open files: a process sleeping in poll on a file is woken when the file's owner
// has something for it. The model is single-threaded, so the woken process runs at once, inside wakeUp.
import type { OpenFile } from './vfs.js';

interface WaitQueue {
  readonly waiters: Set<() => void>;
  /** A wake-up arrived while the waiters were running: they run again once they return. */
  pending: boolean;
  running: boolean;
}

const queues = new WeakMap<OpenFile, WaitQueue>();

/**
 * Registers `fn` to run on every wake-up of `file` (epoll_ctl ADD with the process's handler);
 * returns the function that removes it.
 */
export function pollWaitAdd(file: OpenFile, fn: () => void): () => void {
  let q = queues.get(file);
  if (!q) queues.set(file, (q = { waiters: new Set(), pending: false, running: false }));
  q.waiters.add(fn);
  return () => void q.waiters.delete(fn);
}

/**
 * wake_up: runs the file's waiters now. A wake-up from inside a waiter (the file got more while it was
 * being read) does not nest: the waiters run once more after the current round.
 */
export function wakeUp(file: OpenFile | null | undefined): void {
  const q = file ? queues.get(file) : undefined;
  if (!q || q.waiters.size === 0) return;
  if (q.running) {
    q.pending = true;
    return;
  }
  q.running = true;
  try {
    do {
      q.pending = false;
      for (const fn of [...q.waiters]) if (!file!.isReleased) fn();
    } while (q.pending);
  } finally {
    q.running = false;
  }
}

/** Waiters registered on a file. */
export function pollWaiters(file: OpenFile): number {
  return queues.get(file)?.waiters.size ?? 0;
}
