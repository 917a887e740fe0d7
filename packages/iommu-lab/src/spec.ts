// The host spec: plain JSON describing RAM, IOMMU units and PCI devices, validated field by field.
import { parseBdf, parseSize } from '@iommu-lab/platform';
import { z } from 'zod';

const id = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'must be a name like "dmar0"');

const iommuSpec = z.looseObject({
  id,
  model: z.string().min(1),
});

const bdf = z.string().refine(
  (s) => {
    try {
      parseBdf(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be a PCI address SSSS:BB:DD.F such as 0000:01:00.0' },
);

const deviceSpec = z.strictObject({
  bdf,
  /** The IOMMU unit in front of the device; none means DMA addresses are physical. */
  iommu: id.optional(),
  /** PASID capability width in bits (0 = no PASID). */
  pasidBits: z.int().min(0).max(20).optional(),
  ats: z.boolean().optional(),
  pri: z.boolean().optional(),
  /** BDF of a device whose IOMMU group this one shares (no ACS isolation between them). */
  group: bdf.optional(),
});

const size = z.union([z.string(), z.int().positive()]).refine(
  (v) => {
    try {
      const n = parseSize(v);
      return n >= 2 ** 21 && n % 2 ** 21 === 0 && n <= 2 ** 40;
    } catch {
      return false;
    }
  },
  { message: 'must be a size such as "4G" or "512M": a multiple of 2M up to 1T' },
);

export const hostSpecSchema = z.strictObject({
  memory: size.default('4G'),
  iommus: z.array(iommuSpec).default([]),
  devices: z.array(deviceSpec).default([]),
  kernel: z
    .strictObject({
      /** CONFIG_IOMMUFD_TEST: IOMMU_TEST_CMD and the mock IOMMU (the selftest needs it). */
      iommufdTest: z.boolean().default(false),
    })
    .default({ iommufdTest: false }),
});

export type HostSpecInput = z.input<typeof hostSpecSchema>;
export type HostSpec = z.output<typeof hostSpecSchema>;

/** The built-in machine used when no spec is given. */
export const DEFAULT_MACHINE: HostSpecInput = {
  memory: '4G',
  iommus: [
    { id: 'dmar0', model: 'intel-vtd' },
    { id: 'smmu0', model: 'arm-smmuv3' },
  ],
  devices: [
    { bdf: '0000:01:00.0', iommu: 'dmar0', pasidBits: 20, ats: true, pri: true },
    { bdf: '0000:02:00.0', iommu: 'smmu0', pasidBits: 20, ats: true, pri: true },
  ],
};

/** A spec error: the message names the field ("devices[0].bdf: ..."). */
export class HostSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostSpecError';
  }
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('') || '(spec)';
}

/** Validates a spec (object or JSON text) and cross-checks references between its parts. */
export function parseHostSpec(input: unknown): HostSpec {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (e) {
      throw new HostSpecError(`host spec is not valid JSON: ${(e as Error).message}`);
    }
  }
  const r = hostSpecSchema.safeParse(value);
  if (!r.success) {
    throw new HostSpecError(r.error.issues.map((i) => `${fieldPath(i.path)}: ${i.message}`).join('\n'));
  }
  const spec = r.data;
  const ids = new Set<string>();
  spec.iommus.forEach((u, i) => {
    if (ids.has(u.id)) throw new HostSpecError(`iommus[${i}].id: "${u.id}" is defined twice`);
    ids.add(u.id);
  });
  const bdfs = new Map<string, (typeof spec.devices)[number]>();
  spec.devices.forEach((d, i) => {
    const key = d.bdf.toLowerCase();
    if (bdfs.has(key)) throw new HostSpecError(`devices[${i}].bdf: ${d.bdf} is listed twice`);
    bdfs.set(key, d);
    if (d.iommu !== undefined && !ids.has(d.iommu)) {
      throw new HostSpecError(`devices[${i}].iommu: no IOMMU "${d.iommu}" (defined: ${[...ids].join(', ') || 'none'})`);
    }
  });
  spec.devices.forEach((d, i) => {
    if (d.group === undefined) return;
    const other = bdfs.get(d.group.toLowerCase());
    if (!other) throw new HostSpecError(`devices[${i}].group: no device ${d.group}`);
    if (other.iommu !== d.iommu) throw new HostSpecError(`devices[${i}].group: ${d.group} is behind another IOMMU`);
    // The chain of group references must end at a device that names none: it probes first.
    const seen = new Set([d.bdf.toLowerCase()]);
    for (let at = other; at.group !== undefined; at = bdfs.get(at.group.toLowerCase())!) {
      if (seen.has(at.bdf.toLowerCase())) throw new HostSpecError(`devices[${i}].group: ${d.group} leads back to ${at.bdf} (a cycle)`);
      seen.add(at.bdf.toLowerCase());
    }
  });
  return spec;
}
