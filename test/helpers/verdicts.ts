// The programs' return codes, for the BPF program tests: xdp_action from the objects'
// BTF (contract.ts), TC_ACT_* from linux/pkt_cls.h (kernel.ts).
import { xdp_action } from '../../src/dataplane/bpf/contract.js';

export { TC_ACT as TC } from '../../src/dataplane/bpf/kernel.js';
export const XDP = { DROP: xdp_action.XDP_DROP, PASS: xdp_action.XDP_PASS, TX: xdp_action.XDP_TX } as const;
