// SPDX-License-Identifier: GPL-2.0
/* tc egress on the external devices: replies of flows the XDP program DNATed get
 * their source turned back into the frontend the client talked to. Only the exact
 * flow (backend -> client, both ports) matches, and only while it lives. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "xlb.h"
#include "maps.h"
#include "parse.h"
#include "conntrack.h"

/* Enough to see Ethernet, the longest IPv4 header and a TCP header. */
#define XLB_HEADERS_MAX (14 + 60 + 20)

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
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (data + XLB_HEADERS_MAX > data_end && skb->len > data_end - data) {
		bpf_skb_pull_data(skb, skb->len < XLB_HEADERS_MAX ? skb->len : XLB_HEADERS_MAX);
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}
	if (xlb_parse(data, data_end, &p) < 0)
		return TC_ACT_OK;
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

	__be32 from_addr = p.key.saddr, to_addr = r->frontend_addr;
	__be16 from_port = p.key.sport, to_port = r->frontend_port;
	__u64 l4_flags = p.key.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__u32 saddr_off = p.l3_off + __builtin_offsetof(struct iphdr, saddr);
	__u32 sport_off = p.l4_off; /* source port: first in TCP and UDP */

	if (bpf_l4_csum_replace(skb, p.csum_off, from_addr, to_addr, l4_flags | BPF_F_PSEUDO_HDR | sizeof(to_addr)) ||
	    bpf_l4_csum_replace(skb, p.csum_off, from_port, to_port, l4_flags | sizeof(to_port)) ||
	    bpf_l3_csum_replace(skb, p.l3_off + __builtin_offsetof(struct iphdr, check), from_addr, to_addr, sizeof(to_addr)) ||
	    bpf_skb_store_bytes(skb, saddr_off, &to_addr, sizeof(to_addr), 0) ||
	    bpf_skb_store_bytes(skb, sport_off, &to_port, sizeof(to_port), 0))
		return TC_ACT_SHOT; /* a half-rewritten packet must not leave */
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
