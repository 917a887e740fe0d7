import assert from 'node:assert/strict';
import { createHost, formatHostInfo, hostInfo } from 'iommu-lab';

// A host from a spec: 1 GiB of RAM and one PCI device without an IOMMU in front of it.
const host = createHost({ memory: '1G', devices: [{ bdf: '0000:03:00.0' }] });
const dev = host.device('0000:03:00.0');
assert.equal(dev.rid, 0x0300);

// Without an IOMMU the device's DMA addresses are host physical addresses.
const frame = host.frames.allocFrame();
dev.dmaWrite(BigInt(frame) << 12n, new TextEncoder().encode('no translation'));
assert.equal(new TextDecoder().decode(host.mem.read(frame * 4096, 14)), 'no translation');

// The topology, as `iommu-lab info` prints it.
assert.match(formatHostInfo(hostInfo(host)), /0000:03:00\.0 {2}rid 0x0300 {2}iommu \(none\)/);
