// smmuv3_cmdq_consume: on the CMDQ_PROD write exit the unit reads every command between CONS and PROD from
// guest RAM (IHI0070 4) and executes it; an illegal one stops the queue with CMDQ_CONS.ERR and GERROR.CMDQ_ERR
// until the guest acknowledges it in GERRORN. With accel, invalidations are forwarded to the host in batches.
import { CERROR_ABT, CERROR_ILL, CMD_SYNC_CS_IRQ, CMDQ_OP as OP, CMDQ_OP_NAMES, GERROR_CMDQ_ERR, GERROR_MSI_CMDQ_ABT_ERR } from '@iommu-lab/hw-smmuv3/format';
import { bump } from '../vm/stats.js';
import type { ArmSmmuV3Device } from './smmuv3.js';

/** The command being executed: dword 0 bits 31:0, 63:32, dword 1 bits 31:0, 63:32. */
const w = new Uint32Array(4);
const dw0 = w.subarray(0, 2);
const dw1 = w.subarray(2, 4);
/** IDR0.MSI. */
const IDR0_MSI = 1 << 13;

/** CMD_SYNC: CS = IRQ completes with an MSI write of MSIData to MSIAddr, or the wired interrupt without one. */
function cmdSync(s: ArmSmmuV3Device): number {
  const err = s.accel?.flushBatch() ?? 0;
  if (err) return err;
  if (((w[0]! >>> 12) & 3) !== CMD_SYNC_CS_IRQ) return 0;
  const msiAddr = (w[3]! & 0xfffff) * 2 ** 32 + ((w[2]! & ~3) >>> 0);
  if ((s.id.idr[0]! & IDR0_MSI) === 0 || msiAddr === 0) {
    s.triggerIrq('cmd-sync');
    return 0;
  }
  // The MSI is a 32-bit write of MSIData (dword 0 bits 63:32); outside RAM it aborts (GERROR.MSI_CMDQ_ABT_ERR).
  if (!s.vm.ram.contains(msiAddr, 4)) s.triggerIrq('gerror', GERROR_MSI_CMDQ_ABT_ERR);
  else s.vm.ram.setU32(msiAddr, w[1]!);
  return 0;
}

/** CMD_PRI_RESP with pri=on (IHI0070 4.6.1): the reserved Resp and SSV without SubstreamIDs are illegal. */
function priResp(s: ArmSmmuV3Device): number {
  const resp = (w[2]! >>> 12) & 3;
  const ssv = (w[0]! & (1 << 11)) !== 0;
  if (resp === 3 || (ssv && s.cfg.ssidsize === 0)) return CERROR_ILL;
  s.pri!.respond(w[1]!, ssv, (w[0]! >>> 12) & 0xfffff, w[2]! & 0x1ff, resp);
  return 0;
}

/** Executes the command in `w`; returns a CERROR_* code (0 when it completed). */
function execute(s: ArmSmmuV3Device, op: number): number {
  const accel = s.accel;
  const ssec = (w[0]! & (1 << 10)) !== 0;
  const sid = w[1]!;
  switch (op) {
    case OP.CMD_SYNC:
      return cmdSync(s);
    case OP.PREFETCH_CONFIG:
    case OP.PREFETCH_ADDR:
      return 0;
    case OP.CFGI_STE:
      if (ssec) return CERROR_ILL;
      return accel && !accel.installSte(sid) ? CERROR_ILL : 0;
    case OP.CFGI_STE_RANGE: {
      if (ssec) return CERROR_ILL;
      // 2^(Range+1) StreamIDs, aligned down; Range 31 is CFGI_ALL.
      const span = 2 ** ((w[2]! & 0x1f) + 1);
      const start = sid - (sid % span);
      return accel && !accel.installSteRange(start, start + span - 1) ? CERROR_ILL : 0;
    }
    case OP.CFGI_CD:
    case OP.CFGI_CD_ALL:
      if (ssec) return CERROR_ILL;
      return accel?.batchCmd(w, sid) ?? 0;
    case OP.ATC_INV:
      return accel?.batchCmd(w, sid) ?? 0;
    case OP.TLBI_NH_ASID:
    case OP.TLBI_NH_VA:
    case OP.TLBI_NH_VAA:
    case OP.TLBI_NH_ALL:
    case OP.TLBI_NSNH_ALL:
      // Without stage 2, TLBI_NH_ALL invalidates like TLBI_NSNH_ALL; the host puts in its own VMID.
      return accel?.batchCmd(w, -1) ?? 0;
    case OP.TLBI_S12_VMALL:
    case OP.TLBI_S2_IPA:
      // Stage-2 commands on a unit that does not advertise stage 2.
      return CERROR_ILL;
    case OP.PRI_RESP:
      // Without pri=on, traced and ignored as QEMU does.
      return s.pri ? priResp(s) : 0;
    case OP.TLBI_EL3_ALL:
    case OP.TLBI_EL3_VA:
    case OP.TLBI_EL2_ALL:
    case OP.TLBI_EL2_ASID:
    case OP.TLBI_EL2_VA:
    case OP.TLBI_EL2_VAA:
    case OP.RESUME:
    case OP.STALL_TERM:
      // Known commands QEMU does not implement: traced and ignored.
      return 0;
    default:
      return CERROR_ILL;
  }
}

export function smmuV3CmdqConsume(s: ArmSmmuV3Device): void {
  if (!s.cmdqEnabled()) return;
  const q = s.cmdq;
  const ram = s.vm.ram;
  const counts = s.vm.stats.guestInvalidations;
  const tp = s.tp.cmd;
  let err = 0;
  while (!q.empty()) {
    if ((s.gerror ^ s.gerrorn) & GERROR_CMDQ_ERR) break;
    const at = q.consEntry();
    if (!ram.read64(at, dw0) || !ram.read64(at + 8, dw1)) {
      err = CERROR_ABT;
      break;
    }
    const op = w[0]! & 0xff;
    const name = CMDQ_OP_NAMES[op] ?? 'ILLEGAL';
    bump(counts, name);
    if (tp.enabled) tp.emit({ cmd: name, cons: q.cons, words: Array.from(w, (x) => `0x${x.toString(16)}`) });
    err = execute(s, op);
    if (err) break;
    q.consIncr();
  }
  // What the guest queued without a CMD_SYNC still reaches the host before the exit returns.
  if (!err) err = s.accel?.flushBatch() ?? 0;
  if (err) s.cmdqError(err);
}
