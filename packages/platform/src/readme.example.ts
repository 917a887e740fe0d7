import assert from 'node:assert/strict';
import { Host, X86PageTable, X86Walk, walkX86 } from '@iommu-lab/platform';

// A 64 GiB machine: RAM costs nothing until touched.
const host = new Host({ memory: 64 * 2 ** 30, devices: [{ bdf: '0000:01:00.0' }] });
const proc = host.spawnProcess();

// Lazy anonymous memory, written and read back through the process.
const buf = proc.mmap(2 * 1024 * 1024);
proc.memWrite(buf, new TextEncoder().encode('hello, DMA'));
assert.equal(new TextDecoder().decode(proc.memRead(buf, 10)), 'hello, DMA');

// Pinning (what iommufd does before mapping user pages) counts per page.
const [pfn] = proc.mm.pin(Number(buf), 1, true);
assert.equal(host.frames.pinCount(pfn!), 1);

// An x86-64 page table in physical memory, walked like an IOMMU first stage would.
const table = new X86PageTable(host.mem, () => host.frames.allocFrame(), 4);
table.map(0x1234, pfn!, 1, { write: true });
const walk = new X86Walk();
assert.ok(walkX86(host.mem, table.root, 0x1234, true, { levels: 4 }, walk));
assert.equal(walk.pfn, pfn);
