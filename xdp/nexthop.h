/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * nexthop.h - next hop of an outgoing packet: the per-CPU upf_nh_memo, then
 * nh_cache, then the kernel FIB (bpf_fib_lookup) on a miss or a stale
 * generation. Also the "is this one of our GTP-U addresses" check, memoized
 * the same way in front of local_addrs.
 *
 * The MTU is not checked: bpf_fib_lookup is called with tot_len 0, and a
 * cached entry would not re-check it anyway.
 *
 * Every cached result (nh_cache, upf_nh_memo) is stamped with runtime.nh_gen and
 * trusted only while it is current; the control plane only ever increments
 * nh_gen, so a bump invalidates all of them at once.
 */
#ifndef UPF_NEXTHOP_H
#define UPF_NEXTHOP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "maps.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* runtime.nh_gen: the generation a cached next hop (or local address) must carry. */
static __always_inline __u32 upf_nh_gen(void)
{
	__u32 zero = 0;
	struct runtime *rt = bpf_map_lookup_elem(&runtime, &zero);

	return rt ? rt->nh_gen : 0;
}

/*
 * Memo slot of x (slots: a power of two >= 2): the top bits of a
 * multiplicative (Fibonacci) hash, which depend on every bit of x. Middle
 * bits would not: an IPv4 address loaded as a little-endian word has its last
 * octet in bits 24-31, and bits 16-25 of x * K see only two of those, so the
 * hosts of one /24 would share 4 slots.
 */
static __always_inline __u32 upf_memo_slot(__u32 x, __u32 slots)
{
	return (x * 0x9e3779b1u) >> (32 - __builtin_ctz(slots));
}

/*
 * Is addr (an outer IPv4 destination) one of our GTP-U addresses? The per-CPU
 * memo answers for addresses found before under the current nh_gen: the
 * control plane bumps nh_gen after it removes a local address.
 */
static __always_inline int upf_is_local(__be32 addr)
{
	struct local_addr_key lk = { .addr = addr };
	__u32 slot = upf_memo_slot(addr, UPF_LOCAL_MEMO_SLOTS);
	struct upf_local_memo *m = bpf_map_lookup_elem(&upf_local_memo, &slot);
	__u32 gen = upf_nh_gen();

	if (m && m->valid && m->addr == addr && m->gen == gen)
		return 1;
	if (!bpf_map_lookup_elem(&local_addrs, &lk))
		return 0;
	if (m) {
		m->addr = addr;
		m->gen = gen;
		m->valid = 1;
	}
	return 1;
}

static __always_inline int nh_key_eq(const struct nh_key *a, const struct nh_key *b)
{
	return a->family == b->family && a->addr[0] == b->addr[0] && a->addr[1] == b->addr[1] &&
	       a->addr[2] == b->addr[2] && a->addr[3] == b->addr[3];
}

/*
 * Fills *out and returns UPF_FWD_UPLINK (0) when the packet can be
 * redirected, UPF_PASS_NO_NEIGH when the kernel must resolve the neighbour
 * (or forwarding is off, or the FIB says "fragmentation needed"), or
 * UPF_DROP_NO_ROUTE for blackhole/unreachable/prohibit/not-forwarded routes.
 * addr: network order; one word for AF_INET, four for AF_INET6.
 * Order: per-CPU memo, nh_cache, bpf_fib_lookup (whose success fills both).
 * A memo entry is only ever written from a current, successful result.
 */
static __always_inline int upf_nexthop(struct xdp_md *ctx, __u32 family, const __be32 *addr,
				       struct nh_entry *out)
{
	struct nh_key key = { .family = family };
	struct bpf_fib_lookup fib;
	struct upf_nh_memo *m;
	struct nh_entry *e;
	__u32 gen = upf_nh_gen();
	__u32 slot;
	long rc;

	key.addr[0] = addr[0];
	if (family == AF_INET6) {
		key.addr[1] = addr[1];
		key.addr[2] = addr[2];
		key.addr[3] = addr[3];
	}
	slot = upf_memo_slot(key.addr[0] ^ key.addr[1] ^ key.addr[2] ^ key.addr[3],
			     UPF_NH_MEMO_SLOTS);
	m = bpf_map_lookup_elem(&upf_nh_memo, &slot);
	if (m && m->nh.gen == gen && nh_key_eq(&m->key, &key)) {
		*out = m->nh;
		return UPF_FWD_UPLINK;
	}
	e = bpf_map_lookup_elem(&nh_cache, &key);
	if (e && e->gen == gen) {
		*out = *e;
		if (m) {
			m->key = key;
			m->nh = *out;
		}
		return UPF_FWD_UPLINK;
	}

	__builtin_memset(&fib, 0, sizeof(fib));
	fib.family = family;
	fib.ifindex = ctx->ingress_ifindex;
	if (family == AF_INET) {
		fib.ipv4_dst = addr[0];
	} else {
		fib.ipv6_dst[0] = addr[0];
		fib.ipv6_dst[1] = addr[1];
		fib.ipv6_dst[2] = addr[2];
		fib.ipv6_dst[3] = addr[3];
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		out->gen = gen;
		out->ifindex = fib.ifindex;
		__builtin_memcpy(out->smac, fib.smac, 6);
		__builtin_memcpy(out->dmac, fib.dmac, 6);
		bpf_map_update_elem(&nh_cache, &key, out, BPF_ANY);
		if (m) {
			m->key = key;
			m->nh = *out;
		}
		return UPF_FWD_UPLINK;
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
	case BPF_FIB_LKUP_RET_NOT_FWDED:
		return UPF_DROP_NO_ROUTE;
	default:		/* NO_NEIGH, FWD_DISABLED, FRAG_NEEDED, UNSUPP_LWT, errors */
		return UPF_PASS_NO_NEIGH;
	}
}

#endif /* UPF_NEXTHOP_H */
