// SPDX-License-Identifier: GPL-2.0
/* Test-bed helper for veth peers of an xlb device: veth delivers XDP_TX frames (the
 * datapath's RST and ICMP answers) promptly only to a peer that has an XDP program,
 * because only then does the kernel kick the peer's NAPI. Real NICs need nothing. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xlb_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
