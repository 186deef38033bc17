/* SPDX-License-Identifier: GPL-2.0 */
/* Bounds-checked Ethernet/IPv4/TCP/UDP parsing shared by the XDP and tc programs.
 * Anything we do not translate (non-IPv4, fragments, truncated or malformed headers,
 * other protocols) is reported as "not ours" so the caller passes it untouched. */
#ifndef XLB_PARSE_H
#define XLB_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include "xlb.h"

#define XLB_IP_MF 0x2000
#define XLB_IP_OFFSET 0x1fff
#define XLB_TCP_FIN 0x01
#define XLB_TCP_SYN 0x02
#define XLB_TCP_RST 0x04
#define XLB_TCP_ACK 0x10

struct xlb_pkt {
	struct xlb_flow_key key; /* as seen in the packet */
	/* Checked pointers into the packet; stale once a helper changes the skb. */
	struct iphdr *ip;
	__be16 *ports; /* [0] source, [1] destination: same place in TCP and UDP */
	__sum16 *csum; /* L4 checksum */
	__u32 l3_off;            /* from the start of the frame */
	__u32 l4_off;
	__u32 csum_off;          /* L4 checksum field */
	__u8 tcp_flags;          /* 0 for UDP */
	__u8 udp_csum_zero;      /* UDP without checksum */
};

/* Returns 0 when the frame is an unfragmented IPv4 TCP/UDP packet with complete headers. */
static __always_inline int xlb_parse(void *data, void *data_end, struct xlb_pkt *p)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
		return -1;
	if (ip->frag_off & bpf_htons(XLB_IP_MF | XLB_IP_OFFSET))
		return -1;
	__u32 ihl = ip->ihl * 4;
	void *l4 = (void *)ip + ihl;
	p->ip = ip;
	p->ports = l4;
	p->l3_off = sizeof(*eth);
	p->l4_off = sizeof(*eth) + ihl;
	p->key.saddr = ip->saddr;
	p->key.daddr = ip->daddr;
	p->key.proto = ip->protocol;
	p->key.pad[0] = p->key.pad[1] = p->key.pad[2] = 0;
	p->tcp_flags = 0;
	p->udp_csum_zero = 0;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;
		if ((void *)(tcp + 1) > data_end)
			return -1;
		p->key.sport = tcp->source;
		p->key.dport = tcp->dest;
		p->tcp_flags = ((__u8 *)tcp)[13];
		p->csum = &tcp->check;
		p->csum_off = p->l4_off + __builtin_offsetof(struct tcphdr, check);
		return 0;
	}
	if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) > data_end)
			return -1;
		p->key.sport = udp->source;
		p->key.dport = udp->dest;
		p->udp_csum_zero = udp->check == 0;
		p->csum = &udp->check;
		p->csum_off = p->l4_off + __builtin_offsetof(struct udphdr, check);
		return 0;
	}
	return -1;
}

static __always_inline void xlb_reverse_key(const struct xlb_flow_key *k, struct xlb_flow_key *r)
{
	r->saddr = k->daddr;
	r->daddr = k->saddr;
	r->sport = k->dport;
	r->dport = k->sport;
	r->proto = k->proto;
	r->pad[0] = r->pad[1] = r->pad[2] = 0;
}

#endif
