/* SPDX-License-Identifier: GPL-2.0 */
/* The per-packet path on the external devices: service frontends are DNATed to a
 * backend chosen by conntrack (established flows) or select.h (new flows); the
 * stack then forwards the packet to the pod. Everything else passes untouched. */
#ifndef XLB_LB_H
#define XLB_LB_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb.h"
#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "select.h"
#include "conntrack.h"
#include "stats.h"

/* A new direct flow (not via a service) on a tuple drops any reverse translation a
 * past service flow left for it, so its replies are never rewritten. */
static __always_inline void forget_reverse(const struct xlb_pkt *p)
{
	if (p->key.proto == IPPROTO_TCP && !xlb_is_syn(p))
		return;
	struct xlb_flow_key rk;
	xlb_reverse_key(&p->key, &rk);
	if (bpf_map_lookup_elem(&xlb_rnat, &rk))
		bpf_map_delete_elem(&xlb_rnat, &rk);
}

/* The backend of a tracked flow, if the flow is alive and its backend still exists. */
static __always_inline struct xlb_backend *tracked_backend(const struct xlb_ct_value *ct,
							   const struct xlb_pkt *p, __u64 now)
{
	if (!ct || ct->expires_ns <= now)
		return NULL;
	if ((ct->flags & XLB_CT_CLOSING) && xlb_is_syn(p))
		return NULL;
	__u32 id = ct->backend_id;
	struct xlb_backend *b = xlb_backend_of(id);
	if (!b || b->addr != ct->backend_addr || b->port != ct->backend_port)
		return NULL;
	/* UDP has no end: a flow whose endpoint left the service moves at once (kube-proxy
	 * flushes such UDP conntrack entries). TCP connections finish where they are. */
	if (p->key.proto == IPPROTO_UDP) {
		struct xlb_member_key mk = { .svc_id = ct->svc_id, .backend_id = id };
		if (!bpf_map_lookup_elem(&xlb_members, &mk))
			return NULL;
	}
	return b;
}

static __always_inline void track(const struct xlb_pkt *p, const struct xlb_ct_value *ct,
				  const struct xlb_svc_value *svc, const struct xlb_backend *b,
				  __u32 backend_id, __u64 now)
{
	__u16 flags = xlb_ct_flags(p, ct ? ct->flags : 0);
	__u64 expires = now + xlb_ct_lifetime(p, flags);
	if (ct && ct->backend_id == backend_id && ct->flags == flags &&
	    ct->expires_ns + XLB_CT_REFRESH_NS > expires)
		return;
	/* The flow keeps its SNAT source (nat.h) while it keeps its backend. */
	__u8 same = ct && ct->backend_id == backend_id;
	struct xlb_ct_value v = {
		.expires_ns = expires,
		.backend_id = backend_id,
		.svc_id = svc->svc_id,
		.backend_addr = b->addr,
		.backend_port = b->port,
		.flags = flags,
		.nat_addr = same ? ct->nat_addr : 0,
		.nat_port = same ? ct->nat_port : 0,
	};
	bpf_map_update_elem(&xlb_ct, &p->key, &v, BPF_ANY);
	/* Also for a remote backend: when no device of ours leads to it, it is reached
	 * without SNAT (nat.h), and its replies leave through us like a local one's. */
	struct xlb_flow_key rk = {
		.saddr = b->addr,
		.daddr = p->key.saddr,
		.sport = b->port,
		.dport = p->key.sport,
		.proto = p->key.proto,
	};
	struct xlb_rnat_value r = {
		.expires_ns = expires,
		.frontend_addr = p->key.daddr,
		.frontend_port = p->key.dport,
		.flags = flags,
	};
	bpf_map_update_elem(&xlb_rnat, &rk, &r, BPF_ANY);
}

/* XDP's rewrite: incremental checksums by hand (csum.h). */
static __always_inline void dnat(const struct xlb_pkt *p, const struct xlb_backend *b)
{
	struct iphdr *ip = p->ip;
	__u16 *csum = (__u16 *)p->csum;
	if (!p->udp_csum_zero) {
		xlb_csum_replace4(csum, ip->daddr, b->addr);
		xlb_csum_replace2(csum, p->ports[1], b->port);
		if (p->key.proto == IPPROTO_UDP && *csum == 0)
			*csum = 0xffff;
	}
	xlb_csum_replace4(&ip->check, ip->daddr, b->addr);
	ip->daddr = b->addr;
	p->ports[1] = b->port;
}

/* What xlb_decide found: the backend (DNAT, SNAT), the service, and why a packet
 * is refused (DROP, REJECT). */
struct xlb_decision {
	struct xlb_backend *backend;
	__u32 svc_id;
	enum xlb_drop_reason reason;
};

/* The load-balancing decision for one parsed packet, the same at XDP and at tc: the
 * frontend, source ranges, the flow's tracked backend or a new one (select.h), and
 * the flow recorded for the replies. Only the rewrite differs per hook. `ifindex`:
 * tc's device (XDP passes 0). With a trace (lbctl explain, explain.bpf.c) it records
 * each step and writes no map: the same code answers what a new packet would meet. */
static __always_inline enum xlb_action xlb_decide(const struct xlb_pkt *p, struct xlb_decision *d, __u32 ifindex,
						  struct xlb_trace *t)
{
	struct xlb_svc_key sk = { .addr = p->key.daddr, .port = p->key.dport, .proto = p->key.proto };
	struct xlb_svc_value *svc = bpf_map_lookup_elem(&xlb_services, &sk);
	if (!svc) {
		/* Behind XDP, this may be a flow XDP has just translated: XDP forgot for it. */
		struct xlb_device *dev = ifindex ? bpf_map_lookup_elem(&xlb_devices, &ifindex) : NULL;
		if ((!dev || !(dev->flags & XLB_DEVICE_F_XDP)) && !t)
			forget_reverse(p);
		return XLB_ACT_PASS;
	}
	d->svc_id = svc->svc_id;
	__u64 now = bpf_ktime_get_ns();
	if (t) {
		t->svc_id = svc->svc_id;
		t->svc_flags = svc->flags;
		t->now_ns = now;
	}
	if (!xlb_source_allowed(svc, p->key.saddr)) {
		d->reason = XLB_DROP_SOURCE_RANGE;
		return XLB_ACT_DROP;
	}
	struct xlb_ct_value *ct = bpf_map_lookup_elem(&xlb_ct, &p->key);
	struct xlb_backend *b = tracked_backend(ct, p, now);
	__u32 backend_id = 0;
	if (b) {
		backend_id = ct->backend_id;
		if (t) {
			t->via = XLB_VIA_CONNTRACK;
			t->expires_ns = ct->expires_ns;
		}
	} else {
		ct = NULL; /* a new flow on this tuple */
		struct xlb_affinity_key ak = { .client = p->key.saddr };
		b = xlb_select(svc, &p->key, &ak, now, &backend_id, t);
		if (!b) {
			enum xlb_refusal r = xlb_refusal(svc);
			d->reason = xlb_refusal_reason(r);
			return r == XLB_REFUSE_DROP ? XLB_ACT_DROP : XLB_ACT_REJECT;
		}
	}
	if (t)
		t->backend_id = backend_id;
	else
		track(p, ct, svc, b, backend_id, now);
	d->backend = b;
	return (b->flags & XLB_BACKEND_F_REMOTE) ? XLB_ACT_SNAT : XLB_ACT_DNAT;
}

/* Counts what a hook did with a decision: a request sent on to a backend, or a refusal. */
static __always_inline void xlb_account(enum xlb_action a, const struct xlb_decision *d, __u64 len)
{
	if (a == XLB_ACT_DNAT || a == XLB_ACT_SNAT)
		xlb_count_service(d->svc_id, 1, len);
	else if (a == XLB_ACT_DROP || a == XLB_ACT_REJECT)
		xlb_count_drop(d->reason);
}

#endif
