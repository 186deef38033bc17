/* SPDX-License-Identifier: GPL-2.0 */
/* ICMP errors about a translated flow (destination unreachable, fragmentation needed
 * included; time exceeded; parameter problem) translated like the flow itself, so
 * the client's stack matches them to its socket: an error about a SNATed flow that
 * comes back to this node goes on to the client (tc ingress), an error a local
 * backend sends the client speaks of the frontend (tc egress). The quoted header and
 * ports are rewritten with the ICMP checksum; the quoted L4 checksum is left as it is
 * (no receiver checks it). */
#ifndef XLB_ICMP_H
#define XLB_ICMP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xlb.h"
#include "maps.h"
#include "parse.h"
#include "nat.h"

#define XLB_ICMP_TIME_EXCEEDED 11
#define XLB_ICMP_PARAMETER_PROBLEM 12
/* Ethernet, an outer IP and ICMP header, the quoted IP header and its ports. */
#define XLB_ICMP_HEADERS_MAX (14 + 60 + 8 + 60 + 4)

/* An ICMP error: its outer header, and the flow the quoted packet belongs to. */
struct xlb_icmp_err {
	struct xlb_pkt outer; /* outer addresses in key; ports unused */
	struct xlb_flow_key quoted; /* the packet the error is about, as it was sent */
	__u32 icmp_off;
	__u32 quoted_l3_off;
	__u32 quoted_l4_off;
};

static __always_inline int xlb_parse_icmp_err(struct __sk_buff *skb, struct xlb_icmp_err *e)
{
	xlb_skb_pull(skb, XLB_ICMP_HEADERS_MAX);
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl < 5 || ip->protocol != IPPROTO_ICMP || (ip->frag_off & bpf_htons(XLB_IP_MF | XLB_IP_OFFSET)))
		return -1;
	__u32 icmp_off = sizeof(*eth) + ip->ihl * 4;
	struct xlb_icmphdr *icmp = data + icmp_off;
	if ((void *)(icmp + 1) > data_end)
		return -1;
	if (icmp->type != XLB_ICMP_DEST_UNREACH && icmp->type != XLB_ICMP_TIME_EXCEEDED && icmp->type != XLB_ICMP_PARAMETER_PROBLEM)
		return -1;
	struct iphdr *q = (void *)(icmp + 1);
	if ((void *)(q + 1) > data_end || q->ihl < 5 || (q->protocol != IPPROTO_TCP && q->protocol != IPPROTO_UDP))
		return -1;
	__u32 ql4 = icmp_off + sizeof(*icmp) + q->ihl * 4;
	__be16 *ports = data + ql4;
	if ((void *)(ports + 2) > data_end)
		return -1;
	e->outer.l3_off = sizeof(*eth);
	e->outer.key.saddr = ip->saddr;
	e->outer.key.daddr = ip->daddr;
	e->icmp_off = icmp_off;
	e->quoted_l3_off = icmp_off + sizeof(*icmp);
	e->quoted_l4_off = ql4;
	e->quoted.saddr = q->saddr;
	e->quoted.daddr = q->daddr;
	e->quoted.sport = ports[0];
	e->quoted.dport = ports[1];
	e->quoted.proto = q->protocol;
	e->quoted.pad[0] = e->quoted.pad[1] = e->quoted.pad[2] = 0;
	return 0;
}

/* Rewrites one address of the outer header (ICMP's checksum does not cover it). */
static __always_inline int xlb_icmp_outer(struct __sk_buff *skb, const struct xlb_icmp_err *e, enum xlb_nat_side side, __be32 to)
{
	__be32 from = side == XLB_NAT_SRC ? e->outer.key.saddr : e->outer.key.daddr;
	__u32 off = e->outer.l3_off + (side == XLB_NAT_SRC ? __builtin_offsetof(struct iphdr, saddr) : __builtin_offsetof(struct iphdr, daddr));
	if (bpf_l3_csum_replace(skb, e->outer.l3_off + __builtin_offsetof(struct iphdr, check), from, to, sizeof(to)) ||
	    bpf_skb_store_bytes(skb, off, &to, sizeof(to), 0))
		return -1;
	return 0;
}

/* Rewrites one side (address and port) of the quoted packet, keeping the quoted IP
 * checksum and the ICMP checksum right. */
static __always_inline int xlb_icmp_quoted(struct __sk_buff *skb, const struct xlb_icmp_err *e, enum xlb_nat_side side, __be32 to_addr, __be16 to_port)
{
	__be32 from_addr = side == XLB_NAT_SRC ? e->quoted.saddr : e->quoted.daddr;
	__be16 from_port = side == XLB_NAT_SRC ? e->quoted.sport : e->quoted.dport;
	__u32 icmp_csum = e->icmp_off + __builtin_offsetof(struct xlb_icmphdr, checksum);
	__u32 q_csum = e->quoted_l3_off + __builtin_offsetof(struct iphdr, check);
	__u32 addr_off = e->quoted_l3_off + (side == XLB_NAT_SRC ? __builtin_offsetof(struct iphdr, saddr) : __builtin_offsetof(struct iphdr, daddr));
	__u32 port_off = e->quoted_l4_off + (side == XLB_NAT_SRC ? 0 : 2);
	__sum16 old_q, new_q;
	if (bpf_skb_load_bytes(skb, q_csum, &old_q, sizeof(old_q)) ||
	    bpf_l3_csum_replace(skb, q_csum, from_addr, to_addr, sizeof(to_addr)) ||
	    bpf_skb_load_bytes(skb, q_csum, &new_q, sizeof(new_q)) ||
	    bpf_l4_csum_replace(skb, icmp_csum, from_addr, to_addr, sizeof(to_addr)) ||
	    bpf_l4_csum_replace(skb, icmp_csum, old_q, new_q, sizeof(new_q)) ||
	    bpf_l4_csum_replace(skb, icmp_csum, from_port, to_port, sizeof(to_port)) ||
	    bpf_skb_store_bytes(skb, addr_off, &to_addr, sizeof(to_addr), 0) ||
	    bpf_skb_store_bytes(skb, port_off, &to_port, sizeof(to_port), 0))
		return -1;
	return 0;
}

/* tc ingress: an error about a SNATed flow (the quoted packet left with our SNAT
 * address) goes on to the client, about what the client sent. */
static __always_inline int xlb_icmp_ingress(struct __sk_buff *skb)
{
	struct xlb_icmp_err e;
	if (xlb_parse_icmp_err(skb, &e))
		return TC_ACT_OK;
	struct xlb_flow_key rk;
	xlb_reverse_key(&e.quoted, &rk);
	struct xlb_nat_value *n = bpf_map_lookup_elem(&xlb_nat, &rk);
	if (!n || e.outer.key.daddr != e.quoted.saddr)
		return TC_ACT_OK;
	__be32 client = n->client_addr, frontend = n->frontend_addr;
	__be16 client_port = n->client_port, frontend_port = n->frontend_port;
	struct bpf_fib_lookup fib;
	long rc = xlb_route(skb, &e.outer, 0, client, &fib);
	if (xlb_icmp_outer(skb, &e, XLB_NAT_DST, client) || xlb_icmp_quoted(skb, &e, XLB_NAT_SRC, client, client_port) ||
	    xlb_icmp_quoted(skb, &e, XLB_NAT_DST, frontend, frontend_port))
		return xlb_drop(XLB_DROP_REWRITE);
	return xlb_forward(skb, &e.outer, &fib, rc);
}

/* tc egress: an error a local backend sends about a flow it got through a frontend
 * speaks of the frontend, from the frontend. */
static __always_inline int xlb_icmp_egress(struct __sk_buff *skb)
{
	struct xlb_icmp_err e;
	if (xlb_parse_icmp_err(skb, &e))
		return TC_ACT_OK;
	struct xlb_flow_key rk;
	xlb_reverse_key(&e.quoted, &rk);
	struct xlb_rnat_value *r = bpf_map_lookup_elem(&xlb_rnat, &rk);
	if (!r)
		return TC_ACT_OK;
	__be32 frontend = r->frontend_addr;
	__be16 frontend_port = r->frontend_port;
	/* Only when the backend itself complains; a router's error keeps its source. */
	if (e.outer.key.saddr == e.quoted.daddr && xlb_icmp_outer(skb, &e, XLB_NAT_SRC, frontend))
		return xlb_drop(XLB_DROP_REWRITE);
	if (xlb_icmp_quoted(skb, &e, XLB_NAT_DST, frontend, frontend_port))
		return xlb_drop(XLB_DROP_REWRITE);
	return TC_ACT_OK;
}

#endif
