// The kernel's constants the agent passes that BTF cannot carry (preprocessor
// defines and anonymous enums of the uapi headers); the named enums (bpf_map_type,
// xdp_action) come from the objects' BTF in contract.ts.

/** linux/bpf.h, map_flags: the inner map may be replaced by one of another size. */
export const BPF_F_INNER_MAP = 1 << 12;
/** linux/bpf.h, map_flags: an array map user space can mmap. */
export const BPF_F_MMAPABLE = 1 << 10;
/** linux/pkt_cls.h: what a tc program returns. */
export const TC_ACT = { OK: 0, SHOT: 2, REDIRECT: 7 } as const;
