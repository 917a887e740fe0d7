import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { IommufdCtx } from './context.js';
import { IommufdObject } from './object.js';

class Obj extends IommufdObject {
  readonly type = 'SELFTEST';
  destroyed = 0;
  destroy(): void {
    this.destroyed++;
  }
}

function add(ctx: IommufdCtx): Obj {
  const o = new Obj();
  ctx.allocId(o);
  ctx.finalize(o);
  return o;
}

describe('iommufd object table (main.c)', () => {
  it('hands out the lowest free ID from 1, never a tombstoned one', () => {
    const ctx = new IommufdCtx(new Host({ memory: 2 ** 21 }));
    const [a, b, c] = [add(ctx), add(ctx), add(ctx)];
    expect([a.id, b.id, c.id]).toEqual([1, 2, 3]);
    ctx.remove(2);
    expect(add(ctx).id).toBe(2);
    ctx.remove(1, { tombstone: true });
    expect(add(ctx).id).toBe(4);
    expect(() => ctx.getObject(1)).toThrow(/ENOENT/);
  });

  it('refuses to remove an object with other users (EBUSY) and leaves it in place', () => {
    const ctx = new IommufdCtx(new Host({ memory: 2 ** 21 }));
    const a = add(ctx);
    a.get();
    expect(() => ctx.remove(a.id)).toThrow(/EBUSY/);
    expect(ctx.getObject(a.id)).toBe(a);
    a.put();
    ctx.remove(a.id);
    expect(a.destroyed).toBe(1);
    expect(() => ctx.remove(a.id)).toThrow(/ENOENT/);
  });

  it('a reserved ID is invisible until finalized, and an abort frees it', () => {
    const ctx = new IommufdCtx(new Host({ memory: 2 ** 21 }));
    const o = new Obj();
    ctx.allocId(o);
    expect(() => ctx.getObject(o.id)).toThrow(/ENOENT/);
    ctx.abortAndDestroy(o);
    expect(o.destroyed).toBe(1);
    expect(add(ctx).id).toBe(1);
  });

  it('close destroys leaves first until nothing is left', () => {
    const ctx = new IommufdCtx(new Host({ memory: 2 ** 21 }));
    const order: number[] = [];
    const parent = add(ctx);
    const child = add(ctx);
    parent.get(); // the child holds the parent
    parent.destroy = () => void order.push(parent.id);
    child.destroy = () => {
      order.push(child.id);
      parent.put();
    };
    ctx.release();
    expect(order).toEqual([2, 1]);
    expect(ctx.empty).toBe(true);
  });
});
