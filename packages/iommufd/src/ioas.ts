// IOAS objects and their ioctls (drivers/iommu/iommufd/ioas.c).
import {
  IOMMU_CACHE,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_READ,
  IOMMU_WRITE,
  type iommu_ioas_alloc,
  type iommu_ioas_allow_iovas,
  type iommu_ioas_copy,
  iommu_iova_range,
  type iommu_ioas_iova_ranges,
  type iommu_ioas_map,
  type iommu_ioas_map_file,
  type iommu_ioas_unmap,
} from '@iommu-lab/iommu-core';
import { dmaBufOf, ErrnoError, memfdOf, PAGE_SIZE, type Process, type StructType, U64_MAX } from '@iommu-lab/platform';
import type { IommufdCtx } from './context.js';
import { IoPagetable, type PagesSlice, putPages } from './iopt/iopt.js';
import { IoptPages } from './iopt/pages.js';
import { holes, type IovaRange, ULONG_MAX } from './iopt/ranges.js';
import { IommufdObject } from './object.js';
import type { Ucmd } from './ucmd.js';

const PAGE = BigInt(PAGE_SIZE);

/** The HWPT_PAGING objects of an IOAS register here (ioas->hwpt_list). */
export interface IoasHwpt {
  readonly autoDomain: boolean;
}

export class IommufdIoas extends IommufdObject {
  readonly type = 'IOAS';
  readonly iopt: IoPagetable;
  readonly hwpts: IoasHwpt[] = [];

  constructor(readonly ctx: IommufdCtx) {
    super();
    this.iopt = new IoPagetable(ctx.faults);
  }

  destroy(): void {
    this.iopt.unmapRange(0n, ULONG_MAX);
    this.iopt.removeReserved(null);
  }
}

/** iommufd_ioas_alloc: a new IOAS with a reserved ID. */
export function ioasAlloc(ctx: IommufdCtx): IommufdIoas {
  const ioas = new IommufdIoas(ctx);
  ctx.allocId(ioas);
  return ioas;
}

export function getIoas(ctx: IommufdCtx, id: number): IommufdIoas {
  return ctx.getObject<IommufdIoas>(id, 'IOAS');
}

/** conv_iommu_prot: IOMMU_CACHE always, plus the requested directions. */
export function convIommuProt(flags: number): number {
  return IOMMU_CACHE | (flags & IOMMU_IOAS_MAP_WRITEABLE ? IOMMU_WRITE : 0) | (flags & IOMMU_IOAS_MAP_READABLE ? IOMMU_READ : 0);
}

const MAP_FLAGS = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;

export function ioctlIoasAlloc(ucmd: Ucmd<StructType<typeof iommu_ioas_alloc>>): void {
  if (ucmd.cmd.flags) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'IOMMU_IOAS_ALLOC flags');
  const ioas = ioasAlloc(ucmd.ctx);
  ucmd.newObj = ioas;
  ucmd.cmd.out_ioas_id = ioas.id;
  ucmd.respond();
}

export function ioctlIoasIovaRanges(ucmd: Ucmd<StructType<typeof iommu_ioas_iova_ranges>>): void {
  const cmd = ucmd.cmd;
  if (cmd.__reserved) throw new ErrnoError('EOPNOTSUPP', 'ioctl', '__reserved');
  const ioas = getIoas(ucmd.ctx, cmd.ioas_id);
  const max = cmd.num_iovas;
  const free = holes(ioas.iopt.reserved, 0n, ULONG_MAX);
  cmd.num_iovas = 0;
  cmd.out_iova_alignment = BigInt(ioas.iopt.iovaAlignment);
  for (const h of free) {
    if (cmd.num_iovas < max) {
      ucmd.proc.memWrite(cmd.allowed_iovas + BigInt(cmd.num_iovas * iommu_iova_range.size), iommu_iova_range.encode({ start: h.start, last: h.last }));
    }
    cmd.num_iovas++;
  }
  ucmd.respond();
  if (cmd.num_iovas > max) throw new ErrnoError('EMSGSIZE', 'ioctl', `${cmd.num_iovas} ranges, room for ${max}`);
}

/** iommufd_ioas_load_iovas: the user's list; EINVAL for start >= last or overlaps within it. */
function loadIovas(ctx: IommufdCtx, proc: Process, uptr: bigint, num: number): IovaRange[] {
  const out: IovaRange[] = [];
  for (let i = 0; i < num; i++) {
    const r = iommu_iova_range.decode(proc.memRead(uptr + BigInt(i * iommu_iova_range.size), iommu_iova_range.size));
    if (r.start >= r.last) throw new ErrnoError('EINVAL', 'ioctl', `allowed range ${i}: start >= last`);
    if (out.some((o) => o.start <= r.last && o.last >= r.start)) throw new ErrnoError('EINVAL', 'ioctl', `allowed range ${i} overlaps another`);
    // Each range is a struct iopt_allowed of its own.
    ctx.faults.check('iommufd_ioas_load_iovas');
    out.push({ start: r.start, last: r.last });
  }
  return out;
}

export function ioctlIoasAllowIovas(ucmd: Ucmd<StructType<typeof iommu_ioas_allow_iovas>>): void {
  const cmd = ucmd.cmd;
  if (cmd.__reserved) throw new ErrnoError('EOPNOTSUPP', 'ioctl', '__reserved');
  const ioas = getIoas(ucmd.ctx, cmd.ioas_id);
  ioas.iopt.setAllowed(loadIovas(ucmd.ctx, ucmd.proc, cmd.allowed_iovas, cmd.num_iovas));
}

function checkMapCommon(flags: number, iova: bigint, length: bigint): void {
  if (iova >= ULONG_MAX || length >= ULONG_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'iova or length');
  if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) throw new ErrnoError('EINVAL', 'ioctl', 'neither READABLE nor WRITEABLE');
}

/** iopt_alloc_user_pages: lazy pages over [uptr, uptr + length) of the calling process. */
export function allocUserPages(ctx: IommufdCtx, proc: Process, uptr: bigint, length: bigint, writable: boolean): { pages: IoptPages; startByte: number } {
  if (uptr + length > U64_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'user_va + length overflows');
  if (length === 0n || length > U64_MAX - PAGE) throw new ErrnoError('EINVAL', 'ioctl', `length ${length}`);
  ctx.faults.check('iopt_alloc_pages');
  const down = uptr - (uptr % PAGE);
  const startByte = Number(uptr % PAGE);
  const pages = new IoptPages({ kind: 'user', uptr: Number(down) }, startByte, Number(length), writable, proc);
  return { pages, startByte };
}

/** iopt_map_common: one slice of fresh pages at a fixed or allocated IOVA; drops the pages on failure. */
export function mapCommon(ioas: IommufdIoas, slice: PagesSlice, iova: bigint, alloc: boolean, prot: number, hint: bigint): bigint {
  const pages = slice.pages;
  if (ioas.ctx.accountMode === 'mm' && pages.accountMode === 'user') pages.accountMode = 'mm';
  try {
    return ioas.iopt.mapPages([slice], slice.length, iova, alloc, prot, hint);
  } catch (e) {
    putPages(pages);
    throw e;
  }
}

export function ioctlIoasMap(ucmd: Ucmd<StructType<typeof iommu_ioas_map>>): void {
  const cmd = ucmd.cmd;
  if (cmd.flags & ~MAP_FLAGS || cmd.__reserved) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'IOMMU_IOAS_MAP flags or __reserved');
  checkMapCommon(cmd.flags, cmd.iova, cmd.length);
  const ioas = getIoas(ucmd.ctx, cmd.ioas_id);
  const { pages, startByte } = allocUserPages(ucmd.ctx, ucmd.proc, cmd.user_va, cmd.length, (cmd.flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0);
  cmd.iova = mapCommon(ioas, { pages, startByte, length: cmd.length }, cmd.iova, !(cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA), convIommuProt(cmd.flags), cmd.user_va);
  ucmd.respond();
}

export function ioctlIoasMapFile(ucmd: Ucmd<StructType<typeof iommu_ioas_map_file>>): void {
  const cmd = ucmd.cmd;
  if (cmd.flags & ~MAP_FLAGS) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'IOMMU_IOAS_MAP_FILE flags');
  checkMapCommon(cmd.flags, cmd.iova, cmd.length);
  const ioas = getIoas(ucmd.ctx, cmd.ioas_id);
  if (cmd.length === 0n) throw new ErrnoError('EINVAL', 'ioctl', 'length is 0');
  if (cmd.start + cmd.length - 1n > U64_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'start + length overflows');
  const startByte = Number(cmd.start % PAGE);
  const writable = (cmd.flags & IOMMU_IOAS_MAP_WRITEABLE) !== 0;
  const file = ucmd.proc.file(cmd.fd);
  const buf = dmaBufOf(file);
  let pages: IoptPages;
  if (buf) {
    if (BigInt(buf.size) <= cmd.start + cmd.length - 1n) throw new ErrnoError('EINVAL', 'ioctl', `dma-buf of ${buf.size} bytes cannot hold start + length`);
    ucmd.ctx.faults.check('iopt_alloc_pages');
    const attach = buf.attach(() => pages.onRevoke());
    try {
      attach.phys = buf.exporter.physMap();
    } catch (e) {
      attach.detach();
      throw e;
    }
    file.get();
    pages = new IoptPages({ kind: 'dmabuf', attach, file, start: Number(cmd.start) - startByte }, startByte, Number(cmd.length), writable, ucmd.proc);
  } else {
    const m = memfdOf(file);
    if (!m) throw new ErrnoError('EINVAL', 'ioctl', `fd ${cmd.fd} is neither a memfd nor a dma-buf`);
    ucmd.ctx.faults.check('iopt_alloc_pages');
    pages = new IoptPages({ kind: 'file', obj: m.obj, memfd: m, start: Number(cmd.start) - startByte }, startByte, Number(cmd.length), writable, ucmd.proc);
  }
  cmd.iova = mapCommon(ioas, { pages, startByte, length: cmd.length }, cmd.iova, !(cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA), convIommuProt(cmd.flags), cmd.start);
  ucmd.respond();
}

export function ioctlIoasCopy(ucmd: Ucmd<StructType<typeof iommu_ioas_copy>>): void {
  const cmd = ucmd.cmd;
  if (cmd.flags & ~MAP_FLAGS) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'IOMMU_IOAS_COPY flags');
  if (cmd.length >= ULONG_MAX || cmd.src_iova >= ULONG_MAX || cmd.dst_iova >= ULONG_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'length or IOVA');
  if (!(cmd.flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) throw new ErrnoError('EINVAL', 'ioctl', 'neither READABLE nor WRITEABLE');
  const src = getIoas(ucmd.ctx, cmd.src_ioas_id);
  const slices = src.iopt.getPages(cmd.src_iova, cmd.length);
  try {
    const dst = getIoas(ucmd.ctx, cmd.dst_ioas_id);
    const first = slices[0]!;
    const hint = first.pages.src.kind === 'user' ? BigInt(first.pages.src.uptr) + BigInt(first.startByte) : BigInt(first.startByte);
    cmd.dst_iova = dst.iopt.mapPages(slices, cmd.length, cmd.dst_iova, !(cmd.flags & IOMMU_IOAS_MAP_FIXED_IOVA), convIommuProt(cmd.flags), hint);
  } catch (e) {
    for (const s of slices) putPages(s.pages);
    throw e;
  }
  ucmd.respond();
}

export function ioctlIoasUnmap(ucmd: Ucmd<StructType<typeof iommu_ioas_unmap>>): void {
  const cmd = ucmd.cmd;
  const ioas = getIoas(ucmd.ctx, cmd.ioas_id);
  let unmapped: bigint;
  if (cmd.iova === 0n && cmd.length === U64_MAX) {
    unmapped = ioas.iopt.unmapRange(0n, ULONG_MAX);
  } else {
    if (cmd.iova >= ULONG_MAX || cmd.length >= ULONG_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'iova or length');
    if (cmd.length === 0n) throw new ErrnoError('EINVAL', 'ioctl', 'length is 0');
    const last = cmd.iova + cmd.length - 1n;
    if (last > ULONG_MAX) throw new ErrnoError('EOVERFLOW', 'ioctl', 'iova + length overflows');
    unmapped = ioas.iopt.unmapRange(cmd.iova, last);
    if (unmapped === 0n) throw new ErrnoError('ENOENT', 'ioctl', `nothing mapped at 0x${cmd.iova.toString(16)}+0x${cmd.length.toString(16)}`);
  }
  cmd.length = unmapped;
  ucmd.respond();
}
