import { describe, expect, it } from 'vitest';
import { pollWaitAdd, pollWaiters, wakeUp } from './poll-wait.js';
import { OpenFile } from './vfs.js';

const file = () => new OpenFile({ name: 'test' }, null, '/test');

describe('poll wait queues', () => {
  it('run every waiter of the file at once on wake_up, and none after removal', () => {
    const f = file();
    const ran: string[] = [];
    const off = pollWaitAdd(f, () => ran.push('a'));
    pollWaitAdd(f, () => ran.push('b'));
    wakeUp(f);
    expect(ran).toEqual(['a', 'b']);
    off();
    wakeUp(f);
    expect(ran).toEqual(['a', 'b', 'b']);
    expect(pollWaiters(f)).toBe(1);
    // Another file, or no file, wakes nobody.
    wakeUp(file());
    wakeUp(null);
    expect(ran.length).toBe(3);
  });

  it('turn a wake-up from inside a waiter into one more round, not a nested call', () => {
    const f = file();
    let depth = 0;
    let maxDepth = 0;
    let rounds = 0;
    pollWaitAdd(f, () => {
      depth++;
      maxDepth = Math.max(maxDepth, depth);
      rounds++;
      if (rounds < 3) wakeUp(f);
      depth--;
    });
    wakeUp(f);
    expect(rounds).toBe(3);
    expect(maxDepth).toBe(1);
  });

  it('wake nobody once the file is released', () => {
    const f = file();
    let n = 0;
    pollWaitAdd(f, () => n++);
    f.put();
    wakeUp(f);
    expect(n).toBe(0);
  });
});
