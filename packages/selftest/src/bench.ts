// iommufd benchmarks through the mock IOMMU: mapping 1 GiB, and the kernel suite's running time.
import { IOMMU_IOAS_ALLOC, IOMMU_IOAS_MAP, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, IOMMU_IOAS_UNMAP } from '@iommu-lab/iommu-core';
import { installIommufd } from '@iommu-lab/iommufd';
import { type BenchCase, Host, type Process } from '@iommu-lab/platform';
import { installSelftest } from './install.js';
import { suite } from './suite/index.js';
import { IOMMU_TEST_CMD, IOMMU_TEST_OP_MOCK_DOMAIN } from './uapi/iommufd-test.js';

const GiB = 2 ** 30;
const PAGE = 4096;

interface MapRig {
  proc: Process;
  fd: number;
  ioasId: number;
  buf: bigint;
}

/** A process with an IOAS attached to a mock domain and a touched 1 GiB buffer. */
function mapRig(hugetlb: boolean): MapRig {
  const host = new Host({ memory: 2 * GiB });
  installIommufd(host);
  installSelftest(host);
  const proc = host.spawnProcess({ rlimitMemlock: 4 * GiB });
  const fd = proc.open('/dev/iommu');
  const ioas = { size: 12, flags: 0, out_ioas_id: 0 };
  proc.ioctl(fd, IOMMU_IOAS_ALLOC, ioas);
  proc.ioctl(fd, IOMMU_TEST_CMD, { size: 72, op: IOMMU_TEST_OP_MOCK_DOMAIN, id: ioas.out_ioas_id, mock_domain: {} });
  const buf = proc.mmap(GiB, { hugetlb });
  // Touched from the top down, 4 KiB pages get descending frames: no two neighbours are contiguous.
  const one = Uint8Array.of(1);
  const step = hugetlb ? 2 * 2 ** 20 : PAGE;
  for (let off = GiB - step; off >= 0; off -= step) proc.memWrite(buf + BigInt(off), one);
  return { proc, fd, ioasId: ioas.out_ioas_id, buf };
}

function mapUnmap({ proc, fd, ioasId, buf }: MapRig): number {
  const map = { size: 40, flags: IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE, ioas_id: ioasId, user_va: buf, length: BigInt(GiB), iova: 0n };
  const t0 = performance.now();
  proc.ioctl(fd, IOMMU_IOAS_MAP, map);
  proc.ioctl(fd, IOMMU_IOAS_UNMAP, { size: 32, ioas_id: ioasId, iova: map.iova, length: BigInt(GiB) });
  return performance.now() - t0;
}

let small: MapRig | undefined;
let huge: MapRig | undefined;

const map4k: BenchCase = {
  name: 'IOAS_MAP + IOAS_UNMAP of 1 GiB, 4 KiB pages, mock domain',
  kind: 'value',
  unit: 'ms',
  runs: 5,
  warmup: 3,
  goal: { op: '<=', value: 150 },
  setup: () => void (small = mapRig(false)),
  fn: () => mapUnmap(small!),
  teardown: () => void (small = undefined),
};

const map2m: BenchCase = {
  name: 'IOAS_MAP + IOAS_UNMAP of 1 GiB, 2 MiB-contiguous backing, mock domain',
  kind: 'value',
  unit: 'ms',
  runs: 7,
  warmup: 5,
  goal: { op: '<=', value: 10 },
  setup: () => void (huge = mapRig(true)),
  fn: () => mapUnmap(huge!),
  teardown: () => void (huge = undefined),
};

/** The four fixtures of part 1 (iommufd, iommufd_ioas, iommufd_mock_domain, vfio_compat_mock_domain). */
const PART1 = new Set(['iommufd', 'iommufd_ioas', 'iommufd_mock_domain', 'vfio_compat_mock_domain']);

function runSuite(filter: (fixture: string) => boolean): number {
  const t0 = performance.now();
  for (const c of suite.cases()) {
    if (!filter(c.fixture.name)) continue;
    const o = c.run();
    if (o.result === 'fail') throw new Error(`${c.fullName} failed: ${o.message}`);
  }
  return performance.now() - t0;
}

const suitePart1: BenchCase = {
  name: 'iommufd.c selftest, the 171 cases of part 1',
  kind: 'value',
  unit: 'ms',
  runs: 3,
  goal: { op: '<=', value: 5000 },
  fn: () => runSuite((f) => PART1.has(f)),
};

const suiteAll: BenchCase = {
  name: 'iommufd.c selftest, all 246 cases',
  kind: 'value',
  unit: 'ms',
  runs: 3,
  goal: { op: '<=', value: 10000 },
  fn: () => runSuite(() => true),
};

export const benchmarks: BenchCase[] = [map4k, map2m, suitePart1, suiteAll];
