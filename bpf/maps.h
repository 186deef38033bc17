/* SPDX-License-Identifier: GPL-2.0 */
/* The maps every xlb program shares. Pinned by name under the agent's --bpffs, so
 * both objects (and a restarted agent) use the same maps. */
#ifndef XLB_MAPS_H
#define XLB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlb.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct xlb_svc_key);
	__type(value, struct xlb_svc_value);
	__uint(max_entries, XLB_MAX_SERVICES);
	/* Allocated as used; and an element replaced by an update is freed only after a
	 * grace period, so a program never reads a value being rewritten. */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_services SEC(".maps");

/* Indexed by backend id, as Katran's reals: writing an array slot costs a copy, where
 * inserting into a hash allocates an element (100,000 backends: 21 ms against 74).
 * A zero slot (address 0) is no backend: read it through xlb_backend_of. 8 bytes a
 * slot: 8 MiB for the default million ids. Mmapable, so that the agent reads the
 * filled slots of a million through memory at its start. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct xlb_backend);
	__uint(max_entries, XLB_MAX_BACKENDS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_backends SEC(".maps");

/* The backend with this id, or NULL for an id no backend holds. */
static __always_inline struct xlb_backend *xlb_backend_of(__u32 id)
{
	struct xlb_backend *b = bpf_map_lookup_elem(&xlb_backends, &id);
	return b && b->addr ? b : NULL;
}

/* Written by the agent so operators see Service names; not used by the datapath. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct xlb_svc_name);
	__uint(max_entries, XLB_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_svc_names SEC(".maps");

/* Which backends a service has, for what asks it: a UDP flow or socket whose backend
 * may have left (lb.h, sock_lb.bpf.c) and client affinity (select.h). The agent writes
 * only the services those reach. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct xlb_member_key);
	__type(value, __u8);
	__uint(max_entries, XLB_MAX_MEMBERS);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* sized for the worst case, filled as used */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_members SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct xlb_affinity_key);
	__type(value, struct xlb_affinity_value);
	__uint(max_entries, XLB_MAX_AFFINITY);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct xlb_source_range_key);
	__type(value, __u8);
	__uint(max_entries, XLB_MAX_SOURCE_RANGES);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required for LPM tries */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_source_ranges SEC(".maps");

/* The Maglev pool: every service's table is a region of M slots (backend ids) in one
 * chunk, named by its frontends' xlb_svc_value.table. Chunks are added as tables need
 * room (memory grows with backends, not with a worst case), each an mmap-able array of
 * rows the agent writes with plain memory copies; a row is one 4 KiB element, so the
 * slots lie densely. A changed table is written into a free region and the frontends
 * then name it; the old region is reused only after an RCU grace period. BPF_F_INNER_MAP:
 * chunks differ in size (kernel >= 5.10). */
struct xlb_maglev_chunk {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32[XLB_MAGLEV_ROW_SLOTS]); /* a row of slots */
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, XLB_MAGLEV_CHUNKS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct xlb_maglev_chunk); /* clang 14: keep last */
} xlb_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_ct_value);
	__uint(max_entries, XLB_MAX_FLOWS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_rnat_value);
	__uint(max_entries, XLB_MAX_FLOWS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_rnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct xlb_sock_key);
	__type(value, struct xlb_sock_value);
	__uint(max_entries, XLB_MAX_SOCKETS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_sockets SEC(".maps");

/* Direct-mapped by socket cookie, which the kernel hands out in increasing order:
 * connect() writes a slot near the last one written (cache-warm, no allocation, no
 * lock; an LRU hash entry cost 0.3 µs a connect, a third of what balancing adds). A
 * socket still open when one XLB_SOCK_PEERS cookies younger connects moves to
 * xlb_sockets (sock_lb.bpf.c). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct xlb_sock_peer);
	__uint(max_entries, XLB_SOCK_PEERS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_sock_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_nat_value);
	__uint(max_entries, XLB_MAX_NAT);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_nat SEC(".maps");

/* Written by the agent at attach: ifindex -> the device's SNAT address. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct xlb_device);
	__uint(max_entries, XLB_MAX_DEVICES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_devices SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __be32);
	__type(value, struct xlb_reply_budget);
	__uint(max_entries, XLB_MAX_REPLY_SOURCES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_reply_budget SEC(".maps");

/* Per service id; the agent deletes an id's entry when it frees the id. Hashed, not
 * an array: per-CPU memory only for the services that see traffic. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, __u32);
	__type(value, struct xlb_svc_stats);
	__uint(max_entries, XLB_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_svc_stats SEC(".maps");

/* Per enum xlb_drop_reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, XLB_DROP_REASONS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_drops SEC(".maps");

#endif
