// The iommu-lab command line: subcommands and their options.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import { createHost } from './create-host.js';
import { formatHostInfo, hostInfo } from './info.js';
import { HostSpecError } from './spec.js';

function loadSpec(file?: string): unknown {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new HostSpecError(`cannot read host spec ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function program(): Command {
  const cli = new Command('iommu-lab')
    .description('Run, test, measure and debug nested IOMMU translation and vSVA without hardware')
    .version(pkg.version, '-V, --version');
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
  return cli;
}

export async function main(argv = process.argv): Promise<number> {
  try {
    await program().parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof HostSpecError) {
      console.error(`iommu-lab: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
