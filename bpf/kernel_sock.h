/* SPDX-License-Identifier: GPL-2.0 */
/* The few kernel-internal socket types the socket sweep reads, as CO-RE stubs:
 * libbpf relocates every field by name against the running kernel's BTF, so no
 * vmlinux.h (and no build-host kernel) is needed. */
#ifndef XLB_KERNEL_SOCK_H
#define XLB_KERNEL_SOCK_H

#include <linux/types.h>

struct sock_common {
	__be32 skc_daddr;
	__be16 skc_dport;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct udp_sock {
} __attribute__((preserve_access_index));

struct bpf_iter_meta {
} __attribute__((preserve_access_index));

struct bpf_iter__udp {
	struct bpf_iter_meta *meta;
	struct udp_sock *udp_sk;
} __attribute__((preserve_access_index));

/* Aborts a socket as `ss -K` does (kernel >= 6.5; iterator programs only). */
extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

#endif
