/* SPDX-License-Identifier: GPL-2.0 */
/* SNAT at tc for external flows to a backend on another node (ETP=Cluster, as
 * kube-proxy masquerades them): the flow leaves with this node's address as source,
 * so the backend's replies come back here; they are translated back before the stack
 * sees them. Both directions are forwarded straight out of the device the FIB names
 * (a packet whose source is this node's own address would be a martian to the
 * stack's input routing). */
#ifndef XLB_NAT_H
#define XLB_NAT_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xlb.h"
#include "maps.h"
#include "parse.h"
#include "skb.h"
#include "conntrack.h"

/* The next hop towards `dst`, for a packet `p` (ingress device first). */
static __always_inline long xlb_route(struct __sk_buff *skb, const struct xlb_pkt *p, __be32 src, __be32 dst, struct bpf_fib_lookup *fib)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = XLB_AF_INET;
	fib->l4_protocol = p->key.proto;
	fib->tot_len = skb->len - p->l3_off;
	fib->ipv4_src = src;
	fib->ipv4_dst = dst;
	fib->ifindex = skb->ifindex;
	return bpf_fib_lookup(skb, fib, sizeof(*fib), 0);
}

/* Forwards a rewritten packet as a router would: TTL down by one, out of the FIB's
 * device to its next hop (resolving the neighbour when it is not known yet). */
static __always_inline int xlb_forward(struct __sk_buff *skb, const struct xlb_pkt *p, const struct bpf_fib_lookup *fib, long rc)
{
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return xlb_drop(XLB_DROP_NO_ROUTE);
	__u32 ttl_off = p->l3_off + __builtin_offsetof(struct iphdr, ttl);
	__be16 old, new;
	if (bpf_skb_load_bytes(skb, ttl_off, &old, sizeof(old)))
		return xlb_drop(XLB_DROP_REWRITE);
	if (*(__u8 *)&old <= 1)
		return xlb_drop(XLB_DROP_TTL); /* the stack would answer time exceeded; we are a transparent hop */
	new = old;
	*(__u8 *)&new -= 1;
	if (bpf_l3_csum_replace(skb, p->l3_off + __builtin_offsetof(struct iphdr, check), old, new, sizeof(new)) ||
	    bpf_skb_store_bytes(skb, ttl_off, &new, sizeof(new), 0))
		return xlb_drop(XLB_DROP_REWRITE);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(fib->ifindex, NULL, 0, 0);
	if (bpf_skb_store_bytes(skb, 0, fib->dmac, ETH_ALEN, 0) || bpf_skb_store_bytes(skb, ETH_ALEN, fib->smac, ETH_ALEN, 0))
		return xlb_drop(XLB_DROP_REWRITE);
	return bpf_redirect(fib->ifindex, 0);
}

/* Whether a socket of this node holds the tuple a reply to `rk` would carry. */
static __always_inline int xlb_node_socket(struct __sk_buff *skb, const struct xlb_flow_key *rk)
{
	struct bpf_sock_tuple t = {
		.ipv4 = { .saddr = rk->saddr, .daddr = rk->daddr, .sport = rk->sport, .dport = rk->dport },
	};
	struct bpf_sock *sk = rk->proto == IPPROTO_TCP
		? (struct bpf_sock *)bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0)
		: bpf_sk_lookup_udp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	bpf_sk_release(sk);
	return 1;
}

/* Claims `rk` (backend -> SNAT address, port in rk->dport) for a new flow, if free.
 * A global function: the verifier checks it once, not once per try of xlb_nat_claim's
 * loop inlined into each path of tc ingress (148k instructions, 200 ms of every agent
 * start, against 12k). Its pointers are checked because a global function's may be NULL. */
__noinline int xlb_nat_take(struct __sk_buff *skb, struct xlb_flow_key *rk, const struct xlb_nat_value *v, __u64 now)
{
	if (!rk || !v)
		return -1;
	__u16 port = bpf_ntohs(rk->dport);
	if (port >= XLB_NODEPORT_MIN && port <= XLB_NODEPORT_MAX)
		return -1;
	struct xlb_nat_value *old = bpf_map_lookup_elem(&xlb_nat, rk);
	if (old && !((old->flags & XLB_CT_CLOSING) && old->expires_ns + XLB_NAT_REUSE_NS < now + XLB_CT_TCP_CLOSING_NS) && old->expires_ns > now)
		return -1;
	if (xlb_node_socket(skb, rk))
		return -1;
	return bpf_map_update_elem(&xlb_nat, rk, v, old ? BPF_EXIST : BPF_NOEXIST);
}

/* Claims a source port for the flow's replies: the client's own when free, else a
 * random one of the range (see XLB_NAT_PORT_MIN). */
static __always_inline int xlb_nat_claim(struct __sk_buff *skb, struct xlb_flow_key *rk, const struct xlb_nat_value *v)
{
	__u64 now = bpf_ktime_get_ns();
	rk->dport = v->client_port;
	for (int i = 0; i < XLB_NAT_PORT_TRIES; i++) {
		if (!xlb_nat_take(skb, rk, v, now))
			return 0;
		rk->dport = bpf_htons(XLB_NAT_PORT_MIN + bpf_get_prandom_u32() % (XLB_NAT_PORT_MAX - XLB_NAT_PORT_MIN + 1));
	}
	return -1;
}

/* A packet of a flow to remote backend `b` (its conntrack entry just refreshed by
 * xlb_decide): SNAT and DNAT, then out towards the backend. */
static __always_inline int xlb_snat(struct __sk_buff *skb, const struct xlb_pkt *p, const struct xlb_backend *b)
{
	struct xlb_ct_value *ct = bpf_map_lookup_elem(&xlb_ct, &p->key);
	if (!ct)
		return xlb_drop(XLB_DROP_REWRITE);
	struct bpf_fib_lookup fib;
	long rc = xlb_route(skb, p, 0, b->addr, &fib);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return xlb_drop(XLB_DROP_NO_ROUTE);
	__u32 egress = fib.ifindex;
	struct xlb_device *dev = bpf_map_lookup_elem(&xlb_devices, &egress);
	if (!dev || !dev->snat_addr) {
		/* Not reached through a device of ours (an address of this node, say): replies
		 * will pass our egress like a local backend's, so DNAT alone serves. */
		return xlb_skb_nat(skb, p, XLB_NAT_DST, b->addr, b->port) ? xlb_drop(XLB_DROP_REWRITE) : TC_ACT_OK;
	}
	struct xlb_nat_value v = {
		.expires_ns = ct->expires_ns,
		.client_addr = p->key.saddr,
		.client_port = p->key.sport,
		.flags = ct->flags,
		.frontend_addr = p->key.daddr,
		.frontend_port = p->key.dport,
	};
	struct xlb_flow_key rk = { .saddr = b->addr, .daddr = dev->snat_addr, .sport = b->port, .proto = p->key.proto };
	if (ct->nat_port && ct->nat_addr == dev->snat_addr) {
		/* A known flow: keep its entry alive with the flow (the LRU may have dropped it). */
		rk.dport = ct->nat_port;
		struct xlb_nat_value *n = bpf_map_lookup_elem(&xlb_nat, &rk);
		/* A closed flow's port may have gone to a new flow: its late packets end here. */
		if (n && (n->client_addr != v.client_addr || n->client_port != v.client_port))
			return xlb_drop(XLB_DROP_STALE_FLOW);
		if (!n || n->expires_ns != v.expires_ns || n->flags != v.flags)
			bpf_map_update_elem(&xlb_nat, &rk, &v, BPF_ANY);
	} else {
		if (xlb_nat_claim(skb, &rk, &v))
			return xlb_drop(XLB_DROP_NAT_PORTS); /* every port tried is taken: the client retries */
		ct->nat_addr = dev->snat_addr;
		ct->nat_port = rk.dport;
	}
	if (xlb_skb_nat(skb, p, XLB_NAT_DST, b->addr, b->port))
		return xlb_drop(XLB_DROP_REWRITE);
	/* The rewrite above changed the destination; the source is rewritten from the original. */
	struct xlb_pkt q = *p;
	q.key.daddr = b->addr;
	q.key.dport = b->port;
	if (xlb_skb_nat(skb, &q, XLB_NAT_SRC, rk.daddr, rk.dport))
		return xlb_drop(XLB_DROP_REWRITE);
	return xlb_forward(skb, p, &fib, rc);
}

/* A reply of a SNATed flow (`n` found by its tuple): back to the client, from the
 * frontend it called, straight out towards the client. */
static __always_inline int xlb_unsnat(struct __sk_buff *skb, const struct xlb_pkt *p, struct xlb_nat_value *n)
{
	__u64 now = bpf_ktime_get_ns();
	if (n->expires_ns <= now) {
		bpf_map_delete_elem(&xlb_nat, &p->key);
		return TC_ACT_OK;
	}
	__u16 flags = xlb_ct_flags(p, n->flags);
	__u64 expires = now + xlb_ct_lifetime(p, flags);
	struct xlb_flow_key fk = {
		.saddr = n->client_addr,
		.daddr = n->frontend_addr,
		.sport = n->client_port,
		.dport = n->frontend_port,
		.proto = p->key.proto,
	};
	if (flags != n->flags || n->expires_ns + XLB_CT_REFRESH_NS < expires) {
		/* A backend's FIN or RST ends the flow on both sides; a flow never lives longer than closing allows. */
		if ((flags & XLB_CT_CLOSING) && !(n->flags & XLB_CT_CLOSING)) {
			struct xlb_ct_value *ct = bpf_map_lookup_elem(&xlb_ct, &fk);
			if (ct) {
				ct->flags |= XLB_CT_CLOSING;
				if (ct->expires_ns > expires)
					ct->expires_ns = expires;
			}
		}
		if (!(flags & XLB_CT_CLOSING) || n->expires_ns > expires)
			n->expires_ns = expires;
		n->flags = flags;
	}
	struct bpf_fib_lookup fib;
	long rc = xlb_route(skb, p, n->frontend_addr, n->client_addr, &fib);
	if (xlb_skb_nat(skb, p, XLB_NAT_DST, n->client_addr, n->client_port))
		return xlb_drop(XLB_DROP_REWRITE);
	struct xlb_pkt q = *p;
	q.key.daddr = n->client_addr;
	q.key.dport = n->client_port;
	if (xlb_skb_nat(skb, &q, XLB_NAT_SRC, n->frontend_addr, n->frontend_port))
		return xlb_drop(XLB_DROP_REWRITE);
	return xlb_forward(skb, p, &fib, rc);
}

#endif
