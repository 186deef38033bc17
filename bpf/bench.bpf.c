// SPDX-License-Identifier: GPL-2.0
/* Benchmark wrappers for BPF_PROG_TEST_RUN: with `repeat` every run sees the same
 * buffer, and after one DNAT it is no longer a service packet. Both programs first
 * restore a template packet; xlb_bench_lb then runs the load balancer, so its cost
 * is the difference between the two. */
#include "lb.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct xlb_bench_template);
	__uint(max_entries, 1);
} xlb_bench_tmpl SEC(".maps");

/* Source port of the next new flow (benchmarks run on one CPU at a time). */
__u32 next_sport;

static __always_inline int restore(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct xlb_bench_template *t = bpf_map_lookup_elem(&xlb_bench_tmpl, &zero);
	if (!t || data + XLB_BENCH_LEN > data_end)
		return -1;
	__builtin_memcpy(data, t->data, XLB_BENCH_LEN);
	if (t->vary_sport) {
		struct tcphdr *tcp = data + sizeof(struct ethhdr) + sizeof(struct iphdr);
		tcp->source = bpf_htons(1024 + (next_sport++ % 60000));
	}
	return 0;
}

SEC("xdp")
int xlb_bench_lb(struct xdp_md *ctx)
{
	if (restore(ctx))
		return XDP_ABORTED;
	return xlb_lb(ctx);
}

SEC("xdp")
int xlb_bench_restore(struct xdp_md *ctx)
{
	if (restore(ctx))
		return XDP_ABORTED;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
