import { describe, expect, it } from 'vitest';
import { ramLayout } from './guest-ram.js';

const GiB = 2 ** 30;

describe('guest RAM layout', () => {
  it('puts q35 RAM below 4 GiB, splitting at 2 GiB once RAM reaches 0xb0000000 (pc_q35_init)', () => {
    expect(ramLayout('q35', 2 * GiB)).toEqual([{ gpa: 0, size: 2 * GiB, offset: 0 }]);
    expect(ramLayout('q35', 0xa000_0000)).toEqual([{ gpa: 0, size: 0xa000_0000, offset: 0 }]);
    expect(ramLayout('q35', 4 * GiB)).toEqual([
      { gpa: 0, size: 2 * GiB, offset: 0 },
      { gpa: 4 * GiB, size: 2 * GiB, offset: 2 * GiB },
    ]);
  });

  it('starts Arm virt RAM at 1 GiB', () => {
    expect(ramLayout('virt', GiB)).toEqual([{ gpa: GiB, size: GiB, offset: 0 }]);
  });
});
