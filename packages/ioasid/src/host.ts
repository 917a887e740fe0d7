// The system-wide IOASID allocator of a host, kept in host.ext like the IOMMU subsystem.
import type { Host } from '@iommu-lab/platform';
import { IoasidAllocator } from './allocator.js';

const KEY = Symbol('ioasid');

/** The host's own IOASID allocator (PCI_PASID_MAX capacity), created on first use. */
export function ioasidAllocator(host: Host): IoasidAllocator {
  let a = host.ext.get(KEY) as IoasidAllocator | undefined;
  if (!a) host.ext.set(KEY, (a = new IoasidAllocator()));
  return a;
}
