import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeRequest, encodeReply, encodeRequest, HELLO_NEW_IMAGE, OP, REP_HDR_SIZE, REQ_HDR_SIZE } from './protocol.js';
import { shimSourceDir } from './shim-build.js';

describe('the wire format', () => {
  it('has the op numbers of shim/protocol.h', () => {
    const h = readFileSync(join(shimSourceDir(), 'protocol.h'), 'utf8');
    const defs = Object.fromEntries([...h.matchAll(/#define BRIDGE_OP_(\w+) (\d+)/g)].map((m) => [m[1], Number(m[2])]));
    expect(defs).toEqual(OP);
    expect(h).toContain(`#define BRIDGE_HELLO_NEW_IMAGE ${HELLO_NEW_IMAGE}\n`);
  });

  it('has the struct layout the C compiler gives the shim', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bridge-proto-'));
    const src = join(dir, 'layout.c');
    writeFileSync(
      src,
      `#include <stdio.h>
#include <stddef.h>
#include "${join(shimSourceDir(), 'protocol.h')}"
int main(void) {
  printf("%zu %zu %zu %zu %zu %zu %zu %zu\\n", sizeof(struct bridge_req_hdr), offsetof(struct bridge_req_hdr, tid),
         offsetof(struct bridge_req_hdr, cap_eff), offsetof(struct bridge_req_hdr, memlock), sizeof(struct bridge_vm_event),
         sizeof(struct bridge_rep_hdr), offsetof(struct bridge_rep_hdr, ret), sizeof(struct bridge_new_fd));
  return 0;
}
`,
    );
    execFileSync('gcc', ['-o', join(dir, 'layout'), src]);
    const out = execFileSync(join(dir, 'layout'), { encoding: 'utf8' }).trim().split(' ').map(Number);
    // len 0, op 4, nevents 6, pid 8, tid 12, cap_eff 16, memlock 24: 32 bytes.
    expect(out).toEqual([REQ_HDR_SIZE, 12, 16, 24, 16, REP_HDR_SIZE, 8, 8]);
  });

  it('decodes a request frame byte by byte', () => {
    const payload = Uint8Array.of(7, 0, 0, 0);
    const f = encodeRequest(OP.CLOSE, 4242, payload, { capEff: 0x1234n, memlock: 65536n, events: [{ start: 0x1000, end: 0x3000 }] });
    // 32-byte header + one 16-byte event + 4 payload bytes.
    expect(f.length).toBe(52);
    expect(f.readUInt32LE(0)).toBe(52);
    expect(f.readUInt16LE(4)).toBe(3);
    expect(f.readUInt16LE(6)).toBe(1);
    expect(f.readInt32LE(8)).toBe(4242);
    expect(f.readBigUInt64LE(16)).toBe(0x1234n);
    expect(f.readBigUInt64LE(24)).toBe(65536n);
    expect(f.readBigUInt64LE(32)).toBe(0x1000n);
    expect(f.readBigUInt64LE(40)).toBe(0x3000n);
    expect(f[48]).toBe(7);
    const r = decodeRequest(f);
    expect(r).toMatchObject({ op: OP.CLOSE, pid: 4242, capEff: 0x1234n, memlock: 65536n, events: [{ start: 0x1000, end: 0x3000 }] });
    expect(r.body.i32()).toBe(7);
  });

  it('encodes a reply: result, new descriptors, data', () => {
    const r = encodeReply(-14, [{ fd: 5, cloexec: true }], Uint8Array.of(0xaa), true);
    // 16-byte header + one 8-byte descriptor + 1 data byte.
    expect(r.length).toBe(25);
    expect(r.readUInt32LE(0)).toBe(25);
    expect(r.readUInt16LE(4)).toBe(1);
    expect(r.readUInt16LE(6)).toBe(1);
    expect(r.readBigInt64LE(8)).toBe(-14n);
    expect(r.readInt32LE(16)).toBe(5);
    // O_CLOEXEC is 02000000 on x86-64.
    expect(r.readInt32LE(20)).toBe(0x80000);
    expect(r[24]).toBe(0xaa);
  });

  it('answers a read past the payload with EINVAL, not a crash', () => {
    const r = decodeRequest(encodeRequest(OP.IOCTL, 1, new Uint8Array(2)));
    expect(() => r.body.u64()).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
