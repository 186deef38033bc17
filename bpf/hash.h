/* SPDX-License-Identifier: GPL-2.0 */
/* The flow hash that picks a Maglev slot: every word of the 5-tuple goes through a
 * murmur3-style multiply/xor-shift mix, so nearby ports and addresses spread evenly. */
#ifndef XLB_HASH_H
#define XLB_HASH_H

#include <linux/types.h>
#include "xlb.h"

#define XLB_HASH_SEED 0x9e3779b9

static __always_inline __u32 xlb_mix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 xlb_flow_hash(const struct xlb_flow_key *k)
{
	__u32 h = XLB_HASH_SEED;
	h = xlb_mix32(h ^ k->saddr);
	h = xlb_mix32(h ^ k->daddr);
	h = xlb_mix32(h ^ (((__u32)k->sport << 16) | k->dport));
	return xlb_mix32(h ^ k->proto);
}

#endif
