// `iommu-lab bridge -- PROGRAM ARGS`: a real program runs against the simulated kernel through the LD_PRELOAD shim.
import { runUnderBridge } from '@iommu-lab/bridge';
import { Command } from 'commander';
import { createHost } from './create-host.js';
import { DEFAULT_MACHINE } from './spec.js';

export interface BridgeOptions {
  spec?: string;
  stats?: boolean;
}

/** The host a bridged program sees: the spec's, or the built-in machine with the mock IOMMU (CONFIG_IOMMUFD_TEST). */
function bridgeHost(spec: unknown) {
  return createHost(spec ?? { ...DEFAULT_MACHINE, kernel: { iommufdTest: true } });
}

/** Registers the subcommand; the exit status is the program's (128 + signal number when a signal ended it). */
export function bridgeCommand(loadSpec: (file?: string) => unknown, print: (line: string) => void, setExit: (code: number) => void): Command {
  return new Command('bridge')
    .description('run an unmodified program (e.g. the kernel\'s tools/testing/selftests/iommu/iommufd) against the simulated /dev/iommu')
    .argument('<program>', 'the program to run')
    .argument('[args...]', 'its arguments (put -- before the program when they start with -)')
    .option('--spec <file>', 'host spec JSON file (default: the built-in machine with the mock IOMMU)')
    .option('--stats', 'print the requests the daemon served when the program ends')
    .passThroughOptions()
    .action(async (program: string, args: string[], opts: BridgeOptions) => {
      const host = bridgeHost(loadSpec(opts.spec));
      const r = await runUnderBridge(host, { argv: [program, ...args], log: (l) => print(l) });
      if (opts.stats) {
        print(`# bridge: ${r.stats.requests} requests, ${r.stats.processes} processes, ${r.stats.internalErrors.length} internal errors`);
      }
      const signo = r.signal ? (await import('node:os')).constants.signals[r.signal] : 0;
      setExit(r.code ?? 128 + signo);
    });
}
