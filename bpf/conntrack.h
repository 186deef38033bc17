/* SPDX-License-Identifier: GPL-2.0 */
/* Flow lifetimes: an entry lives as long as its connection and no longer, so a
 * client port reused later never meets an old translation. */
#ifndef XLB_CONNTRACK_H
#define XLB_CONNTRACK_H

#include <linux/in.h>
#include "xlb.h"
#include "parse.h"

/* Flags after this packet: FIN or RST closes the flow for good. */
static __always_inline __u16 xlb_ct_flags(const struct xlb_pkt *p, __u16 flags)
{
	if (p->tcp_flags & (XLB_TCP_FIN | XLB_TCP_RST))
		flags |= XLB_CT_CLOSING;
	return flags;
}

static __always_inline __u64 xlb_ct_lifetime(const struct xlb_pkt *p, __u16 flags)
{
	if (p->key.proto == IPPROTO_UDP)
		return XLB_CT_UDP_NS;
	if (flags & XLB_CT_CLOSING)
		return XLB_CT_TCP_CLOSING_NS;
	if ((p->tcp_flags & (XLB_TCP_SYN | XLB_TCP_ACK)) == XLB_TCP_SYN)
		return XLB_CT_TCP_SYN_NS;
	return XLB_CT_TCP_ESTABLISHED_NS;
}

/* A SYN (without ACK) opens a new connection on the tuple. */
static __always_inline int xlb_is_syn(const struct xlb_pkt *p)
{
	return (p->tcp_flags & (XLB_TCP_SYN | XLB_TCP_ACK)) == XLB_TCP_SYN;
}

/* Refresh stored expiries at most this often: a map write per packet costs more. */
#define XLB_CT_REFRESH_NS 1000000000ULL

#endif
