// SPDX-License-Identifier: GPL-2.0
/* The XDP program attached to the external devices (the logic is in lb.h). */
#include "lb.h"

SEC("xdp")
int xlb_xdp(struct xdp_md *ctx)
{
	return xlb_lb(ctx);
}

char LICENSE[] SEC("license") = "GPL";
