import { describe, expect, it } from 'vitest';
import { ctValue, flowKey, svcKey, svcValue } from '../../src/dataplane/bpf/codec.js';

describe('struct codecs', () => {
  it('lays out xlb_svc_key in network order', () => {
    const b = svcKey.encode({ addr: '198.19.0.10', port: 80, proto: 6 });
    expect([...b]).toEqual([198, 19, 0, 10, 0, 80, 6, 0]);
    expect(svcKey.decode(b)).toEqual({ addr: '198.19.0.10', port: 80, proto: 6 });
  });

  it('aligns u64 fields and pads structs like C', () => {
    expect(svcValue.size).toBe(20);
    expect(flowKey.size).toBe(16);
    expect(ctValue.size).toBe(32);
    const v = { expires_ns: 123456789012345n, backend_id: 7, svc_id: 9, backend_addr: '198.18.1.10', backend_port: 8080, flags: 1, nat_addr: '198.18.0.1', nat_port: 61000 };
    expect(ctValue.decode(ctValue.encode(v))).toEqual(v);
  });

  it('rejects values that are not IPv4 addresses', () => {
    expect(() => svcKey.encode({ addr: '198.19.0.300', port: 1, proto: 6 })).toThrow(/not an IPv4/);
  });
});
