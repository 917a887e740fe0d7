import { VTD_FR_SM_CTX_P, VTD_FR_SM_CTX_RSVD, VTD_FR_SM_PDE_P, VTD_FR_SM_PTE_INVALID, VTD_FR_SM_ROOT_P, VTD_FR_SM_ROOT_RSVD } from '@iommu-lab/hw-vtd/format';
import { Host } from '@iommu-lab/platform';
import { describe, expect, it } from 'vitest';
import { GuestRam } from '../vm/guest-ram.js';
import { ceGetPasidEntry, devToContextEntry, pe, type VtdStructureConfig } from './structures.js';

const ROOT = 0x1000;
const CTX = 0x2000;
const DIR = 0x3000;
const TABLE = 0x4000;
const DEVFN = 0x18;

function rig(cfg: Partial<VtdStructureConfig> = {}) {
  const host = new Host({ memory: 64 * 2 ** 20 });
  const ram = new GuestRam(host.spawnProcess(), 16 * 2 ** 20, host.mem);
  // Root entry of bus 0, lower half: context table | P.
  ram.setU64(ROOT, BigInt(CTX) | 1n);
  // Context entry of devfn 0x18 (32 bytes each): PASID directory | PDTS 2 << 9 | P; RID_PASID 0.
  ram.setU64(CTX + DEVFN * 32, BigInt(DIR) | (2n << 9n) | 1n);
  // PASID directory entry 0: table | P.
  ram.setU64(DIR, BigInt(TABLE) | 1n);
  // PASID 0: PGTT 1 (first stage) << 6 | AW 2 << 2 | P = 0x49; DID 5; FSPTPTR 0x9000.
  ram.setU64(TABLE, 0x49n);
  ram.setU64(TABLE + 8, 5n);
  ram.setU64(TABLE + 16, 0x9000n);
  const c: VtdStructureConfig = { awBits: 48, fsts: true, ssts: false, pt: true, sagaw: 0b110, ...cfg };
  const ce = new Uint32Array(8);
  const pw = new Uint32Array(16);
  return { ram, c, ce, pw, lookup: () => devToContextEntry(ram, ROOT, c, 0, DEVFN, ce, pw) };
}

describe('guest structures as the emulated unit reads them', () => {
  it('finds the context entry and the RID_PASID entry', () => {
    const r = rig();
    expect(r.lookup()).toBe(0);
    expect(ceGetPasidEntry(r.ram, r.c, r.ce, 0, r.pw)).toBe(0);
    expect([pe.pgtt(r.pw), pe.did(r.pw), pe.fsptptr(r.pw), pe.fsAw(r.pw)]).toEqual([1, 5, 0x9000, 48]);
  });

  it('reports where the lookup stopped with the scalable-mode fault reason', () => {
    const r = rig();
    r.ram.setU64(ROOT, BigInt(CTX));
    expect(r.lookup()).toBe(VTD_FR_SM_ROOT_P);
    // Bit 1 of the root entry is reserved.
    r.ram.setU64(ROOT, BigInt(CTX) | 3n);
    expect(r.lookup()).toBe(VTD_FR_SM_ROOT_RSVD);
    r.ram.setU64(ROOT, BigInt(CTX) | 1n);
    r.ram.setU64(CTX + DEVFN * 32, 0n);
    expect(r.lookup()).toBe(VTD_FR_SM_CTX_P);
    // Bits 8:5 of a context entry are reserved.
    r.ram.setU64(CTX + DEVFN * 32, BigInt(DIR) | 0x20n | 1n);
    expect(r.lookup()).toBe(VTD_FR_SM_CTX_RSVD);
    r.ram.setU64(CTX + DEVFN * 32, BigInt(DIR) | 1n);
    r.ram.setU64(DIR, 0n);
    expect(r.lookup()).toBe(VTD_FR_SM_PDE_P);
  });

  it('checks the PGTT against what the unit reports (vtd_pe_type_check)', () => {
    // First stage on a unit without FSTS.
    expect(rig({ fsts: false, ssts: true }).lookup()).toBe(VTD_FR_SM_PTE_INVALID);
    const r = rig();
    // Nested (PGTT 3) is never accepted; second stage (2) needs SSTS.
    r.ram.setU64(TABLE, 0xc9n);
    expect(r.lookup()).toBe(VTD_FR_SM_PTE_INVALID);
    r.ram.setU64(TABLE, 0x89n);
    expect(r.lookup()).toBe(VTD_FR_SM_PTE_INVALID);
    // Second stage with AW 1 (3 levels) on a unit whose SAGAW has only 4 levels.
    const s = rig({ fsts: false, ssts: true, sagaw: 0b100 });
    s.ram.setU64(TABLE, 0x85n);
    expect(s.lookup()).toBe(VTD_FR_SM_PTE_INVALID);
    s.ram.setU64(TABLE, 0x89n);
    expect(s.lookup()).toBe(0);
  });
});
