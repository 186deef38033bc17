/* SPDX-License-Identifier: GPL-2.0 */
/* Answers for a frontend with no endpoints, sent straight back out of the device
 * so the client sees "refused" at once instead of a timeout, as kube-proxy's REJECT
 * does: a TCP RST, or an ICMP port unreachable for UDP. tc (tc_lb.bpf.c) rewrites the
 * packet in place and redirects it out of the device it came in on, which reaches
 * every peer (XDP_TX does not reach a veth peer without an XDP program); only
 * option-less IPv4 headers are answered (others are dropped). */
#ifndef XLB_REJECT_H
#define XLB_REJECT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "parse.h"
#include "csum.h"
#include "maps.h"

#define XLB_REPLY_TTL 64
#define XLB_ICMP_DEST_UNREACH 3
#define XLB_ICMP_PORT_UNREACH 3

/* RFC 792 destination unreachable header (linux/icmp.h drags in libc headers). */
struct xlb_icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__u32 unused;
};

/* One's-complement sum of n 16-bit words (n a compile-time constant). */
static __always_inline __u32 xlb_sum16(const void *p, int n)
{
	const __u16 *w = p;
	__u32 s = 0;
#pragma unroll
	for (int i = 0; i < n; i++)
		s += w[i];
	return s;
}

static __always_inline void xlb_swap_macs(struct ethhdr *eth)
{
	__u8 tmp[ETH_ALEN];
	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

static __always_inline void xlb_reply_ip(struct iphdr *ip, __be32 saddr, __be32 daddr, __u16 len, __u8 proto)
{
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(len);
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000); /* DF */
	ip->ttl = XLB_REPLY_TTL;
	ip->protocol = proto;
	ip->saddr = saddr;
	ip->daddr = daddr;
	ip->check = 0;
	ip->check = ~xlb_csum_fold(xlb_sum16(ip, sizeof(*ip) / 2));
}

/* Whether `source` may get one more answer now: a token bucket per source, so the
 * node never becomes a reflector for spoofed packets. Concurrent updates may lose a
 * refill or a token; the bound holds. */
static __always_inline int xlb_reply_allowed(__be32 source)
{
	__u64 now = bpf_ktime_get_ns();
	struct xlb_reply_budget *b = bpf_map_lookup_elem(&xlb_reply_budget, &source);
	if (!b) {
		struct xlb_reply_budget fresh = { .refilled_ns = now, .tokens = XLB_REPLY_BURST - 1 };
		bpf_map_update_elem(&xlb_reply_budget, &source, &fresh, BPF_ANY);
		return 1;
	}
	__u64 earned = (now - b->refilled_ns) * XLB_REPLY_RATE / 1000000000ULL;
	if (earned) {
		b->tokens = b->tokens + earned > XLB_REPLY_BURST ? XLB_REPLY_BURST : b->tokens + earned;
		b->refilled_ns = now;
	}
	if (!b->tokens)
		return 0;
	b->tokens--;
	return 1;
}

/* What a reset for the segment `tcp` must carry (RFC 793, reset for a closed port),
 * read before the segment is cut down to the reset's size. */
struct xlb_rst_seq {
	__be32 seq;
	__be32 ack;
	__u8 ack_only; /* the segment had ACK: the reset carries seq = its ack, no ACK */
};

static __always_inline void xlb_rst_seq_of(const struct iphdr *ip, const struct tcphdr *tcp, struct xlb_rst_seq *r)
{
	__u32 seg_len = bpf_ntohs(ip->tot_len) - sizeof(*ip) - tcp->doff * 4 + tcp->syn + tcp->fin;
	r->ack_only = tcp->ack;
	r->seq = tcp->ack ? tcp->ack_seq : 0;
	r->ack = bpf_htonl(bpf_ntohl(tcp->seq) + seg_len);
}

#define XLB_RST_LEN (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct tcphdr))

/* Writes the reset over a frame already cut to XLB_RST_LEN bytes. Its checksums are
 * complete: a CHECKSUM_PARTIAL frame only ever comes from, and so returns to, a local
 * sender, which trusts its checksum. */
static __always_inline int xlb_write_rst(void *data, void *data_end, const struct xlb_pkt *p, const struct xlb_rst_seq *r)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > data_end)
		return -1;
	xlb_swap_macs(eth);
	xlb_reply_ip(ip, p->key.daddr, p->key.saddr, sizeof(*ip) + sizeof(*tcp), IPPROTO_TCP);
	__builtin_memset(tcp, 0, sizeof(*tcp));
	tcp->source = p->key.dport;
	tcp->dest = p->key.sport;
	tcp->doff = sizeof(*tcp) / 4;
	tcp->rst = 1;
	if (r->ack_only) {
		tcp->seq = r->seq;
	} else {
		tcp->ack = 1;
		tcp->ack_seq = r->ack;
	}
	__u32 s = xlb_sum16(&ip->saddr, 4) + bpf_htons(IPPROTO_TCP) + bpf_htons(sizeof(*tcp));
	tcp->check = ~xlb_csum_fold(s + xlb_sum16(tcp, sizeof(*tcp) / 2));
	return 0;
}

/* The segment's reset fields, if it may be answered: an option-less IPv4 header (as
 * both writers assume) and not itself a reset. */
static __always_inline int xlb_rst_prepare(void *data, void *data_end, const struct xlb_pkt *p, struct xlb_rst_seq *r)
{
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct tcphdr *tcp = (void *)(ip + 1);
	if (p->l4_off != sizeof(struct ethhdr) + sizeof(*ip) || (void *)(tcp + 1) > data_end || tcp->rst)
		return -1;
	xlb_rst_seq_of(ip, tcp, r);
	return 0;
}

/* ICMP destination/port unreachable quoting the original IP header and 8 bytes. */
#define XLB_ICMP_QUOTE (sizeof(struct iphdr) + 8)
#define XLB_ICMP_LEN (sizeof(struct xlb_icmphdr) + XLB_ICMP_QUOTE)
/* Room the answer needs in front of the quoted header. */
#define XLB_ICMP_GROW (sizeof(struct iphdr) + sizeof(struct xlb_icmphdr))
#define XLB_ICMP_FRAME (sizeof(struct ethhdr) + sizeof(struct iphdr) + XLB_ICMP_LEN)

/* Writes the answer over a frame of XLB_ICMP_FRAME bytes whose quote (the original
 * IP header and 8 bytes) is already in place after the new headers. */
static __always_inline int xlb_write_icmp(void *data, void *data_end, const struct xlb_pkt *p,
					  const __u8 *client_mac, const __u8 *our_mac)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct xlb_icmphdr *icmp = (void *)(ip + 1);
	if ((void *)(icmp + 1) + XLB_ICMP_QUOTE > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, client_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, our_mac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	xlb_reply_ip(ip, p->key.daddr, p->key.saddr, sizeof(*ip) + XLB_ICMP_LEN, IPPROTO_ICMP);
	__builtin_memset(icmp, 0, sizeof(*icmp));
	icmp->type = XLB_ICMP_DEST_UNREACH;
	icmp->code = XLB_ICMP_PORT_UNREACH;
	icmp->checksum = ~xlb_csum_fold(xlb_sum16(icmp, XLB_ICMP_LEN / 2));
	return 0;
}

#endif
