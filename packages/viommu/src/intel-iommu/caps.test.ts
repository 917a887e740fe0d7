import { describe, expect, it } from 'vitest';
import { parseQemuCommandLine } from '../qemu/options.js';
import { vtdCapInit } from './caps.js';
import { intelIommuConfig } from './config.js';

const caps = (props: string) => vtdCapInit(intelIommuConfig(parseQemuCommandLine(['-device', `intel-iommu,${props}`]).devices[0]!));

describe('vtd_cap_init', () => {
  it('x-flts=on,caching-mode=on: first stage only, FS1GP, 48-bit', () => {
    const { cap, ecap } = caps('x-scalable-mode=on,x-flts=on,caching-mode=on');
    // ESRTPS 63 | FS1GP 56 | DRD 55 | DWD 54 | MAMV 18 << 48 | PSI 39 | SSLPS 3 << 34   -> high dword 0x81d2008c
    // FRO 0x220/16 = 0x22 << 24 | MGAW 47 << 16 | SAGAW (39|48 = 0b110) << 8 | CM 7 | ND 6 -> low dword 0x222f0686
    expect(cap).toBe(0x81d2008c_222f0686n);
    // FSTS 47 | SMTS 43 -> high 0x8800; PT 6 | IRO 0xf0/16 = 0xf << 8 | QI 1 -> low 0x0f42
    expect(ecap).toBe(0x00008800_00000f42n);
  });

  it('shadow (x-flts=off, aw-bits=39): second stage and SRS, no FS1GP', () => {
    const { cap, ecap } = caps('x-scalable-mode=on,caching-mode=on,aw-bits=39');
    // high: ESRTPS | DRD | DWD | MAMV | PSI | SSLPS = 0x80d2008c; low: FRO | MGAW 38 << 16 | SAGAW 0b010 << 8 | CM | ND 6
    expect(cap).toBe(0x80d2008c_22260286n);
    // SSTS 46 | SMTS 43 -> high 0x4800; SRS 31 | PT | IRO | QI -> low 0x80000f42
    expect(ecap).toBe(0x00004800_80000f42n);
  });

  it('x-pasid-mode adds PASID with 20-bit PSS; fs1gp=off, dma-drain and caching mode follow their properties', () => {
    const { cap, ecap } = caps('x-scalable-mode=on,x-flts=on,x-pasid-mode=on,fs1gp=off');
    expect(cap & (1n << 56n)).toBe(0n);
    expect(cap & (1n << 7n)).toBe(0n);
    // PASID 40 | PSS 19 << 35
    expect((ecap >> 35n) & 0x3fn).toBe(0x20n | 19n);
  });

  it('svm=on adds PRS, NWFS, PDS, SMPWC and VCS to ECAP', () => {
    const plain = caps('x-scalable-mode=on,x-flts=on,caching-mode=on,device-iotlb=on,x-pasid-mode=on').ecap;
    const svm = caps('x-scalable-mode=on,x-flts=on,caching-mode=on,device-iotlb=on,x-pasid-mode=on,svm=on').ecap;
    // PRS 29, NWFS 33, PDS 42, VCS 44, SMPWC 48
    expect(svm ^ plain).toBe((1n << 29n) | (1n << 33n) | (1n << 42n) | (1n << 44n) | (1n << 48n));
  });
});
