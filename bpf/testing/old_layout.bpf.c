/* SPDX-License-Identifier: GPL-2.0 */
/* An older xlb as test/bpf/upgrade.test.ts sees it: maps pinned under the product's
 * names (bpf/maps.h) in layouts the product no longer has. No programs: loading it
 * only pins the maps. Structs are declared here, not taken from bpf/xlb.h: these are
 * the old versions.
 *   xlb_ct        conntrack value without its SNAT members (24 bytes, not 32)
 *   xlb_nat       a plain hash, not an LRU one
 *   xlb_affinity  the product's layout, with fewer entries
 *   xlb_services  a frontend value without affinity_timeout_s
 *   xlb_backends  an LRU hash, not an array
 *   xlb_maglev    inner tables of 8-byte slots, not mmapable */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct xlb_flow_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct xlb_ct_value {
	__u64 expires_ns;
	__u32 backend_id;
	__u32 svc_id;
	__be32 backend_addr;
	__be16 backend_port;
	__u16 flags;
};

struct xlb_nat_value {
	__u64 expires_ns;
	__be32 client_addr;
	__be16 client_port;
	__u16 flags;
	__be32 frontend_addr;
	__be16 frontend_port;
	__u16 pad;
};

struct xlb_affinity_key {
	__be32 client;
	__u32 svc_id;
	__u64 netns;
};

struct xlb_affinity_value {
	__u64 expires_ns;
	__u32 backend_id;
	__u32 pad;
};

struct xlb_svc_key {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct xlb_svc_value {
	__u32 svc_id;
	__u32 maglev_size;
	__u16 backend_count;
	__u8 type;
	__u8 flags;
};

struct xlb_backend {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_ct_value);
	__uint(max_entries, 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct xlb_flow_key);
	__type(value, struct xlb_nat_value);
	__uint(max_entries, 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct xlb_affinity_key);
	__type(value, struct xlb_affinity_value);
	__uint(max_entries, 512);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct xlb_svc_key);
	__type(value, struct xlb_svc_value);
	__uint(max_entries, 256);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct xlb_backend);
	__uint(max_entries, 256);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xlb_backends SEC(".maps");

struct xlb_maglev_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_INNER_MAP);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, 512);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct xlb_maglev_inner); /* clang 14: keep last */
} xlb_maglev SEC(".maps");

char LICENSE[] SEC("license") = "GPL";
