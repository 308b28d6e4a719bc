/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * cursor.h - the one parser shape used by every header in parse/.
 *
 * A parser takes a cursor (current position + data_end), checks that its
 * header fits, advances the cursor past it and returns the next protocol
 * (>= 0) or a negative enum upf_reason (-UPF_DROP_..., -UPF_PASS_...).
 * After bpf_xdp_adjust_head() every pointer is stale: re-read ctx->data and
 * ctx->data_end and re-check before touching the packet again.
 */
#ifndef UPF_PARSE_CURSOR_H
#define UPF_PARSE_CURSOR_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "upf_shared.h"

struct cursor {
	void *pos;
	void *end;
};

static __always_inline void cursor_init(struct cursor *c, struct xdp_md *ctx)
{
	c->pos = (void *)(long)ctx->data;
	c->end = (void *)(long)ctx->data_end;
}

/* Bytes from the cursor to the end of the frame. */
static __always_inline __u32 cursor_left(const struct cursor *c)
{
	return (__u32)((long)c->end - (long)c->pos);
}

#endif /* UPF_PARSE_CURSOR_H */
