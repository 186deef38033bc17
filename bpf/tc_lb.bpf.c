// SPDX-License-Identifier: GPL-2.0
/* The per-packet path at tc (clsact), which works on every device and every skb
 * checksum state: ingress balances service packets (lb.h's decision; flows to remote
 * backends are SNATed too, nat.h, and their replies translated back here), egress
 * turns the replies of local backends back into the frontend the client talked to.
 * Only the exact flow (backend -> client, both ports) matches, and only while it lives. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "xlb.h"
#include "maps.h"
#include "lb.h"
#include "reject.h"
#include "skb.h"
#include "nat.h"
#include "icmp.h"

/* A reset or port unreachable, written over the packet and sent back out of the
 * device it arrived on. */
static __always_inline int reply(struct __sk_buff *skb, const struct xlb_pkt *p)
{
	if (!xlb_reply_allowed(p->key.saddr))
		return xlb_drop(XLB_DROP_REPLY_LIMIT);
	if (p->key.proto == IPPROTO_TCP) {
		struct xlb_rst_seq r;
		if (xlb_rst_prepare((void *)(long)skb->data, (void *)(long)skb->data_end, p, &r) ||
		    bpf_skb_change_tail(skb, XLB_RST_LEN, 0) ||
		    xlb_write_rst((void *)(long)skb->data, (void *)(long)skb->data_end, p, &r))
			return xlb_drop(XLB_DROP_REWRITE);
		return bpf_redirect(skb->ifindex, 0);
	}
	struct ethhdr *eth = (void *)(long)skb->data;
	if (p->l4_off != sizeof(struct ethhdr) + sizeof(struct iphdr) || (void *)(eth + 1) > (void *)(long)skb->data_end)
		return xlb_drop(XLB_DROP_REWRITE);
	struct ethhdr orig = *eth;
	/* Room after the Ethernet header: the old IP header then sits where the quote belongs. */
	if (bpf_skb_adjust_room(skb, XLB_ICMP_GROW, BPF_ADJ_ROOM_MAC, 0) ||
	    bpf_skb_change_tail(skb, XLB_ICMP_FRAME, 0) ||
	    xlb_write_icmp((void *)(long)skb->data, (void *)(long)skb->data_end, p, orig.h_source, orig.h_dest))
		return xlb_drop(XLB_DROP_REWRITE);
	return bpf_redirect(skb->ifindex, 0);
}

SEC("tc")
int xlb_tc_ingress(struct __sk_buff *skb)
{
	struct xlb_pkt p;
	struct xlb_decision d = {};
	if (xlb_skb_parse(skb, &p) < 0)
		return xlb_icmp_ingress(skb);
	/* Replies of SNATed flows first: their tuple is ours alone. */
	struct xlb_nat_value *n = bpf_map_lookup_elem(&xlb_nat, &p.key);
	if (n)
		return xlb_unsnat(skb, &p, n);
	enum xlb_action a = xlb_decide(&p, &d, skb->ifindex, NULL);
	xlb_account(a, &d, skb->len);
	struct xlb_backend *b = d.backend;
	switch (a) {
	case XLB_ACT_DNAT:
		if (b && xlb_skb_nat(skb, &p, XLB_NAT_DST, b->addr, b->port))
			return xlb_drop(XLB_DROP_REWRITE);
		return TC_ACT_OK;
	case XLB_ACT_SNAT:
		return b ? xlb_snat(skb, &p, b) : xlb_drop(XLB_DROP_REWRITE);
	case XLB_ACT_DROP:
		return TC_ACT_SHOT;
	case XLB_ACT_REJECT:
		return reply(skb, &p);
	default:
		return TC_ACT_OK;
	}
}

/* A backend's FIN/RST also closes the client side's conntrack entry. */
static __always_inline void close_forward(const struct xlb_pkt *p, const struct xlb_rnat_value *r,
					  __u64 expires)
{
	struct xlb_flow_key fk = {
		.saddr = p->key.daddr,
		.daddr = r->frontend_addr,
		.sport = p->key.dport,
		.dport = r->frontend_port,
		.proto = p->key.proto,
	};
	struct xlb_ct_value *ct = bpf_map_lookup_elem(&xlb_ct, &fk);
	if (ct) {
		ct->flags |= XLB_CT_CLOSING;
		if (ct->expires_ns > expires)
			ct->expires_ns = expires;
	}
}

SEC("tc")
int xlb_tc_egress(struct __sk_buff *skb)
{
	struct xlb_pkt p;
	if (xlb_skb_parse(skb, &p) < 0)
		return xlb_icmp_egress(skb);
	struct xlb_rnat_value *r = bpf_map_lookup_elem(&xlb_rnat, &p.key);
	if (!r)
		return TC_ACT_OK;
	__u64 now = bpf_ktime_get_ns();
	if (r->expires_ns <= now) {
		bpf_map_delete_elem(&xlb_rnat, &p.key);
		return TC_ACT_OK;
	}
	__u16 flags = xlb_ct_flags(&p, r->flags);
	__u64 expires = now + xlb_ct_lifetime(&p, flags);
	if ((flags & XLB_CT_CLOSING) && !(r->flags & XLB_CT_CLOSING))
		close_forward(&p, r, expires);
	if (flags != r->flags || r->expires_ns + XLB_CT_REFRESH_NS < expires) {
		r->flags = flags;
		if (!(flags & XLB_CT_CLOSING) || r->expires_ns > expires)
			r->expires_ns = expires;
	}

	if (xlb_skb_nat(skb, &p, XLB_NAT_SRC, r->frontend_addr, r->frontend_port))
		return xlb_drop(XLB_DROP_REWRITE); /* a half-rewritten packet must not leave */
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
