/* SPDX-License-Identifier: GPL-2.0 */
/* XDP on the external devices: service frontends are DNATed to a backend chosen by
 * conntrack (established flows) or Maglev (new flows); the stack then forwards the
 * packet to the pod. Everything else passes untouched. */
#ifndef XLB_LB_H
#define XLB_LB_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb.h"
#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "hash.h"
#include "conntrack.h"
#include "reject.h"

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

/* The backend a new flow goes to: its Maglev slot, in the bank the frontend names.
 * The table carries its own size in element 0, so a table with a new size is never
 * read with the old one. */
static __always_inline struct xlb_backend *maglev_pick(const struct xlb_svc_value *svc,
						       const struct xlb_pkt *p, __u32 *id)
{
	__u32 bank_key = svc->svc_id * 2 + ((svc->flags & XLB_SVC_F_TABLE_B) ? 1 : 0);
	void *table = bpf_map_lookup_elem(&xlb_maglev, &bank_key);
	if (!table)
		return NULL;
	__u32 zero = 0;
	__u32 *size = bpf_map_lookup_elem(table, &zero);
	if (!size || *size == 0)
		return NULL;
	__u32 slot = 1 + xlb_flow_hash(&p->key) % *size;
	__u32 *backend_id = bpf_map_lookup_elem(table, &slot);
	if (!backend_id)
		return NULL;
	*id = *backend_id;
	return bpf_map_lookup_elem(&xlb_backends, id);
}

/* sessionAffinity ClientIP: a client's new flows go where its last one went, while
 * the entry is younger than the timeout and the backend is still the service's. */
static __always_inline struct xlb_backend *affinity_pick(const struct xlb_svc_value *svc,
							 const struct xlb_pkt *p, __u64 now, __u32 *id)
{
	struct xlb_affinity_key ak = { .client = p->key.saddr, .svc_id = svc->svc_id };
	struct xlb_affinity_value *av = bpf_map_lookup_elem(&xlb_affinity, &ak);
	if (!av || av->expires_ns <= now)
		return NULL;
	struct xlb_member_key mk = { .svc_id = svc->svc_id, .backend_id = av->backend_id };
	if (!bpf_map_lookup_elem(&xlb_members, &mk))
		return NULL;
	*id = av->backend_id;
	return bpf_map_lookup_elem(&xlb_backends, id);
}

static __always_inline void affinity_remember(const struct xlb_svc_value *svc,
					      const struct xlb_pkt *p, __u64 now, __u32 id)
{
	struct xlb_affinity_key ak = { .client = p->key.saddr, .svc_id = svc->svc_id };
	struct xlb_affinity_value av = {
		.expires_ns = now + (__u64)svc->affinity_timeout_s * 1000000000ULL,
		.backend_id = id,
	};
	bpf_map_update_elem(&xlb_affinity, &ak, &av, BPF_ANY);
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
	struct xlb_backend *b = bpf_map_lookup_elem(&xlb_backends, &id);
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
	struct xlb_ct_value v = {
		.expires_ns = expires,
		.backend_id = backend_id,
		.svc_id = svc->svc_id,
		.backend_addr = b->addr,
		.backend_port = b->port,
		.flags = flags,
	};
	bpf_map_update_elem(&xlb_ct, &p->key, &v, BPF_ANY);
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

/* loadBalancerSourceRanges: a LoadBalancer frontend that lists ranges only admits
 * clients inside one of them (kube-proxy's firewall chain drops the rest). */
static __always_inline int source_allowed(const struct xlb_svc_value *svc, const struct xlb_pkt *p)
{
	if (!(svc->flags & XLB_SVC_F_SOURCE_RANGES))
		return 1;
	struct xlb_source_range_key k = { .prefixlen = 64, .svc_id = svc->svc_id, .addr = p->key.saddr };
	return bpf_map_lookup_elem(&xlb_source_ranges, &k) != NULL;
}

/* No backend for a new flow: refuse at once (kube-proxy's REJECT), or drop where a
 * Local traffic policy leaves this node without endpoints. */
static __always_inline int no_backend(struct xdp_md *ctx, const struct xlb_svc_value *svc,
				      const struct xlb_pkt *p)
{
	/* With backends programmed a failed pick is a transient race: the client retries. */
	if (svc->backend_count || (svc->flags & XLB_SVC_F_DROP))
		return XDP_DROP;
	if (p->key.proto == IPPROTO_TCP)
		return xlb_reply_rst(ctx, p);
	return xlb_reply_icmp_unreach(ctx, p);
}

/* The whole load-balancing decision for one packet; the XDP program and the
 * benchmark wrapper (bench.bpf.c) both run it. */
static __always_inline int xlb_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct xlb_pkt p;

	if (xlb_parse(data, data_end, &p) < 0)
		return XDP_PASS;
	struct xlb_svc_key sk = { .addr = p.key.daddr, .port = p.key.dport, .proto = p.key.proto };
	struct xlb_svc_value *svc = bpf_map_lookup_elem(&xlb_services, &sk);
	if (!svc) {
		forget_reverse(&p);
		return XDP_PASS;
	}
	if (!source_allowed(svc, &p))
		return XDP_DROP;
	__u64 now = bpf_ktime_get_ns();
	struct xlb_ct_value *ct = bpf_map_lookup_elem(&xlb_ct, &p.key);
	struct xlb_backend *b = tracked_backend(ct, &p, now);
	__u32 backend_id = 0;
	if (b) {
		backend_id = ct->backend_id;
	} else {
		ct = NULL; /* a new flow on this tuple */
		if (svc->affinity_timeout_s)
			b = affinity_pick(svc, &p, now, &backend_id);
		if (!b)
			b = maglev_pick(svc, &p, &backend_id);
		if (!b)
			return no_backend(ctx, svc, &p);
		if (svc->affinity_timeout_s)
			affinity_remember(svc, &p, now, backend_id);
	}
	track(&p, ct, svc, b, backend_id, now);
	dnat(&p, b);
	return XDP_PASS;
}

#endif
