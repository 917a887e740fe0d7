#!/usr/bin/env node
// The iommu-lab executable.
import { main } from './cli.js';

main().then((code) => {
  process.exitCode = code;
});
