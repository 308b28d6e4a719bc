/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * counters.h - every exit of the program goes through upf_exit(), which
 * counts it in xdp_stats under (ingress interface slot, reason).
 *
 * Bytes are the frame length as the program leaves it (after any decap or
 * encap), so FWD_* bytes are what goes out and DROP_* bytes what came in.
 */
#ifndef UPF_COUNTERS_H
#define UPF_COUNTERS_H

#include "maps.h"

static __always_inline int upf_exit(struct xdp_md *ctx, int verdict, enum upf_reason reason)
{
	__u32 key = (ctx->ingress_ifindex & (UPF_MAX_IFACES - 1)) * UPF_REASON_MAX + reason;
	struct counter *c = bpf_map_lookup_elem(&xdp_stats, &key);

	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	return verdict;
}

/* The verdict that goes with a PASS_* or DROP_* reason (parsers return those). */
static __always_inline int upf_verdict_of(enum upf_reason reason)
{
	return reason >= UPF_DROP_MALFORMED ? XDP_DROP : XDP_PASS;
}

/* Exit on a negative parser result: -reason -> counted PASS or DROP. */
static __always_inline int upf_exit_reason(struct xdp_md *ctx, int neg_reason)
{
	enum upf_reason r = (enum upf_reason)(-neg_reason);

	return upf_exit(ctx, upf_verdict_of(r), r);
}

#endif /* UPF_COUNTERS_H */
