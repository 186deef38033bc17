// SPDX-License-Identifier: GPL-2.0
/* lbctl explain: runs the per-packet decision (lb.h's xlb_decide, the code tc and XDP
 * run) on a packet the CLI builds, through BPF_PROG_TEST_RUN against the agent's
 * pinned maps, and leaves what it did and why in xlb_trace_out. With a trace the
 * decision writes no map: explaining a flow never creates or changes one. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "xlb.h"
#include "maps.h"
#include "lb.h"
#include "skb.h"

/* Not pinned: each lbctl explain has its own, so two never read each other's. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct xlb_trace);
	__uint(max_entries, 1);
} xlb_trace_out SEC(".maps");

SEC("tc")
int xlb_explain(struct __sk_buff *skb)
{
	struct xlb_pkt p;
	struct xlb_decision d = {};
	struct xlb_trace t = {};
	__u32 zero = 0;
	if (xlb_skb_parse(skb, &p) < 0)
		return TC_ACT_SHOT; /* the CLI's packet is always parseable: SHOT says it was not */
	t.action = xlb_decide(&p, &d, 0, &t);
	t.drop_reason = d.reason;
	bpf_map_update_elem(&xlb_trace_out, &zero, &t, BPF_ANY);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
