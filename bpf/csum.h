/* SPDX-License-Identifier: GPL-2.0 */
/* Incremental Internet checksum updates for XDP, which has no csum helpers
 * (RFC 1624: HC' = ~(~HC + ~m + m')). Values are summed exactly as they lie in
 * memory, which is byte-order independent for a one's-complement sum. */
#ifndef XLB_CSUM_H
#define XLB_CSUM_H

#include <linux/types.h>

static __always_inline __u16 xlb_csum_fold(__u32 c)
{
	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	return (__u16)c;
}

static __always_inline void xlb_csum_replace2(__u16 *sum, __u16 from, __u16 to)
{
	__u32 c = (__u16)~*sum;
	c += (__u16)~from;
	c += to;
	*sum = ~xlb_csum_fold(c);
}

static __always_inline void xlb_csum_replace4(__u16 *sum, __u32 from, __u32 to)
{
	__u32 c = (__u16)~*sum;
	c += (__u16)~(from & 0xffff);
	c += (__u16)~(from >> 16);
	c += to & 0xffff;
	c += to >> 16;
	*sum = ~xlb_csum_fold(c);
}

#endif
