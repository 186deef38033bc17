// SPDX-License-Identifier: GPL-2.0
/* Socket-level load balancing for the clients on this node (pods and host
 * processes under --cgroup): connect() and UDP sendmsg() to a frontend (from IPv4
 * sockets, and from IPv6 sockets through ::ffff:a.b.c.d) are turned into a backend
 * once per connection, so no packet of theirs is ever translated;
 * recvmsg() and getpeername() show the application the frontend it asked for. The
 * backend comes from select.h, the decision the per-packet path makes too. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xlb.h"
#include "maps.h"
#include "select.h"
#include "stats.h"
#include "kernel_sock.h"

/* cgroup programs: 1 lets the call proceed, 0 fails it with the retval set. */
#define SYS_PROCEED 1
#define SYS_REJECT 0

static __always_inline int refuse(enum xlb_refusal why, enum xlb_drop_reason reason)
{
	xlb_count_drop(reason);
	/* kube-proxy's REJECT is ECONNREFUSED; its DROP of local traffic, EPERM. */
	bpf_set_retval(why == XLB_REFUSE_REJECT ? -ECONNREFUSED : -EPERM);
	return SYS_REJECT;
}

/* The slot of xlb_sock_peers a socket cookie indexes (maps.h). */
static __always_inline struct xlb_sock_peer *peer_slot(__u64 cookie)
{
	__u32 i = (__u32)cookie & (XLB_SOCK_PEERS - 1);
	return bpf_map_lookup_elem(&xlb_sock_peers, &i);
}

static __always_inline int same_socket(const struct xlb_sock_key *a, const struct xlb_sock_key *b)
{
	return a->cookie == b->cookie && a->backend_addr == b->backend_addr && a->backend_port == b->backend_port && a->proto == b->proto;
}

/* A connected socket has one peer, in its slot; an unconnected UDP socket one entry
 * per backend it sent to, in xlb_sockets. */
static __always_inline void remember(const struct xlb_sock_key *k, const struct xlb_sock_value *v, int connected)
{
	if (connected) {
		struct xlb_sock_peer *slot = peer_slot(k->cookie);
		if (!slot)
			return;
		/* Another socket's: one XLB_SOCK_PEERS cookies older, still open (or closed
		 * while no program was attached). Its record moves to xlb_sockets, where
		 * lookups look next, so only that LRU's capacity bounds open sockets. */
		if (slot->key.cookie && slot->key.cookie != k->cookie)
			bpf_map_update_elem(&xlb_sockets, &slot->key, &slot->value, BPF_ANY);
		slot->key = *k;
		slot->value = *v;
		return;
	}
	struct xlb_sock_value *old = bpf_map_lookup_elem(&xlb_sockets, k);
	/* A UDP socket sends many datagrams: write only what changed. */
	if (old && old->frontend_addr == v->frontend_addr && old->frontend_port == v->frontend_port && old->svc_id == v->svc_id &&
	    old->backend_id == v->backend_id)
		return;
	bpf_map_update_elem(&xlb_sockets, k, v, BPF_ANY);
}

/* The frontend a balanced socket asked for, by the socket and its peer, or NULL. */
static __always_inline struct xlb_sock_value *remembered(const struct xlb_sock_key *k)
{
	struct xlb_sock_peer *slot = peer_slot(k->cookie);
	if (slot && same_socket(&slot->key, k))
		return &slot->value;
	return bpf_map_lookup_elem(&xlb_sockets, k);
}

/* Frees a connected socket's slot, or its entry in xlb_sockets if a later socket
 * took the slot over. */
static __always_inline void forget(const struct xlb_sock_key *k)
{
	struct xlb_sock_peer *slot = peer_slot(k->cookie);
	if (slot && slot->key.cookie == k->cookie) {
		struct xlb_sock_peer none = {};
		*slot = none;
	} else {
		bpf_map_delete_elem(&xlb_sockets, k);
	}
}

/* The IPv4 address an IPv6 socket names as ::ffff:a.b.c.d (a dual-stack socket, as
 * Java's by default, reaching an IPv4 Service), or 0. */
static __always_inline __be32 mapped_ip4(struct bpf_sock_addr *ctx)
{
	if (ctx->user_ip6[0] || ctx->user_ip6[1] || ctx->user_ip6[2] != bpf_htonl(0x0000ffff))
		return 0;
	return ctx->user_ip6[3];
}

/* The IPv4 address in the call: user_ip4, or the mapped one of an IPv6 socket
 * (`ip6` is a constant per program, so each keeps to the fields its hook allows). */
static __always_inline __be32 user_addr(struct bpf_sock_addr *ctx, int ip6)
{
	return ip6 ? mapped_ip4(ctx) : ctx->user_ip4;
}

static __always_inline void set_user_addr(struct bpf_sock_addr *ctx, int ip6, __be32 addr)
{
	if (ip6)
		ctx->user_ip6[3] = addr;
	else
		ctx->user_ip4 = addr;
}

/* A frontend in the call's address and port becomes a backend; anything else is left
 * alone. `connected`: connect(), rather than an unconnected sendmsg(). */
static __always_inline int balance(struct bpf_sock_addr *ctx, __be32 src, int ip6, int connected)
{
	__u8 proto = ctx->protocol;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return SYS_PROCEED;
	__be32 addr = user_addr(ctx, ip6);
	if (!addr)
		return SYS_PROCEED;
	struct xlb_svc_key frontend = { .addr = addr, .port = (__be16)ctx->user_port, .proto = proto };
	struct xlb_svc_value *svc = bpf_map_lookup_elem(&xlb_services, &frontend);
	if (!svc)
		return SYS_PROCEED;
	/* An unbound socket has no source address yet (0.0.0.0): only a range that admits
	 * every client lets it through, as a firewall must fail closed. */
	if (!xlb_source_allowed(svc, src))
		return refuse(XLB_REFUSE_DROP, XLB_DROP_SOURCE_RANGE);

	__u64 cookie = bpf_get_socket_cookie(ctx);
	/* The cookie stands in for the source address and port, which connect() has not
	 * chosen yet: each socket gets its own Maglev slot, and all datagrams of one UDP
	 * socket reach one backend. */
	struct xlb_flow_key tuple = {
		.saddr = (__u32)cookie,
		.daddr = frontend.addr,
		.sport = (__u16)(cookie >> 32),
		.dport = frontend.port,
		.proto = proto,
	};
	struct xlb_affinity_key ak = { .netns = bpf_get_netns_cookie(ctx) };
	__u32 backend_id = 0;
	struct xlb_backend *b = xlb_select(svc, &tuple, &ak, bpf_ktime_get_ns(), &backend_id, NULL);
	if (!b) {
		enum xlb_refusal r = xlb_refusal(svc);
		return refuse(r, xlb_refusal_reason(r));
	}
	struct xlb_sock_key k = { .cookie = cookie, .backend_addr = b->addr, .backend_port = b->port, .proto = proto };
	struct xlb_sock_value v = {
		.frontend_addr = frontend.addr,
		.frontend_port = frontend.port,
		.svc_id = svc->svc_id,
		.backend_id = backend_id,
	};
	remember(&k, &v, connected);
	xlb_count_service(svc->svc_id, 0, 0);
	set_user_addr(ctx, ip6, b->addr);
	ctx->user_port = b->port;
	return SYS_PROCEED;
}

SEC("cgroup/connect4")
int xlb_connect4(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	return balance(ctx, sk->src_ip4, 0, 1);
}

SEC("cgroup/connect6")
int xlb_connect6(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	return balance(ctx, sk->src_ip4, 1, 1);
}

/* Unconnected UDP: every datagram to a frontend (the same socket keeps its backend). */
SEC("cgroup/sendmsg4")
int xlb_sendmsg4(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	return balance(ctx, ctx->msg_src_ip4 ? ctx->msg_src_ip4 : sk->src_ip4, 0, 0);
}

SEC("cgroup/sendmsg6")
int xlb_sendmsg6(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	return balance(ctx, sk->src_ip4, 1, 0);
}

/* The peer the kernel knows (a backend) shown as the frontend the socket asked for. */
static __always_inline int show_frontend(struct bpf_sock_addr *ctx, int ip6)
{
	__be32 addr = user_addr(ctx, ip6);
	if (!addr)
		return SYS_PROCEED;
	struct xlb_sock_key k = {
		.cookie = bpf_get_socket_cookie(ctx),
		.backend_addr = addr,
		.backend_port = (__be16)ctx->user_port,
		.proto = ctx->protocol,
	};
	struct xlb_sock_value *v = remembered(&k);
	if (v) {
		set_user_addr(ctx, ip6, v->frontend_addr);
		ctx->user_port = v->frontend_port;
	}
	return SYS_PROCEED;
}

SEC("cgroup/recvmsg4")
int xlb_recvmsg4(struct bpf_sock_addr *ctx)
{
	return show_frontend(ctx, 0);
}

SEC("cgroup/recvmsg6")
int xlb_recvmsg6(struct bpf_sock_addr *ctx)
{
	return show_frontend(ctx, 1);
}

SEC("cgroup/getpeername4")
int xlb_getpeername4(struct bpf_sock_addr *ctx)
{
	return show_frontend(ctx, 0);
}

SEC("cgroup/getpeername6")
int xlb_getpeername6(struct bpf_sock_addr *ctx)
{
	return show_frontend(ctx, 1);
}

/* A closing connected socket takes its record along (unconnected UDP sockets'
 * entries, whose peers the socket does not know, age out of the LRU). An IPv6 socket
 * connected to a mapped IPv4 address has it as dst_ip4 too. */
SEC("cgroup/sock_release")
int xlb_sock_release(struct bpf_sock *sk)
{
	if (!sk->dst_ip4)
		return SYS_PROCEED;
	struct xlb_sock_key k = {
		.cookie = bpf_get_socket_cookie(sk),
		.backend_addr = sk->dst_ip4,
		.backend_port = sk->dst_port,
		.proto = sk->protocol,
	};
	forget(&k);
	return SYS_PROCEED;
}

/* Run by the agent in each network namespace of --cgroup after backends left a
 * service: a connected UDP socket whose backend is no longer the service's is
 * destroyed (the application sees ECONNABORTED and reconnects through the service),
 * as per-packet UDP flows move at once. TCP connections finish where they are. */
SEC("iter/udp")
int xlb_sock_sweep(struct bpf_iter__udp *ctx)
{
	struct sock *sk = (struct sock *)ctx->udp_sk;
	/* IPv6 sockets too: one connected to a mapped IPv4 address keeps it in skc_daddr. */
	if (!sk || !sk->__sk_common.skc_daddr)
		return 0;
	struct xlb_sock_key k = {
		.cookie = bpf_get_socket_cookie(sk),
		.backend_addr = sk->__sk_common.skc_daddr,
		.backend_port = sk->__sk_common.skc_dport,
		.proto = IPPROTO_UDP,
	};
	struct xlb_sock_value *v = remembered(&k);
	if (!v)
		return 0; /* not a socket we balanced */
	struct xlb_member_key mk = { .svc_id = v->svc_id, .backend_id = v->backend_id };
	struct xlb_backend *b = xlb_backend_of(v->backend_id);
	if (bpf_map_lookup_elem(&xlb_members, &mk) && b && b->addr == k.backend_addr && b->port == k.backend_port)
		return 0;
	bpf_sock_destroy((struct sock_common *)sk);
	forget(&k);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
