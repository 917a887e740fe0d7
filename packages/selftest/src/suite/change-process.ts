// FIXTURE(change_process): IOMMU_IOAS_CHANGE_PROCESS moves the pinned-page accounting to the caller.
import {
  IOMMU_IOAS_CHANGE_PROCESS,
  IOMMU_OPTION,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  iommu_ioas_change_process,
  iommu_option,
} from '@iommu-lab/iommu-core';
import type { Process } from '@iommu-lab/platform';
import { PAGE_SIZE, type SelfBase, selfBase } from '../harness/env.js';
import { ASSERT_EQ, ASSERT_NE, EXPECT_ERRNO, type Metadata } from '../harness/harness.js';
import {
  inProcess,
  ioctl,
  IOPT_PAGES_ACCOUNT_MM,
  IOPT_PAGES_ACCOUNT_NONE,
  IOPT_PAGES_ACCOUNT_USER,
  teardown_iommufd,
  test_ioctl_ioas_alloc,
  test_ioctl_ioas_map,
  test_ioctl_ioas_map_file,
  test_ioctl_ioas_unmap,
} from '../harness/utils-ioas.js';
import { test_cmd_mock_domain } from '../harness/utils-mock.js';
import { suite } from './suite.js';

interface Self extends SelfBase {
  ioas_id: number;
}
interface Variant {
  accounting: number;
}

/** drop_cap_ipc_lock: without CAP_IPC_LOCK pinned pages are charged against RLIMIT_MEMLOCK. */
function drop_cap_ipc_lock(self: Self): void {
  self.env.proc.capabilities.delete('CAP_IPC_LOCK');
}

/** get_vm_pinned / get_vm_locked: VmPin and VmLck of /proc/PID/status, in kB. */
function get_vm_pinned(proc: Process): number {
  return proc.status().VmPin;
}
function get_vm_locked(proc: Process): number {
  return proc.status().VmLck;
}

suite.FIXTURE<Self>('change_process', (m) => ({ ...selfBase(m), ioas_id: 0 }));

suite.FIXTURE_SETUP<Self, Variant>('change_process', (self, variant) => {
  self.fd = self.env.proc.open('/dev/iommu');
  ASSERT_NE(-1, self.fd);
  drop_cap_ipc_lock(self);
  if (variant.accounting !== IOPT_PAGES_ACCOUNT_NONE) {
    const set_limit_cmd = {
      size: iommu_option.size,
      option_id: IOMMU_OPTION_RLIMIT_MODE,
      op: IOMMU_OPTION_OP_SET,
      object_id: 0,
      val64: variant.accounting === IOPT_PAGES_ACCOUNT_MM ? 1n : 0n,
    };
    ASSERT_EQ(0, ioctl(self, IOMMU_OPTION, set_limit_cmd));
  }
  self.ioas_id = test_ioctl_ioas_alloc(self);
  test_cmd_mock_domain(self, self.ioas_id);
});

suite.FIXTURE_TEARDOWN<Self, Variant>('change_process', (self) => teardown_iommufd(self, self.fd));

suite.FIXTURE_VARIANT_ADD<Variant>('change_process', 'account_none', { accounting: IOPT_PAGES_ACCOUNT_NONE });
suite.FIXTURE_VARIANT_ADD<Variant>('change_process', 'account_user', { accounting: IOPT_PAGES_ACCOUNT_USER });
suite.FIXTURE_VARIANT_ADD<Variant>('change_process', 'account_mm', { accounting: IOPT_PAGES_ACCOUNT_MM });

suite.TEST_F<Self, Variant>('change_process', 'basic', (self, variant, m: Metadata) => {
  const parent = self.env.proc;
  const cmd = { size: iommu_ioas_change_process.size, __reserved: 0 };

  // Expect failure if non-file maps exist
  const iova = test_ioctl_ioas_map(self, self.env.buffer, PAGE_SIZE);
  EXPECT_ERRNO(m, 'EINVAL', () => ioctl(self, IOMMU_IOAS_CHANGE_PROCESS, cmd));
  test_ioctl_ioas_unmap(self, iova, PAGE_SIZE);

  // Change process works in current process.
  test_ioctl_ioas_map_file(self, self.env.mfd, 0, PAGE_SIZE);
  ASSERT_EQ(0, ioctl(self, IOMMU_IOAS_CHANGE_PROCESS, cmd));

  // Change process works in another process
  const child = parent.fork();
  {
    const cs = inProcess(self, child);
    const nlock = PAGE_SIZE / 1024;
    // Parent accounts for locked memory before
    ASSERT_EQ(nlock, get_vm_pinned(parent), 'parent VmPin');
    if (variant.accounting === IOPT_PAGES_ACCOUNT_MM) ASSERT_EQ(nlock, get_vm_locked(parent), 'parent VmLck');
    ASSERT_EQ(0, get_vm_pinned(child), 'child VmPin');
    ASSERT_EQ(0, get_vm_locked(child), 'child VmLck');

    ASSERT_EQ(0, ioctl(cs, IOMMU_IOAS_CHANGE_PROCESS, cmd));

    // Child accounts for locked memory after
    ASSERT_EQ(0, get_vm_pinned(parent), 'parent VmPin');
    ASSERT_EQ(0, get_vm_locked(parent), 'parent VmLck');
    ASSERT_EQ(nlock, get_vm_pinned(child), 'child VmPin');
    if (variant.accounting === IOPT_PAGES_ACCOUNT_MM) ASSERT_EQ(nlock, get_vm_locked(child), 'child VmLck');

    child.exit();
  }
  ASSERT_NE(-1, child.pid);
  ASSERT_EQ(true, child.exited, 'waitpid');
});
