/* SPDX-License-Identifier: GPL-2.0 */
/* The datapath's counters (xlb_svc_stats, xlb_drops), which the agent exports as
 * Prometheus metrics. Per CPU: an increment is a plain add, no atomics. */
#ifndef XLB_STATS_H
#define XLB_STATS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb.h"
#include "maps.h"

static __always_inline void xlb_count_drop(enum xlb_drop_reason why)
{
	__u32 k = why;
	__u64 *n = bpf_map_lookup_elem(&xlb_drops, &k);
	if (n)
		*n += 1;
}

/* One request packet of `len` bytes, or (0 packets) one balanced socket call. */
static __always_inline void xlb_count_service(__u32 svc_id, __u64 packets, __u64 len)
{
	struct xlb_svc_stats *s = bpf_map_lookup_elem(&xlb_svc_stats, &svc_id);
	if (!s) {
		struct xlb_svc_stats zero = {};
		/* NOEXIST: another CPU may have added it meanwhile; either way it exists next. */
		bpf_map_update_elem(&xlb_svc_stats, &svc_id, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&xlb_svc_stats, &svc_id);
		if (!s)
			return;
	}
	if (packets) {
		s->packets += packets;
		s->bytes += len;
	} else {
		s->sock_calls += 1;
	}
}

#endif
