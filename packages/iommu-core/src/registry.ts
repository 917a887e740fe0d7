// Vendor drivers by model name: a host spec's "model" resolves through registerIommuDriver.
import type { Host } from '@iommu-lab/platform';
import type { IommuUnit } from './unit.js';

export interface IommuDriverFactory {
  /** The model name used in host specs ("intel-vtd"). */
  readonly model: string;
  /** One line for `iommu-lab info` and error messages. */
  readonly description: string;
  /**
   * Creates one unit. `options` are the spec entry's other fields; a bad one is a RangeError
   * whose message names the field.
   */
  create(host: Host, id: string, options: Readonly<Record<string, unknown>>): IommuUnit;
}

const drivers = new Map<string, IommuDriverFactory>();

/** Registers a vendor driver under its model name; registering the same factory again is a no-op. */
export function registerIommuDriver(factory: IommuDriverFactory): void {
  const have = drivers.get(factory.model);
  if (have && have !== factory) throw new Error(`IOMMU model "${factory.model}" is already registered by another driver`);
  drivers.set(factory.model, factory);
}

export function unregisterIommuDriver(model: string): void {
  drivers.delete(model);
}

/** Registered model names, sorted. */
export function iommuModels(): string[] {
  return [...drivers.keys()].sort();
}

/** The driver for a model; an unknown model is an error that lists the known ones. */
export function iommuDriver(model: string): IommuDriverFactory {
  const d = drivers.get(model);
  if (!d) {
    const known = iommuModels();
    throw new RangeError(`unknown IOMMU model "${model}" (known models: ${known.length ? known.join(', ') : 'none registered'})`);
  }
  return d;
}
