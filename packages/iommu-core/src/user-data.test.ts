import { defineStruct, Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { iommuCopyStructFromFullUserArray, iommuCopyStructFromUser, iommuCopyStructFromUserArray } from './user-data.js';
import { iommu_hwpt_vtd_s1 } from './uapi/iommufd.js';

const entry = defineStruct('test_entry', 8, { a: [0, 'u32'], b: [4, 'u32'] });

function proc() {
  return new Host({ memory: 16 * 2 ** 20 }).spawnProcess();
}

describe('iommu_copy_struct_from_user', () => {
  it('copies the vendor struct and zero-extends a short one', () => {
    const p = proc();
    const va = p.mmap(4096);
    p.memWrite(va, iommu_hwpt_vtd_s1.encode({ flags: 1n, pgtbl_addr: 0x1234000n, addr_width: 48 }));
    const got = iommuCopyStructFromUser(iommu_hwpt_vtd_s1, { type: 1, uptr: va, len: 24, proc: p }, 1, 24);
    expect(got).toEqual({ flags: 1n, pgtbl_addr: 0x1234000n, addr_width: 48, __reserved: 0 });
    const short = iommuCopyStructFromUser(iommu_hwpt_vtd_s1, { type: 1, uptr: va, len: 16, proc: p }, 1, 8);
    expect(short.addr_width).toBe(0);
  });

  it('refuses another type, a length under the minimum or over sizeof with EINVAL, a bad pointer with EFAULT', () => {
    const p = proc();
    const va = p.mmap(4096);
    const data = (type: number, len: number, uptr = va) => ({ type, uptr, len, proc: p });
    expect(() => iommuCopyStructFromUser(iommu_hwpt_vtd_s1, data(2, 24), 1, 24)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => iommuCopyStructFromUser(iommu_hwpt_vtd_s1, data(1, 20), 1, 24)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => iommuCopyStructFromUser(iommu_hwpt_vtd_s1, data(1, 32), 1, 24)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => iommuCopyStructFromUser(iommu_hwpt_vtd_s1, data(1, 24, 0x1000n), 1, 24)).toThrowError(expect.objectContaining({ code: 'EFAULT' }));
  });
});

describe('user data arrays', () => {
  it('index entries by entry_len, which may not exceed sizeof', () => {
    const p = proc();
    const va = p.mmap(4096);
    p.memWrite(va, Uint8Array.of(1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0));
    const arr = { type: 7, uptr: va, entry_len: 8, entry_num: 2, proc: p };
    expect(iommuCopyStructFromUserArray(entry, arr, 7, 1, 8)).toEqual({ a: 3, b: 4 });
    expect(iommuCopyStructFromUserArray(entry, { ...arr, entry_len: 4 }, 7, 1, 4)).toEqual({ a: 2, b: 0 });
    expect(() => iommuCopyStructFromUserArray(entry, arr, 7, 2, 8)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => iommuCopyStructFromUserArray(entry, { ...arr, entry_len: 12 }, 7, 0, 8)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('copy a full array item by item when entry_len differs from sizeof', () => {
    const p = proc();
    const va = p.mmap(4096);
    p.memWrite(va, Uint8Array.of(1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0));
    expect(iommuCopyStructFromFullUserArray(entry, { type: 7, uptr: va, entry_len: 12, entry_num: 2, proc: p }, 7)).toEqual([{ a: 1, b: 2 }, { a: 3, b: 4 }]);
    expect(iommuCopyStructFromFullUserArray(entry, { type: 7, uptr: va, entry_len: 4, entry_num: 2, proc: p }, 7)).toEqual([{ a: 1, b: 0 }, { a: 2, b: 0 }]);
    p.memWrite(va + 8n, Uint8Array.of(9));
    expect(() => iommuCopyStructFromFullUserArray(entry, { type: 7, uptr: va, entry_len: 12, entry_num: 1, proc: p }, 7)).toThrowError(expect.objectContaining({ code: 'E2BIG' }));
    expect(() => iommuCopyStructFromFullUserArray(entry, { type: 8, uptr: va, entry_len: 8, entry_num: 1, proc: p }, 7)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => iommuCopyStructFromFullUserArray(entry, { type: 7, uptr: va, entry_len: 8, entry_num: 0, proc: p }, 7)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
  });
});
