/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * bench_common.h - shared pieces of the benchmark-only XDP programs.
 *
 * A frame template lives in a one-slot array map that user space writes
 * before a run.  Two users:
 *  - the BPF_PROG_TEST_RUN timing wrappers (wrappers.c): with repeat > 1 the
 *    kernel hands every iteration the buffer the previous one left behind, so
 *    each iteration first undoes the previous bpf_xdp_adjust_head() and then
 *    rewrites the header bytes from the template;
 *  - the live-frames generator (gen.c): page-pool pages come back holding what
 *    the receiver wrote, so every run rewrites the frame from the template.
 * The copy is done in u64 words (a byte-wise copy halves the generator's rate).
 */
#ifndef UPF_BENCH_COMMON_H
#define UPF_BENCH_COMMON_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#define BENCH_TMPL_WORDS 16	/* 128 bytes: every header the UPF touches */

/* The frame to restore: its length and its first BENCH_TMPL_WORDS * 8 bytes. */
struct bench_tmpl {
	__u32 len;		/* original frame length (data_end - data) */
	__u16 words;		/* u64 words to copy, <= BENCH_TMPL_WORDS */
	__s16 adjust;		/* bench_noop_adjust: head offset to leave behind */
	__u64 data[BENCH_TMPL_WORDS];
};
_Static_assert(sizeof(struct bench_tmpl) == 8 + 8 * BENCH_TMPL_WORDS, "bench_tmpl size");

/* Copy the template's words over the frame, bounded by the frame's end. */
static __always_inline void bench_copy_tmpl(struct xdp_md *ctx, const struct bench_tmpl *t)
{
	void *end = (void *)(long)ctx->data_end;
	__u64 *dst = (void *)(long)ctx->data;
	__u32 words = t->words;

#pragma clang loop unroll(full)
	for (int i = 0; i < BENCH_TMPL_WORDS; i++) {
		if (i < words && (void *)(dst + i + 1) <= end)
			dst[i] = t->data[i];
	}
}

/*
 * Bring the frame back to the template: undo any head adjustment of the
 * previous iteration (cur_len - orig_len is exactly the offset to apply),
 * then rewrite the header bytes.  Returns 0, or -1 if it could not.
 */
static __always_inline int bench_restore(struct xdp_md *ctx, const struct bench_tmpl *t)
{
	long cur_len = (long)ctx->data_end - (long)ctx->data;
	int delta = (int)(cur_len - (long)t->len);

	if (delta && bpf_xdp_adjust_head(ctx, delta))
		return -1;
	bench_copy_tmpl(ctx, t);
	return 0;
}

#endif /* UPF_BENCH_COMMON_H */
