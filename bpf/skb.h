/* SPDX-License-Identifier: GPL-2.0 */
/* Packets at tc: headers made readable, and addresses and ports rewritten through
 * the kernel's checksum helpers, which handle every skb checksum state
 * (CHECKSUM_PARTIAL from a local sender over veth included). */
#ifndef XLB_SKB_H
#define XLB_SKB_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "parse.h"
#include "stats.h"

/* Drops a packet, counted by why. */
static __always_inline int xlb_drop(enum xlb_drop_reason why)
{
	xlb_count_drop(why);
	return TC_ACT_SHOT;
}

/* Enough to see Ethernet, the longest IPv4 header and a TCP header. */
#define XLB_HEADERS_MAX (14 + 60 + 20)

/* Makes the first `want` bytes (or all there are) readable in the linear data. */
static __always_inline void xlb_skb_pull(struct __sk_buff *skb, __u32 want)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (data + want > data_end && skb->len > data_end - data)
		bpf_skb_pull_data(skb, skb->len < want ? skb->len : want);
}

static __always_inline int xlb_skb_parse(struct __sk_buff *skb, struct xlb_pkt *p)
{
	xlb_skb_pull(skb, XLB_HEADERS_MAX);
	return xlb_parse((void *)(long)skb->data, (void *)(long)skb->data_end, p);
}

enum xlb_nat_side {
	XLB_NAT_SRC, /* replies: the backend becomes the frontend */
	XLB_NAT_DST, /* requests: the frontend becomes the backend */
};

/* Rewrites one side's address and port; a failure leaves a half-rewritten packet,
 * which the caller must drop. */
static __always_inline int xlb_skb_nat(struct __sk_buff *skb, const struct xlb_pkt *p, enum xlb_nat_side side,
				       __be32 to_addr, __be16 to_port)
{
	__be32 from_addr = side == XLB_NAT_SRC ? p->key.saddr : p->key.daddr;
	__be16 from_port = side == XLB_NAT_SRC ? p->key.sport : p->key.dport;
	__u32 addr_off = p->l3_off + (side == XLB_NAT_SRC ? __builtin_offsetof(struct iphdr, saddr) : __builtin_offsetof(struct iphdr, daddr));
	/* Source then destination port: the same place in TCP and UDP. */
	__u32 port_off = p->l4_off + (side == XLB_NAT_SRC ? 0 : 2);
	/* A UDP checksum of 0 means none: keep it so (and a computed 0 is sent as 0xffff). */
	__u64 l4_flags = p->key.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;

	if (!p->udp_csum_zero &&
	    (bpf_l4_csum_replace(skb, p->csum_off, from_addr, to_addr, l4_flags | BPF_F_PSEUDO_HDR | sizeof(to_addr)) ||
	     bpf_l4_csum_replace(skb, p->csum_off, from_port, to_port, l4_flags | sizeof(to_port))))
		return -1;
	if (bpf_l3_csum_replace(skb, p->l3_off + __builtin_offsetof(struct iphdr, check), from_addr, to_addr, sizeof(to_addr)) ||
	    bpf_skb_store_bytes(skb, addr_off, &to_addr, sizeof(to_addr), 0) ||
	    bpf_skb_store_bytes(skb, port_off, &to_port, sizeof(to_port), 0))
		return -1;
	return 0;
}

#endif
