// Read-only guest memory (q35's pc.bios) and HOST_IOMMU_QUIRK_NESTING_PARENT_BYPASS_RO: the VT-d host reports
// ERRATA_772415_SPR17, so under x-flts the firmware stays out of the nest parent (which refuses read-only maps).
import { NESTED_CMDLINE, SHADOW_CMDLINE } from '@iommu-lab/viommu/bench';
import { Vm } from '@iommu-lab/viommu';
import { describe, expect, it } from 'vitest';
import { faults } from './__tests__/helpers.js';
import { createHost } from './create-host.js';

const BIOS = 0xfffc_0000n;

describe('guest firmware (pc.bios) in the device address space', () => {
  it('without nesting it is mapped read-only at its GPA: the device may read it, not write it', () => {
    const host = createHost();
    const vm = new Vm(host, SHADOW_CMDLINE);
    const pci = host.device('0000:01:00.0');
    // Before the guest enables DMA remapping the device sees guest RAM and ROM at their GPAs.
    expect(vm.stats.hostIoctls.IOMMU_IOAS_MAP).toBe(2);
    expect(faults(() => pci.dmaRead(BIOS + 0x100n, 8))).toBe(false);
    expect(faults(() => pci.dmaWrite(BIOS + 0x100n, new Uint8Array(8)))).toBe(true);
    vm.shutdown();
  });

  it('under x-flts on a host with the SPR17 erratum it is left out of the nest parent; RAM is mapped', () => {
    const host = createHost();
    const vm = new Vm(host, NESTED_CMDLINE);
    const pci = host.device('0000:01:00.0');
    expect(vm.stats.hostIoctls.IOMMU_IOAS_MAP).toBe(1);
    expect(faults(() => pci.dmaRead(BIOS + 0x100n, 8))).toBe(true);
    expect(faults(() => pci.dmaRead(0x1000n, 8))).toBe(false);
    vm.shutdown();
  });
});
