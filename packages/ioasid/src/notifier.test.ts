import { describe, expect, it } from 'vitest';
import { IOASID_PRIO_CPU, IOASID_PRIO_DEVICE, IOASID_PRIO_IOMMU, IOASID_PRIO_LAST, NotifierChain } from './notifier.js';
import { IoasidSet } from './set.js';
import { errnoOf } from '@iommu-lab/platform';
import type { IoasidFreeEvent } from './types.js';

const event: IoasidFreeEvent = { id: 5, set: new IoasidSet(0, 1, undefined, new Set([5])), private: null };

describe('NotifierChain', () => {
  it('has the kernel priorities: LAST 0 < DEVICE 1 < IOMMU 2 < CPU 3', () => {
    expect([IOASID_PRIO_LAST, IOASID_PRIO_DEVICE, IOASID_PRIO_IOMMU, IOASID_PRIO_CPU]).toEqual([0, 1, 2, 3]);
  });

  it('calls higher priorities first and equal ones in registration order', () => {
    const c = new NotifierChain();
    const order: string[] = [];
    c.register(() => order.push('dev-a'), IOASID_PRIO_DEVICE, 't');
    c.register(() => order.push('last'), IOASID_PRIO_LAST, 't');
    c.register(() => order.push('cpu'), IOASID_PRIO_CPU, 't');
    c.register(() => order.push('dev-b'), IOASID_PRIO_DEVICE, 't');
    c.call(event);
    expect(order).toEqual(['cpu', 'dev-a', 'dev-b', 'last']);
  });

  it('calls the notifiers present when the call starts, even if one unregisters another', () => {
    const c = new NotifierChain();
    const order: string[] = [];
    const second = () => order.push('second');
    c.register(() => {
      order.push('first');
      c.unregister(second, 't');
    }, 1, 't');
    c.register(second, 0, 't');
    c.call(event);
    c.call(event);
    expect(order).toEqual(['first', 'second', 'first']);
    expect(c.length).toBe(1);
  });

  it('returns the first exception after calling everyone', () => {
    const c = new NotifierChain();
    const e1 = new Error('one');
    let calls = 0;
    c.register(() => {
      calls++;
      throw e1;
    }, 2, 't');
    c.register(() => {
      calls++;
      throw new Error('two');
    }, 1, 't');
    c.register(() => calls++, 0, 't');
    expect(c.call(event)).toEqual({ error: e1 });
    expect(calls).toBe(3);
  });

  it('refuses a non-function, a fractional priority, duplicates and unknown notifiers', () => {
    const c = new NotifierChain();
    const nb = () => undefined;
    expect(errnoOf(() => c.register(42 as unknown as typeof nb, 0, 't'))).toBe('EINVAL');
    expect(errnoOf(() => c.register(nb, 0.5, 't'))).toBe('EINVAL');
    c.register(nb, 0, 't');
    expect(errnoOf(() => c.register(nb, 1, 't'))).toBe('EEXIST');
    expect(errnoOf(() => c.unregister(() => undefined, 't'))).toBe('ENOENT');
    expect(c.length).toBe(1);
  });
});
