// `iommu-lab selftest`: the kernel's selftest binaries run as kselftest would, printing KTAP.
import { failNthSuite, type HarnessFilter, listTests, runHarness, type Suite, suite, type VfioTarget, vfioIommufdSetupSuite } from '@iommu-lab/selftest';
import { Command, Option } from 'commander';
import { createHost } from './create-host.js';
import { HostSpecError } from './spec.js';

export interface SelftestOptions {
  list?: boolean;
  vfio?: string | boolean;
  failNth?: boolean;
}

/** The vfio selftest's device: a BDF of the host (the first VFIO device when none is named). */
function vfioTarget(spec: unknown, bdf: string | undefined): () => VfioTarget {
  return () => {
    const host = createHost(spec);
    const vdev = bdf === undefined ? host.vfio.devices[0] : host.vfio.devices.find((d) => d.pci.bdf === bdf.toLowerCase());
    if (!vdev) throw new HostSpecError(bdf === undefined ? 'the host has no VFIO device for the vfio selftest' : `--vfio ${bdf}: not a VFIO device of the host`);
    return { host, proc: host.spawnProcess(), bdf: vdev.pci.bdf, cdevPath: vdev.cdevPath };
  };
}

/** Registers the subcommand; `spec` loads the optional host spec file for --vfio. */
export function selftestCommand(loadSpec: (file?: string) => unknown, print: (line: string) => void, setExit: (code: number) => void): Command {
  const filters: HarnessFilter[] = [];
  const filter = (opt: HarnessFilter['opt']) => (name: string) => {
    filters.push({ opt, name });
    return name;
  };
  return new Command('selftest')
    .description('run tools/testing/selftests/iommu/iommufd.c (--fail-nth: iommufd_fail_nth.c, --vfio: vfio_iommufd_setup_test.c) and print KTAP')
    .argument('[spec]', 'host spec JSON file for --vfio (the built-in default machine without one)')
    .option('-l, --list', 'list all tests')
    .addOption(new Option('-f <name>', 'include fixture').argParser(filter('f')))
    .addOption(new Option('-F <name>', 'exclude fixture').argParser(filter('F')))
    .addOption(new Option('-v <name>', 'include variant').argParser(filter('v')))
    .addOption(new Option('-V <name>', 'exclude variant').argParser(filter('V')))
    .addOption(new Option('-t <name>', 'include test').argParser(filter('t')))
    .addOption(new Option('-T <name>', 'exclude test').argParser(filter('T')))
    .addOption(new Option('-r <name>', 'run the test fixture.variant.test').argParser(filter('r')))
    .option('--fail-nth', 'run iommufd_fail_nth.c: every scenario with each allocation failing in turn')
    .option('--vfio [bdf]', 'run the VFIO cdev selftest on a device of the host')
    .addHelpText('after', '\nFilters apply in order and the first match decides, as in kselftest_harness.h.')
    .action((file: string | undefined, opts: SelftestOptions) => {
      let s: Suite = opts.failNth ? failNthSuite : suite;
      if (opts.vfio !== undefined) s = vfioIommufdSetupSuite(vfioTarget(loadSpec(file), typeof opts.vfio === 'string' ? opts.vfio : undefined));
      if (opts.list) {
        for (const line of listTests(s)) print(line);
        return;
      }
      setExit(runHarness(s, filters, print).exitCode);
    });
}
