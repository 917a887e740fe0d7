// What a failed ioctl must leave untouched: objects, IOVA areas, pins, mappings, attachments, files, accounting.
import { type IommuDomain, iommuSubsystem } from '@iommu-lab/iommu-core';
import {
  ctxGroups,
  ctxMmapRegions,
  IommufdAccess,
  type IommufdCtx,
  IommufdDevice,
  IommufdEventq,
  IommufdFault,
  IommufdHwptNested,
  IommufdHwptPaging,
  IommufdHwQueue,
  IommufdIoas,
  type IommufdObject,
  IommufdVdevice,
  IommufdVeventq,
  IommufdViommu,
  iommufdFops,
  type IoptPages,
} from '@iommu-lab/iommufd';
import type { Host, OpenFile, Process } from '@iommu-lab/platform';
import { mockDevOf, MockDev } from '../mock/device.js';
import { MockNestedDomain, MockPagingDomain } from '../mock/domain.js';
import type { MockIommuOps } from '../mock/ops.js';
import { MockViommu } from '../mock/viommu.js';
import type { SelftestAccess } from '../test-cmd/staccess.js';
import { SelftestObj } from '../test-cmd/stdev.js';

/** Stable names for objects without IDs (domains, pages, contexts, files), kept across snapshots. */
const labels = new WeakMap<object, string>();
let nextLabel = 0;
function label(o: object | null | undefined, prefix: string): string {
  if (!o) return '-';
  let l = labels.get(o);
  if (!l) labels.set(o, (l = `${prefix}#${nextLabel++}`));
  return l;
}

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** Runs of equal values in a typed array, as "from-to:value" (zero runs left out). */
function runs(a: ArrayLike<number>, n: number): string {
  const out: string[] = [];
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && a[j + 1] === a[i]) j++;
    if (a[i]) out.push(`${i}-${j}:${a[i]}`);
    i = j + 1;
  }
  return out.join(',');
}

function domainLines(d: IommuDomain, out: string[]): void {
  const l = label(d, 'domain');
  if (d instanceof MockPagingDomain) {
    const { ptes, tables } = d.table.entries();
    out.push(`${l} paging dirty=${d.dirtyTracking} tables=${tables} ptes=${ptes.map((p) => `${hex(p.iova)}+${hex(p.size)}>${hex(p.pa)}/${p.prot}`).join(',')}`);
  } else if (d instanceof MockNestedDomain) {
    out.push(`${l} nested parent=${label(d.parent, 'domain')} viommu=${label(d.viommu, 'viommu')} iotlb=${[...d.iotlb].join(',')}`);
  } else {
    out.push(`${l} ${d.type}`);
  }
}

function pagesLines(p: IoptPages, out: string[]): void {
  const holders = new Uint32Array(p.npages);
  for (let i = 0; i < p.npages; i++) holders[i] = p.holdersOf(i);
  const spans = p.accessSpans.map((s) => `${s.start}-${s.last}x${s.users}`).join(',');
  out.push(`${label(p, 'pages')} refs=${p.refs} npinned=${p.npinned} last=${p.lastNpinned} mode=${p.accountMode} areas=${p.areas.size} holders=${runs(holders, p.npages)} spans=${spans} pfns=${runs(p.pfns, p.npages) ? 'set' : 'none'}`);
}

function objectLines(o: IommufdObject, out: string[], pages: Set<IoptPages>, domains: Set<IommuDomain>): string {
  if (o instanceof IommufdIoas) {
    const t = o.iopt;
    out.push(`  align=${t.iovaAlignment} nolarge=${t.disableLargePages} domains=${t.domains.map((d) => label(d, 'domain')).join(',')} accesses=${t.accesses.length} hwpts=${o.hwpts.map((h) => (h as IommufdHwptPaging).id).join(',')}`);
    out.push(`  allowed=${t.allowed.map((r) => `${hex(r.start)}-${hex(r.last)}`).join(',')}`);
    out.push(`  reserved=${t.reserved.map((r) => `${hex(r.start)}-${hex(r.last)}@${typeof r.owner === 'object' ? label(r.owner as object, 'owner') : String(r.owner)}`).join(',')}`);
    for (const a of t.areas) {
      if (a.pages) pages.add(a.pages);
      out.push(`  area ${hex(a.iova)}-${hex(a.last)} idx=${a.startIndex}-${a.lastIndex}+${a.pageOffset} prot=${a.prot} pages=${label(a.pages, 'pages')} dom=${a.inDomains} acc=${a.numAccesses} locks=${a.numLocks} prevent=${a.preventAccess}`);
    }
    return '';
  }
  if (o instanceof IommufdHwptPaging) {
    domains.add(o.domain);
    return `ioas=${o.ioas.id} auto=${o.autoDomain} parent=${o.nestParent} inIoas=${o.inIoas} pasid=${o.pasidCompat} cc=${o.enforceCacheCoherency} fault=${o.fault?.obj.id ?? 0} domain=${label(o.domain, 'domain')}`;
  }
  if (o instanceof IommufdHwptNested) {
    domains.add(o.domain);
    return `parent=${o.parent.id} viommu=${o.viommu?.id ?? 0} pasid=${o.pasidCompat} fault=${o.fault?.obj.id ?? 0} domain=${label(o.domain, 'domain')}`;
  }
  if (o instanceof IommufdDevice) return `dev=${o.dev.name} igroup=${label(o.igroup, 'igroup')} vdev=${o.vdev?.obj.id ?? 0} destroying=${o.destroying}`;
  if (o instanceof IommufdAccess) return `ioas=${o.ioas?.id ?? 0} unpin=${o.ioasUnpin?.id ?? 0} internal=${o.internal}`;
  if (o instanceof IommufdViommu) {
    const v = o.viommu;
    const mock = v instanceof MockViommu ? ` queues=${v.hwQueues.map((q) => (q ? label(q, 'queue') : '-')).join(',')} page=${v.pagePfn} mmap=${v.mmapOffset}` : '';
    return `hwpt=${o.hwpt.id} vdevs=${[...o.vdevs].map(([k, d]) => `${k}:${d?.id ?? 'null'}`).join(',')} veventqs=${o.veventqs.map((q) => q.id).join(',')}${mock}`;
  }
  if (o instanceof IommufdVdevice) return `viommu=${o.viommu.id} idev=${o.idev.id} virt=${o.virtId}`;
  if (o instanceof IommufdFault) return `deliver=${o.deliver.length} response=${o.response.size} file=${fileState(o.file)}`;
  if (o instanceof IommufdVeventq) return `viommu=${o.viommu.id} events=${o.numEvents} file=${fileState(o.file)}`;
  if (o instanceof IommufdHwQueue) return `viommu=${o.viommu?.id ?? 0} access=${o.access?.id ?? 0} dep=${o.dependsOn?.id ?? 0} queue=${label(o.queue, 'queue')}`;
  if (o instanceof SelftestObj) return `dev=${o.dev?.name ?? '-'} idev=${o.idev?.id ?? 0}`;
  return '';
}

function fileState(f: OpenFile | null): string {
  return f ? `${label(f, 'file')}:${f.references}${f.isReleased ? ':released' : ''}` : '-';
}

function ctxLines(ctx: IommufdCtx, out: string[]): void {
  const c = label(ctx, 'ctx');
  out.push(`${c} mode=${ctx.accountMode} vfio_ioas=${(ctx.vfioIoas as IommufdObject | null)?.id ?? 0} file=${fileState(ctx.file)}`);
  const pages = new Set<IoptPages>();
  const domains = new Set<IommuDomain>();
  for (const { id, obj } of ctx.slots()) {
    if (typeof obj === 'string') {
      out.push(`${c} ${id} ${obj}`);
      continue;
    }
    const sub: string[] = [];
    const line = objectLines(obj, sub, pages, domains);
    out.push(`${c} ${id} ${obj.type} users=${obj.users} ${line}`, ...sub.map((s) => `${c} ${id}${s}`));
  }
  for (const p of pages) pagesLines(p, out);
  for (const d of domains) domainLines(d, out);
  for (const g of ctxGroups(ctx)) {
    const at = [...g.pasidAttach].map(([p, a]) => `${p}:${a.hwpt.id}[${[...a.devices.keys()].join(',')}]`).join(' ');
    out.push(`${c} ${label(g, 'igroup')} group=${g.group.id} refs=${g.refs} ${at}`);
  }
  for (const [pgoff, owner, n] of ctxMmapRegions(ctx)) out.push(`${c} mmap ${pgoff} owner=${owner} pages=${n}`);
}

/** The contexts a process reaches through its files (iommufd fds, and the access and event files that hold one). */
function contexts(proc: Process, out: string[]): IommufdCtx[] {
  const found: IommufdCtx[] = [];
  const add = (c: IommufdCtx | undefined | null): void => {
    if (c && !found.includes(c)) found.push(c);
  };
  for (const fd of proc.openFds) {
    const f = proc.file(fd);
    out.push(`pid${proc.pid} fd ${fd} ${f.path} ${fileState(f)}`);
    if (f.ops === iommufdFops) add(f.priv as IommufdCtx);
    else if (f.priv instanceof IommufdEventq) add(f.priv.ctx);
    else if (f.ops.name === '[iommufd_test_staccess]') {
      const s = f.priv as SelftestAccess;
      out.push(`pid${proc.pid} fd ${fd} access=${s.access?.id ?? 0} items=${s.items.map((i) => `${i.id}:${hex(i.iova)}+${hex(i.length)}`).join(',')}`);
      add(s.access?.ctx);
    }
  }
  return found;
}

/** A snapshot of everything a failed ioctl must leave as it was, one fact per line. */
export function snapshot(host: Host): string[] {
  const out: string[] = [];
  const frames = host.frames;
  const pins: string[] = [];
  for (let pfn = frames.firstFrame; pfn < frames.totalFrames; pfn++) {
    const n = frames.pinCount(pfn);
    if (n) pins.push(`${pfn}:${n}`);
  }
  out.push(`frames used=${frames.used}`, `frames pinned=${pins.join(',')}`);
  const ctxs: IommufdCtx[] = [];
  for (const p of host.processes) {
    if (p.exited) continue;
    out.push(`pid${p.pid} pinned_vm=${p.pinnedVm} locked_vm=${p.lockedVm} user_locked_vm=${p.user.lockedVm} vmas=${p.mm.mappings.length}`);
    for (const c of contexts(p, out)) if (!ctxs.includes(c)) ctxs.push(c);
  }
  for (const c of ctxs) ctxLines(c, out);
  const sub = iommuSubsystem(host);
  for (const u of sub.units) {
    const ops = u.ops as Partial<MockIommuOps>;
    if (ops.devIds) out.push(`${u.id} dev_ids=${ops.devIds().join(',')}`);
  }
  for (const d of sub.devices) {
    const g = d.group;
    const pas = [...g.pasids].map(([p, h]) => `${p}:${label(h.domain, 'domain')}`).join(',');
    out.push(`dev ${d.name} group=${g.id} domain=${label(g.domain, 'domain')} owner=${label(g.owner as object | null, 'owner')}x${g.ownerCount} pasids=${pas}`);
    if (d.priv instanceof MockDev) {
      const m = mockDevOf(d);
      const pd = [...m.pasidDomains].map(([p, dom]) => `${p}:${label(dom, 'domain')}`).join(',');
      out.push(`dev ${d.name} mock domain=${label(m.domain, 'domain')} pasids=${pd} viommu=${label(m.viommu, 'viommu')} vdev=${m.vdevId} iopf=${m.iopfRefcount} pasid1024=${m.pasid1024FakeError} cache=${[...m.cache].join(',')}`);
    }
  }
  return out;
}

/** The lines that differ between two snapshots, '-' before and '+' after; empty when equal. */
export function diffSnapshots(before: readonly string[], after: readonly string[]): string[] {
  const a = new Set(after);
  const b = new Set(before);
  return [...before.filter((l) => !a.has(l)).map((l) => `- ${l}`), ...after.filter((l) => !b.has(l)).map((l) => `+ ${l}`)];
}
