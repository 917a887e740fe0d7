import { readFileSync } from 'node:fs';
import type { StructCodec } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import * as uapi from './iommufd.js';

// iommufd-layout.json: sizeof/offsetof of every struct of include/uapi/linux/iommufd.h 7.3.4,
// printed by a C program compiled against the header (tools/uapi-layout.py).
const layout = JSON.parse(readFileSync(new URL('./iommufd-layout.json', import.meta.url), 'utf8')) as Record<
  string,
  { size: number; fields: Record<string, [number, number]> }
>;

const WIDTH: Record<string, number> = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8, s64: 8 };

describe('iommufd uAPI structs', () => {
  const codecs = (Object.values(uapi) as unknown[]).filter((v): v is StructCodec<object> => typeof v === 'object' && v !== null && 'fields' in v);

  it('cover every struct of the 7.3.4 header', () => {
    expect(codecs.map((c) => c.name).sort()).toEqual(Object.keys(layout).sort());
  });

  it.each(Object.keys(layout))('%s has the compiler layout', (name) => {
    const codec = codecs.find((c) => c.name === name)!;
    const want = layout[name]!;
    expect(codec.size).toBe(want.size);
    const got: Record<string, [number, number]> = {};
    for (const [field, spec] of Object.entries(codec.fields)) {
      const type = spec[1] as string;
      got[field] = [spec[0], WIDTH[type]! * ((spec[2] as number | undefined) ?? 1)];
    }
    expect(got).toEqual(want.fields);
  });
});

describe('iommufd ioctl numbers', () => {
  it('are _IO(";", nr) with no size bits', () => {
    expect(uapi.IOMMU_DESTROY).toBe(0x3b80);
    expect(uapi.IOMMU_IOAS_MAP).toBe(0x3b85);
    expect(uapi.IOMMU_HWPT_ALLOC).toBe(0x3b89);
    expect(uapi.IOMMU_GET_HW_INFO).toBe(0x3b8a);
    expect(uapi.IOMMU_HWPT_INVALIDATE).toBe(0x3b8d);
    expect(uapi.IOMMU_IOAS_MAP_FILE).toBe(0x3b8f);
    expect(uapi.IOMMU_VIOMMU_ALLOC).toBe(0x3b90);
    expect(uapi.IOMMU_HW_QUEUE_ALLOC).toBe(0x3b94);
    expect(uapi.IOMMU_IOAS_NOIOMMU_GET_PA).toBe(0x3b95);
  });
});
