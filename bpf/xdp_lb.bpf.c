// SPDX-License-Identifier: GPL-2.0
/* The XDP program attached to the external devices; the decision is lb.h's, shared
 * with tc and explain. */
#include "lb.h"

/* The load balancer at XDP. XDP has no checksum helpers: the rewrite is done by
 * hand, which is right only for frames with complete checksums (real NICs; not veth,
 * see tc_lb).
 * Flows to remote backends and their replies (nat.h), and answers for Services
 * without endpoints (reject.h), are left to tc ingress, which also counts them. */
SEC("xdp")
int xlb_xdp(struct xdp_md *ctx)
{
	struct xlb_pkt p;
	struct xlb_decision d = {};
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	if (xlb_parse(data, data_end, &p) < 0)
		return XDP_PASS;
	enum xlb_action a = xlb_decide(&p, &d, 0, NULL);
	switch (a) {
	case XLB_ACT_DNAT:
		if (!d.backend)
			return XDP_PASS;
		dnat(&p, d.backend);
		xlb_account(a, &d, data_end - data);
		return XDP_PASS;
	case XLB_ACT_DROP:
		xlb_account(a, &d, 0);
		return XDP_DROP;
	default:
		/* Not a service packet, one to SNAT, or one to answer (XDP_TX never reaches a
		 * veth peer without XDP of its own): tc ingress, behind XDP, sees it next. */
		return XDP_PASS;
	}
}

char LICENSE[] SEC("license") = "GPL";
