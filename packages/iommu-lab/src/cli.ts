// The iommu-lab command line: subcommands and their options.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import { bridgeCommand } from './bridge-cmd.js';
import { createHost } from './create-host.js';
import { formatHostInfo, hostInfo } from './info.js';
import { QemuOptionError, WorkloadError } from '@iommu-lab/viommu';
import { compareCommand } from './compare-cmd.js';
import { dumpCommand } from './dump-cmd.js';
import { runCommand } from './run-cmd.js';
import { selftestCommand } from './selftest-cmd.js';
import { HostSpecError } from './spec.js';

function loadSpec(file?: string): unknown {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new HostSpecError(`cannot read host spec ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The command tree; a subcommand that decides the exit status (selftest) reports it through setExit. */
export function program(setExit: (code: number) => void = () => {}): Command {
  const cli = new Command('iommu-lab')
    .description('Run, test, measure and debug nested IOMMU translation and vSVA without hardware')
    .version(pkg.version, '-V, --version')
    .enablePositionalOptions();
  cli
    .command('info')
    .description('print the host topology: memory, IOMMU units, devices (the built-in default machine without a spec)')
    .argument('[spec]', 'host spec JSON file')
    .option('--json', 'print JSON')
    .action((file: string | undefined, opts: { json?: boolean }) => {
      const host = createHost(loadSpec(file));
      const info = hostInfo(host);
      console.log(opts.json ? JSON.stringify(info, null, 2) : formatHostInfo(info));
    });
  cli.addCommand(selftestCommand(loadSpec, (line) => console.log(line), setExit));
  cli.addCommand(runCommand(loadSpec, (s) => console.log(s)));
  cli.addCommand(compareCommand(loadSpec, (s) => console.log(s)));
  cli.addCommand(dumpCommand(loadSpec, (s) => console.log(s)));
  cli.addCommand(bridgeCommand(loadSpec, (line) => console.error(line), setExit));
  return cli;
}

export async function main(argv = process.argv): Promise<number> {
  let code = 0;
  try {
    await program((c) => (code = c)).parseAsync(argv);
    return code;
  } catch (e) {
    if (e instanceof HostSpecError || e instanceof WorkloadError) {
      console.error(`iommu-lab: ${e.message}`);
      return 2;
    }
    // A VM the QEMU options describe badly is refused the way QEMU refuses it.
    if (e instanceof QemuOptionError) {
      console.error(e.message);
      return 1;
    }
    throw e;
  }
}
