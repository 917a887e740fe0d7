import { FaultInjector } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { FailNthFile, failNthTarget, TaskFailNth } from './fail-nth.js';

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('fail-nth', () => {
  it('fails the Nth site of the task and reads back 0 once fired', () => {
    const faults = new FaultInjector();
    const task = new TaskFailNth();
    const f = new FailNthFile(task);
    expect(f.write(new TextEncoder().encode('3\n'))).toBe(2);
    task.enter(faults);
    faults.check('a');
    faults.check('b');
    expect(() => faults.check('c')).toThrow(expect.objectContaining({ code: 'ENOMEM' }));
    task.leave(faults);
    expect(text(f.read(16, 0))).toBe('0\n');
    // Disarmed between the task's system calls: other tasks' sites do not count.
    expect(faults.armed).toBe(false);
  });

  it('keeps the countdown across system calls when nothing fired', () => {
    const faults = new FaultInjector();
    const task = new TaskFailNth();
    new FailNthFile(task).write(new TextEncoder().encode('5'));
    task.enter(faults);
    faults.check('a');
    faults.check('b');
    task.leave(faults);
    expect(task.remaining).toBe(3);
    faults.check('another task');
    task.enter(faults);
    faults.check('c');
    faults.check('d');
    expect(() => faults.check('e')).toThrow(expect.objectContaining({ code: 'ENOMEM' }));
    task.leave(faults);
    expect(task.remaining).toBe(0);
  });

  it('parses like kstrtouint (base 0) and reads from an offset', () => {
    const task = new TaskFailNth();
    const f = new FailNthFile(task);
    f.write(new TextEncoder().encode('0x10'));
    expect(task.remaining).toBe(16);
    f.write(new TextEncoder().encode('010'));
    expect(task.remaining).toBe(8);
    expect(text(f.read(16, 1))).toBe('\n');
    expect(f.read(16, 2).length).toBe(0);
    expect(() => f.write(new TextEncoder().encode('-1'))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => f.write(new TextEncoder().encode('4294967296'))).toThrow(expect.objectContaining({ code: 'ERANGE' }));
  });

  it('names the task of /proc/PID/task/TID/fail-nth', () => {
    expect(failNthTarget('/proc/12/task/34/fail-nth')).toBe(34);
    expect(failNthTarget('/proc/12/fail-nth')).toBe(12);
    expect(failNthTarget('/proc/12/task/34/status')).toBeNull();
  });
});
