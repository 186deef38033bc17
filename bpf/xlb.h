/* Structs and constants shared by every xlb program and the agent. What the agent
 * needs are enums, so they reach BTF: make bpf generates src/dataplane/bpf/contract.ts
 * from it (contract.c, gen-contract.mjs), and a test checks the TypeScript encoders'
 * layouts against the structs (test/bpf/btf-layout.test.ts). Addresses and ports are
 * stored in network byte order, exactly as they appear in packets. */
#ifndef XLB_H
#define XLB_H

/* Map sizes (the agent's ids and capacity checks follow them). */
enum xlb_limits {
	XLB_MAX_SERVICES = 262144, /* frontends, and service ids */
	XLB_MAX_BACKENDS = 1 << 20,
	XLB_MAX_FLOWS = 262144,
	XLB_MAX_MEMBERS = 1 << 21, /* (service, backend) pairs */
	XLB_MAX_AFFINITY = 262144,
	XLB_MAX_SOURCE_RANGES = 65536,
	XLB_MAX_SOCKETS = 262144, /* (unconnected UDP socket, backend) pairs, and connected sockets moved out of their slots */
	XLB_SOCK_PEERS = 1 << 18, /* connected sockets' slots (a power of two: a cookie's low bits index it) */
	XLB_MAX_NAT = 262144,     /* SNATed flows; the agent's --nat-table-size overrides it */
	XLB_MAX_DEVICES = 64,
	XLB_MAX_REPLY_SOURCES = 65536,
	XLB_SVC_NAME_LEN = 128,
	/* The Maglev pool (maps.h): chunks of rows of slots, each table a region of one chunk. */
	XLB_MAGLEV_ROW_SLOTS = 1024,          /* a row is one 4 KiB array element */
	XLB_MAGLEV_CHUNK_SLOTS = 1 << 22,     /* a chunk's address range (16 MiB at most) */
	XLB_MAGLEV_CHUNKS = 64,               /* chunk 0 is no table's: the agent waits for grace periods on it */
	XLB_MAGLEV_MAX_SIZE = 65537,          /* the largest table (M, a prime): 100 slots a backend up to 655 backends */
};

/* SNAT source ports: a client's own port is kept when free; otherwise one is drawn
 * from [XLB_NAT_PORT_MIN, XLB_NAT_PORT_MAX]. Never one of Kubernetes' default NodePort
 * range (a reply must not look like a client of a NodePort), nor one a socket of the
 * node itself holds towards the same backend. A port is free when no entry holds it,
 * or only one whose connection closed XLB_NAT_REUSE_NS ago (as conntrack reopens a
 * TIME_WAIT tuple), so churn of short connections does not exhaust the range. */
#define XLB_NAT_PORT_MIN 1024
#define XLB_NAT_PORT_MAX 65535
#define XLB_NODEPORT_MIN 30000
#define XLB_NODEPORT_MAX 32767
#define XLB_NAT_PORT_TRIES 16
#define XLB_NAT_REUSE_NS (2ULL * 1000000000ULL)

/* Answers the datapath sends itself (RST, ICMP), per source: a token bucket of
 * XLB_REPLY_BURST answers refilled at XLB_REPLY_RATE a second. */
#define XLB_REPLY_RATE 100
#define XLB_REPLY_BURST 100

/* linux/socket.h's AF_INET (that header drags in libc's). */
#define XLB_AF_INET 2

/* Frontend types, for lbctl maps dump (the datapath treats them alike). */
enum xlb_svc_type {
	XLB_SVC_CLUSTER_IP = 1,
	XLB_SVC_NODE_PORT = 2,
	XLB_SVC_EXTERNAL_IP = 3,
	XLB_SVC_LOAD_BALANCER = 4,
};

/* Frontend flags. */
enum xlb_svc_flags {
	XLB_SVC_F_DROP = 0x1,          /* no endpoints here but elsewhere (Local policy): drop, don't reject */
	XLB_SVC_F_SOURCE_RANGES = 0x2, /* loadBalancerSourceRanges: only listed clients */
	/* For lbctl explain and dumps only (the agent already chose the table's endpoints): */
	XLB_SVC_F_LOCAL = 0x8,         /* a Local traffic policy: the table holds this node's endpoints */
	XLB_SVC_F_TERMINATING = 0x10,  /* no endpoint is ready: the table holds serving terminating ones */
};

/* Conntrack entry flags. */
enum xlb_ct_flags {
	XLB_CT_CLOSING = 0x1, /* FIN or RST seen: short lifetime */
};

/* Lifetimes in nanoseconds (bpf_ktime_get_ns, CLOCK_MONOTONIC). */
#define XLB_CT_TCP_SYN_NS (60ULL * 1000000000ULL)
#define XLB_CT_TCP_ESTABLISHED_NS (6ULL * 3600ULL * 1000000000ULL)
#define XLB_CT_TCP_CLOSING_NS (10ULL * 1000000000ULL)
#define XLB_CT_UDP_NS (60ULL * 1000000000ULL)

/* A frontend: the address, port and protocol a client sends to. */
struct xlb_svc_key {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

/* One Service port; all of its frontends share svc_id and so one Maglev table. */
struct xlb_svc_value {
	__u32 svc_id;
	__u32 maglev_size; /* M, the slots of its table; 0 = no backends */
	__u16 backend_count;
	__u8 type; /* enum xlb_svc_type */
	__u8 flags;
	__u32 affinity_timeout_s; /* sessionAffinity ClientIP: its timeout; 0 = none */
	/* Its table's first slot in the Maglev pool: chunk * XLB_MAGLEV_CHUNK_SLOTS + offset.
	 * A new table goes to a new region and the value names it in one update, so the
	 * datapath never pairs a size with another table, nor reads a half-written one. */
	__u32 table;
};

/* Backend flags. */
enum xlb_backend_flags {
	XLB_BACKEND_F_REMOTE = 0x1, /* runs on another node: external traffic to it is SNATed */
};

struct xlb_backend {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 flags;
};

/* "namespace/name:port/PROTO" of a service id, for lbctl; programs never read it. */
struct xlb_svc_name {
	char name[XLB_SVC_NAME_LEN];
};

/* Membership of a backend in a service's current backend set, so an affinity
 * entry never sends a client to a backend its service no longer has. */
struct xlb_member_key {
	__u32 svc_id;
	__u32 backend_id;
};

/* loadBalancerSourceRanges as an LPM trie: prefixlen = 32 (svc_id, always whole)
 * + the CIDR's prefix length. */
struct xlb_source_range_key {
	__u32 prefixlen;
	__u32 svc_id;
	__be32 addr;
};

/* sessionAffinity ClientIP: the backend a client's new flows go to. The client is
 * its source address on the packet path; at the socket, where connect() has not
 * chosen a source address yet, it is the client's network namespace (a pod, or the
 * host), as Cilium's socket LB keys it. */
struct xlb_affinity_key {
	__be32 client; /* packet path: source address; 0 at the socket */
	__u32 svc_id;
	__u64 netns; /* socket path: netns cookie; 0 on the packet path */
};

struct xlb_affinity_value {
	__u64 expires_ns;
	__u32 backend_id;
	__u32 pad;
};

/* One direction of a flow, as seen in the packet. The forward map is keyed by
 * client -> frontend, the reverse map by backend -> client, so a translation
 * only ever applies to the exact flow it was made for. */
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
	/* A flow to a remote backend leaves with this source (the node's); 0: not SNATed. */
	__be32 nat_addr;
	__be16 nat_port;
	__u16 pad;
};

/* A SNATed flow, keyed by its replies as they arrive (backend -> nat address and
 * port): where they go back to, and as whom. */
struct xlb_nat_value {
	__u64 expires_ns;
	__be32 client_addr;
	__be16 client_port;
	__u16 flags;
	__be32 frontend_addr;
	__be16 frontend_port;
	__u16 pad;
};

/* Device flags. */
enum xlb_device_flags {
	XLB_DEVICE_F_XDP = 0x1, /* XDP balances its packets; tc ingress behind it only completes */
};

/* A --devices device (by ifindex): the address SNATed flows leave it with. */
struct xlb_device {
	__be32 snat_addr;
	__u32 flags;
};

/* The answer budget of one source (see XLB_REPLY_RATE). */
struct xlb_reply_budget {
	__u64 refilled_ns;
	__u32 tokens;
	__u32 pad;
};

struct xlb_rnat_value {
	__u64 expires_ns;
	__be32 frontend_addr;
	__be16 frontend_port;
	__u16 flags;
};

/* A socket the socket programs balanced, by its cookie and the peer the kernel
 * knows (the backend): recvmsg and getpeername show the application the frontend it
 * asked for. In xlb_sockets: an unconnected UDP socket's pairs, written at sendmsg,
 * and connected sockets whose slot a later socket took (struct xlb_sock_peer). */
struct xlb_sock_key {
	__u64 cookie;
	__be32 backend_addr;
	__be16 backend_port;
	__u8 proto;
	__u8 pad;
};

struct xlb_sock_value {
	__be32 frontend_addr;
	__be16 frontend_port;
	__u16 pad;
	__u32 svc_id; /* with backend_id: a UDP socket whose backend left the service is destroyed */
	__u32 backend_id;
};

/* A connected socket's one peer, in slot (cookie mod XLB_SOCK_PEERS) of xlb_sock_peers:
 * written at connect, zeroed at sock_release (all zero: a free slot). */
struct xlb_sock_peer {
	struct xlb_sock_key key;
	struct xlb_sock_value value;
};

/* Why a packet or a connect() was refused or dropped: the index of xlb_drops, and
 * the `reason` label of xlb_drops_total. */
enum xlb_drop_reason {
	XLB_DROP_NO_ENDPOINTS = 0, /* the Service has no endpoint: rejected (RST, ICMP, ECONNREFUSED) */
	XLB_DROP_POLICY = 1,       /* no endpoint this node may use (a Local traffic policy) */
	XLB_DROP_SOURCE_RANGE = 2, /* client outside loadBalancerSourceRanges */
	XLB_DROP_NAT_PORTS = 3,    /* no free SNAT source port towards the backend */
	XLB_DROP_NO_ROUTE = 4,     /* no route towards a SNATed flow's backend or client */
	XLB_DROP_TTL = 5,          /* a forwarded packet's TTL ran out */
	XLB_DROP_STALE_FLOW = 6,   /* a late packet of a closed SNATed flow whose port was reused */
	XLB_DROP_REPLY_LIMIT = 7,  /* a RST/ICMP answer over the source's budget (XLB_REPLY_RATE) */
	XLB_DROP_REWRITE = 8,      /* a packet rewrite failed half way */
	XLB_DROP_REASONS = 9,
};

/* Traffic of one service id (per CPU, summed by the agent): packets and bytes the
 * per-packet path sent to its backends (requests, not replies), and the socket
 * calls (connect, unconnected sendmsg) the socket programs sent to a backend. */
struct xlb_svc_stats {
	__u64 packets;
	__u64 bytes;
	__u64 sock_calls;
};

/* What the per-packet path does with a packet (lb.h's xlb_decide). */
enum xlb_action {
	XLB_ACT_PASS = 0,   /* not a service packet: untouched */
	XLB_ACT_DNAT = 1,   /* to the backend, on this node */
	XLB_ACT_SNAT = 2,   /* to the backend, on another node: SNAT too (nat.h, tc only) */
	XLB_ACT_DROP = 3,
	XLB_ACT_REJECT = 4, /* answer with a TCP RST or an ICMP port unreachable */
};

/* How a new flow's backend was found, for lbctl explain. */
enum xlb_via {
	XLB_VIA_NONE = 0,
	XLB_VIA_CONNTRACK = 1, /* the flow is tracked: it keeps its backend */
	XLB_VIA_AFFINITY = 2,  /* sessionAffinity ClientIP entry of the client */
	XLB_VIA_MAGLEV = 3,    /* the Maglev slot of the flow's hash */
};

/* What xlb_decide did with one packet and why, filled only for lbctl explain
 * (explain.bpf.c), which runs the decision without writing any map. */
struct xlb_trace {
	__u32 action; /* enum xlb_action (lb.h) */
	__u32 svc_id;
	__u32 svc_flags;
	__u32 backend_id;
	__u32 via; /* enum xlb_via */
	__u32 hash;
	__u32 maglev_size;
	__u32 maglev_slot; /* 0..maglev_size - 1 */
	__u32 drop_reason; /* enum xlb_drop_reason, when refused */
	__u32 pad;
	__u64 expires_ns; /* of the conntrack or affinity entry used */
	__u64 now_ns;
};

#endif
