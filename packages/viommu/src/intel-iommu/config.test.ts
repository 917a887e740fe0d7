import { describe, expect, it } from 'vitest';
import { parseQemuCommandLine, QemuOptionError } from '../qemu/options.js';
import { intelIommuConfig } from './config.js';

const opts = (props: string) => parseQemuCommandLine(['-device', `intel-iommu${props ? ',' + props : ''}`]).devices[0]!;

function refusal(props: string): string {
  try {
    intelIommuConfig(opts(props));
  } catch (e) {
    expect(e).toBeInstanceOf(QemuOptionError);
    return (e as QemuOptionError).reason;
  }
  throw new Error(`accepted: ${props}`);
}

describe('intel-iommu properties (vtd_properties, vtd_decide_config)', () => {
  it('takes QEMU defaults: aw-bits 48, caching-mode off, dma-drain on, fs1gp on, pt on', () => {
    const c = intelIommuConfig(opts('x-scalable-mode=on'));
    expect(c).toMatchObject({ awBits: 48, cachingMode: false, scalableMode: true, fsts: false, dmaDrain: true, fs1gp: true, pt: true, pasid: false });
  });

  it('reads the issue command line', () => {
    const c = intelIommuConfig(opts('x-scalable-mode=on,x-flts=on,caching-mode=on,aw-bits=48,fs1gp=on'));
    expect(c).toMatchObject({ awBits: 48, cachingMode: true, scalableMode: true, fsts: true, fs1gp: true });
  });

  it('refuses what vtd_decide_config refuses, in its words', () => {
    expect(refusal('x-flts=on')).toBe('x-flts is only available in scalable mode');
    expect(refusal('x-scalable-mode=on,x-flts=on,aw-bits=39')).toBe('Scalable mode(x-flts=on): supported value for aw-bits is: 48');
    expect(refusal('x-scalable-mode=on,aw-bits=57')).toBe('Scalable mode(flts=off): supported values for aw-bits are: 39, 48');
    expect(refusal('aw-bits=52')).toBe('Legacy mode: supported values for aw-bits are: 39, 48');
    expect(refusal('x-scalable-mode=on,dma-drain=off')).toBe('Need to set dma_drain for scalable mode');
    expect(refusal('x-pasid-mode=on')).toBe('Need to set scalable mode for PASID');
    expect(refusal('eim=on')).toBe('eim=on cannot be selected without intremap=on');
  });

  it('svm (the QEMU ATS/PRI series) needs device-iotlb, x-flts, dma-translation and x-pasid-mode, in its words', () => {
    const base = 'x-scalable-mode=on,caching-mode=on';
    expect(refusal(`${base},svm=on`)).toBe('Need to set device IOTLB for svm');
    expect(refusal(`${base},svm=on,device-iotlb=on`)).toBe('Need to set flts for svm');
    expect(refusal(`${base},svm=on,device-iotlb=on,x-flts=on,dma-translation=off`)).toBe('Need to set dma-translation for svm');
    expect(refusal(`${base},svm=on,device-iotlb=on,x-flts=on`)).toBe('Need to set PASID support for svm');
    // The series drops the old "PASID based device IOTLB is not supported" refusal.
    const c = intelIommuConfig(opts(`${base},svm=on,device-iotlb=on,x-flts=on,x-pasid-mode=on,x-pasid-quota=8`));
    expect(c).toMatchObject({ svm: true, pasid: true, deviceIotlb: true, pasidQuota: 8 });
    expect(intelIommuConfig(opts(base)).pasidQuota).toBe(1000);
  });

  it('refuses unknown properties and bad values as qdev does', () => {
    expect(refusal('x-scalable-mode=on,flts=on')).toBe("Property 'intel-iommu.flts' not found");
    expect(refusal('x-scalable-mode=maybe')).toBe("Parameter 'x-scalable-mode' expects 'on' or 'off'");
    expect(refusal('x-scalable-mode=on,aw-bits=300')).toBe("Parameter 'aw-bits' expects uint8");
  });

  it('models scalable mode only and says so', () => {
    expect(refusal('caching-mode=on')).toMatch(/scalable mode only/);
  });
});
