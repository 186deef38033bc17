// The programs' return codes (linux/bpf.h xdp_action, linux/pkt_cls.h TC_ACT_*), for
// the BPF program tests.
export const XDP = { DROP: 1, PASS: 2, TX: 3 } as const;
export const TC = { OK: 0, SHOT: 2, REDIRECT: 7 } as const;
