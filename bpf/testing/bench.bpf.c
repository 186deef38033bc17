// SPDX-License-Identifier: GPL-2.0
/* Benchmark wrappers for BPF_PROG_TEST_RUN (make bench; never loaded by the agent).
 * With `repeat` every run sees the same buffer, and after one DNAT it is no longer a
 * service packet, so both programs first restore a template packet. Then
 * xlb_bench_lb tail-calls the shipped XDP program (xdp_lb.bpf.o, slot 0) and
 * xlb_bench_restore an empty one (slot 1): their difference is the shipped
 * program's cost per packet, tail call included on both sides. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define XLB_BENCH_LEN 54 /* Ethernet + IPv4 + TCP, no options */

/* vary_sport gives every repetition a new flow. */
struct xlb_bench_template {
	__u32 vary_sport;
	__u8 data[XLB_BENCH_LEN];
	__u8 pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct xlb_bench_template);
	__uint(max_entries, 1);
} xlb_bench_tmpl SEC(".maps");

enum xlb_bench_slot { XLB_BENCH_LB, XLB_BENCH_EMPTY, XLB_BENCH_SLOTS };

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, XLB_BENCH_SLOTS);
} xlb_bench_next SEC(".maps");

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
	bpf_tail_call(ctx, &xlb_bench_next, XLB_BENCH_LB);
	return XDP_ABORTED;
}

SEC("xdp")
int xlb_bench_restore(struct xdp_md *ctx)
{
	if (restore(ctx))
		return XDP_ABORTED;
	bpf_tail_call(ctx, &xlb_bench_next, XLB_BENCH_EMPTY);
	return XDP_ABORTED;
}

SEC("xdp")
int xlb_bench_empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
