import { describe, expect, it } from 'vitest';
import { checkKnownProps, parseQemuCommandLine, QemuOptionError, qemuBool, qemuUint } from './options.js';

describe('the QEMU command line', () => {
  it('reads -m, -M, -device and -object as QemuOpts does', () => {
    const cl = parseQemuCommandLine('-m 4G -M q35 -device intel-iommu,x-scalable-mode=on,x-flts=on -object iommufd,id=iommufd0 -device vfio-pci,host=0000:01:00.0,iommufd=iommufd0');
    expect(cl.memory).toBe(4 * 2 ** 30);
    expect(cl.machine).toBe('q35');
    expect(cl.devices.map((d) => d.driver)).toEqual(['intel-iommu', 'vfio-pci']);
    expect([...cl.devices[0]!.props]).toEqual([
      ['x-scalable-mode', 'on'],
      ['x-flts', 'on'],
    ]);
    expect(cl.objects[0]!.props.get('id')).toBe('iommufd0');
    // A bare -m number is MiB; "driver=" names the driver; ",," is a literal comma.
    expect(parseQemuCommandLine('-m 512').memory).toBe(512 * 2 ** 20);
    expect(parseQemuCommandLine(['-device', 'driver=vfio-pci,id=a,,b']).devices[0]).toMatchObject({ driver: 'vfio-pci' });
    expect(parseQemuCommandLine(['-device', 'driver=vfio-pci,id=a,,b']).devices[0]!.props.get('id')).toBe('a,b');
  });

  it('refuses what QEMU refuses', () => {
    expect(() => parseQemuCommandLine('-smp 4')).toThrow(/-smp: invalid option/);
    expect(() => parseQemuCommandLine('-device')).toThrow(/requires an argument/);
    expect(() => parseQemuCommandLine('-device intel-iommu,x-flts')).toThrow(/Invalid parameter 'x-flts'/);
    expect(() => parseQemuCommandLine('-m lots')).toThrow(QemuOptionError);
  });

  it('types properties: booleans, unsigned integers, known names', () => {
    const d = parseQemuCommandLine(['-device', 'intel-iommu,a=yes,b=off,n=0x30,m=300']).devices[0]!;
    expect([qemuBool(d, 'a', false), qemuBool(d, 'b', true), qemuBool(d, 'c', true)]).toEqual([true, false, true]);
    expect(qemuUint(d, 'n', 0, 0xff)).toBe(48);
    expect(() => qemuUint(d, 'm', 0, 0xff)).toThrow("Parameter 'm' expects uint8");
    expect(() => checkKnownProps(d, ['a', 'b', 'n'])).toThrow("Property 'intel-iommu.m' not found");
  });
});
