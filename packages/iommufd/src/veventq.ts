// IOMMU_VEVENTQ_ALLOC: vendor events of a vIOMMU read by the VMM, with sequence numbers and lost-event marks (eventq.c).
import { type iommu_veventq_alloc, IOMMU_VEVENTQ_FLAG_LOST_EVENTS, IOMMU_VEVENTQ_TYPE_DEFAULT, iommufd_vevent_header } from '@iommu-lab/iommu-core';
import { ErrnoError, type OpenFile, type StructType } from '@iommu-lab/platform';
import type { IommufdCtx } from './context.js';
import { eventqFops, eventqInstall, IommufdEventq } from './eventq.js';
import type { Ucmd } from './ucmd.js';
import { getViommu, type IommufdViommu } from './viommu.js';

/** VEVENTQ_MAX_DEPTH */
const MAX_DEPTH = 1 << 19;
const INT_MAX = 0x7fff_ffff;
const HEADER = iommufd_vevent_header.size;

interface Vevent {
  flags: number;
  sequence: number;
  data: Uint8Array;
}

export class IommufdVeventq extends IommufdEventq {
  readonly type = 'VEVENTQ';
  private readonly deliver: Vevent[] = [];
  /** The one lost-events record; queued (last) while the queue has overflowed since the last event. */
  private readonly lostHeader: Vevent = { flags: IOMMU_VEVENTQ_FLAG_LOST_EVENTS, sequence: 0, data: new Uint8Array(0) };
  private sequence = 0;
  numEvents = 0;

  constructor(
    ctx: IommufdCtx,
    readonly viommu: IommufdViommu,
    readonly veventqType: number,
    readonly depth: number,
  ) {
    super(ctx);
  }

  get pending(): boolean {
    return this.deliver.length > 0;
  }

  /** iommufd_viommu_report_event: a full queue turns the event into the lost-events mark. */
  report(data: Uint8Array): void {
    if (!data.length) throw new ErrnoError('EINVAL', 'ioctl', 'empty vEVENT');
    const ev = this.numEvents === this.depth ? this.lostHeader : { flags: 0, sequence: 0, data: data.slice() };
    if (ev !== this.lostHeader) this.numEvents++;
    // iommufd_vevent_handler: a trailing lost-events mark is replaced by whatever comes next.
    if (this.deliver[this.deliver.length - 1] === this.lostHeader) this.deliver.pop();
    ev.sequence = this.sequence;
    this.sequence = (this.sequence + 1) & INT_MAX;
    this.deliver.push(ev);
  }

  /** iommufd_veventq_fops_read: header + data per event, never a partial event. */
  read(count: number): Uint8Array {
    if (count < HEADER) throw new ErrnoError('EINVAL', 'read', `count ${count} is smaller than a vEVENT header`);
    const parts: Uint8Array[] = [];
    let done = 0;
    while (this.deliver.length) {
      const cur = this.deliver[0]!;
      if (HEADER > count - done) break;
      if (cur !== this.lostHeader && HEADER + cur.data.length > count - done) {
        if (done === 0) throw new ErrnoError('EINVAL', 'read', `a ${cur.data.length}-byte vEVENT does not fit ${count} bytes`);
        break;
      }
      this.deliver.shift();
      parts.push(iommufd_vevent_header.encode({ flags: cur.flags, sequence: cur.sequence }), cur.data);
      done += HEADER + cur.data.length;
      if (cur !== this.lostHeader) this.numEvents--;
    }
    const out = new Uint8Array(done);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  destroy(): void {
    this.deliver.length = 0;
    const i = this.viommu.veventqs.indexOf(this);
    if (i >= 0) this.viommu.veventqs.splice(i, 1);
    this.viommu.put();
  }
}

const veventqFops = eventqFops('[iommufd-viommu-event]', (file: OpenFile, length: number) => (file.priv as IommufdVeventq).read(length));

export function ioctlVeventqAlloc(ucmd: Ucmd<StructType<typeof iommu_veventq_alloc>>): void {
  const cmd = ucmd.cmd;
  const ctx = ucmd.ctx;
  if (cmd.flags || cmd.__reserved || cmd.type === IOMMU_VEVENTQ_TYPE_DEFAULT) throw new ErrnoError('EOPNOTSUPP', 'ioctl', 'flags, __reserved or the default type');
  if (!cmd.veventq_depth || cmd.veventq_depth > MAX_DEPTH) throw new ErrnoError('EINVAL', 'ioctl', `veventq_depth ${cmd.veventq_depth}`);
  const viommu = getViommu(ctx, cmd.viommu_id);
  if (viommu.findVeventq(cmd.type)) throw new ErrnoError('EEXIST', 'ioctl', `the vIOMMU has a vEVENTQ of type ${cmd.type}`);
  const q = new IommufdVeventq(ctx, viommu, cmd.type, cmd.veventq_depth);
  ctx.allocId(q);
  viommu.get();
  viommu.veventqs.push(q);
  ucmd.newObj = q;
  eventqInstall(q, ucmd.proc, 'anon_inode:[iommufd-viommu-event]', veventqFops, (fd) => {
    cmd.out_veventq_id = q.id;
    cmd.out_veventq_fd = fd;
    ucmd.respond();
  });
}
