import assert from 'node:assert/strict';
import { IOMMU_IOAS_ALLOC, IOMMU_IOAS_MAP, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '@iommu-lab/iommu-core';
import { installIommufd } from '@iommu-lab/iommufd';
import { Host } from '@iommu-lab/platform';
import { installSelftest, IOMMU_TEST_CMD, IOMMU_TEST_OP_MD_CHECK_MAP, IOMMU_TEST_OP_MOCK_DOMAIN, runHarness, suite } from '@iommu-lab/selftest';

// The kernel's iommufd.c, fixture by fixture, printed as KTAP (here: one fixture, collected).
const lines: string[] = [];
const { exitCode } = runHarness(suite, [{ opt: 'f', name: 'iommufd' }], (l) => lines.push(l));
assert.equal(exitCode, 0);
assert.equal(lines.at(-1), '# Totals: pass:11 fail:0 xfail:0 xpass:0 skip:0 error:0');

// The mock IOMMU through IOMMU_TEST_CMD, as CONFIG_IOMMUFD_TEST provides it.
const host = new Host({ memory: 256 * 2 ** 20 });
installIommufd(host);
installSelftest(host);
const proc = host.spawnProcess();
const fd = proc.open('/dev/iommu');
const ioas = { out_ioas_id: 0 };
proc.ioctl(fd, IOMMU_IOAS_ALLOC, ioas);
const dom = { op: IOMMU_TEST_OP_MOCK_DOMAIN, id: ioas.out_ioas_id, mock_domain: { out_stdev_id: 0, out_hwpt_id: 0, out_idev_id: 0 } };
proc.ioctl(fd, IOMMU_TEST_CMD, dom);
assert.ok(dom.mock_domain.out_hwpt_id > 0);

// Mapped memory is pinned into the mock domain at once; MD_CHECK_MAP compares its IOPTEs with the buffer.
const buf = proc.mmap(16 * 4096);
const map = { flags: IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE, ioas_id: ioas.out_ioas_id, user_va: buf, length: 16n * 4096n, iova: 0n };
proc.ioctl(fd, IOMMU_IOAS_MAP, map);
assert.equal(proc.status().VmPin, 16 * 4);
proc.ioctl(fd, IOMMU_TEST_CMD, { op: IOMMU_TEST_OP_MD_CHECK_MAP, id: dom.mock_domain.out_hwpt_id, check_map: { iova: map.iova, length: map.length, uptr: buf } });
