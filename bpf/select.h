/* SPDX-License-Identifier: GPL-2.0 */
/* The one backend decision of every path: the per-packet programs (lb.h) and the
 * socket programs (sock_lb.bpf.c) both call only this, with the same maps, so a
 * Service behaves alike whether a client reaches it from outside or from a pod.
 * Policies (traffic policies, terminating fallback, topology) are already in the
 * tables the agent writes; here: source ranges, session affinity, Maglev. */
#ifndef XLB_SELECT_H
#define XLB_SELECT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb.h"
#include "maps.h"
#include "hash.h"

/* loadBalancerSourceRanges: a LoadBalancer frontend that lists ranges only admits
 * clients inside one of them (kube-proxy's firewall chain drops the rest). */
static __always_inline int xlb_source_allowed(const struct xlb_svc_value *svc, __be32 saddr)
{
	if (!(svc->flags & XLB_SVC_F_SOURCE_RANGES))
		return 1;
	struct xlb_source_range_key k = { .prefixlen = 64, .svc_id = svc->svc_id, .addr = saddr };
	return bpf_map_lookup_elem(&xlb_source_ranges, &k) != NULL;
}

/* The backend of the flow's Maglev slot, in the table the frontend names. */
static __always_inline struct xlb_backend *xlb_maglev_pick(const struct xlb_svc_value *svc, __u32 hash, __u32 *id,
							   struct xlb_trace *t)
{
	__u32 size = svc->maglev_size;
	if (size == 0)
		return NULL;
	__u32 chunk_key = svc->table / XLB_MAGLEV_CHUNK_SLOTS;
	void *chunk = bpf_map_lookup_elem(&xlb_maglev, &chunk_key);
	if (!chunk)
		return NULL;
	__u32 slot = hash % size;
	__u32 at = svc->table % XLB_MAGLEV_CHUNK_SLOTS + slot;
	__u32 row_key = at / XLB_MAGLEV_ROW_SLOTS;
	__u32 *row = bpf_map_lookup_elem(chunk, &row_key);
	if (!row)
		return NULL;
	if (t) {
		t->via = XLB_VIA_MAGLEV;
		t->hash = hash;
		t->maglev_size = size;
		t->maglev_slot = slot;
	}
	*id = row[at % XLB_MAGLEV_ROW_SLOTS];
	return xlb_backend_of(*id);
}

/* sessionAffinity ClientIP: a client's new flows go where its last one went, while
 * the entry is younger than the timeout and the backend is still the service's. */
static __always_inline struct xlb_backend *xlb_affinity_pick(const struct xlb_svc_value *svc,
							     const struct xlb_affinity_key *ak, __u64 now, __u32 *id,
							     struct xlb_trace *t)
{
	struct xlb_affinity_value *av = bpf_map_lookup_elem(&xlb_affinity, ak);
	if (!av || av->expires_ns <= now)
		return NULL;
	struct xlb_member_key mk = { .svc_id = svc->svc_id, .backend_id = av->backend_id };
	if (!bpf_map_lookup_elem(&xlb_members, &mk))
		return NULL;
	if (t) {
		t->via = XLB_VIA_AFFINITY;
		t->expires_ns = av->expires_ns;
	}
	*id = av->backend_id;
	return xlb_backend_of(*id);
}

/* The backend for a new flow of `svc`, or NULL (see xlb_refusal). `tuple` is hashed
 * for the Maglev slot; `ak` names the client for affinity (its svc_id is set here).
 * With a trace (lbctl explain), it records how it chose and writes no map. */
static __always_inline struct xlb_backend *xlb_select(const struct xlb_svc_value *svc, const struct xlb_flow_key *tuple,
						      struct xlb_affinity_key *ak, __u64 now, __u32 *id,
						      struct xlb_trace *t)
{
	struct xlb_backend *b = NULL;
	ak->svc_id = svc->svc_id;
	if (svc->affinity_timeout_s)
		b = xlb_affinity_pick(svc, ak, now, id, t);
	if (!b)
		b = xlb_maglev_pick(svc, xlb_flow_hash(tuple), id, t);
	if (b && svc->affinity_timeout_s && !t) {
		struct xlb_affinity_value av = {
			.expires_ns = now + (__u64)svc->affinity_timeout_s * 1000000000ULL,
			.backend_id = *id,
		};
		bpf_map_update_elem(&xlb_affinity, ak, &av, BPF_ANY);
	}
	return b;
}

/* How a flow without a backend is refused: at once when the Service has no endpoint
 * anywhere (kube-proxy's REJECT); silently where a Local traffic policy leaves this
 * node none, or where backends are programmed and a pick failed in a race (the
 * client retries). */
enum xlb_refusal {
	XLB_REFUSE_REJECT = 1,
	XLB_REFUSE_DROP = 2,
};

static __always_inline enum xlb_refusal xlb_refusal(const struct xlb_svc_value *svc)
{
	if (svc->backend_count || (svc->flags & XLB_SVC_F_DROP))
		return XLB_REFUSE_DROP;
	return XLB_REFUSE_REJECT;
}

/* The counter a refusal goes to. */
static __always_inline enum xlb_drop_reason xlb_refusal_reason(enum xlb_refusal r)
{
	return r == XLB_REFUSE_REJECT ? XLB_DROP_NO_ENDPOINTS : XLB_DROP_POLICY;
}

#endif
