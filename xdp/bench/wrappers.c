/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * wrappers.c - BPF_PROG_TEST_RUN timing wrappers.
 *
 * With repeat > 1 the kernel runs every iteration on the buffer the previous
 * one left behind (a decap would see the inner packet, an encap would run out
 * of headroom).  Each wrapper therefore first restores the frame from its
 * template slot (bench_common.h) and then runs the code under test:
 *
 *   bench_uplink / bench_downlink  upf_process(), the UPF fast path itself
 *   bench_baseline                 a plain forwarder (baseline.h)
 *   bench_noop                     the restore alone, XDP_DROP
 *   bench_noop_adjust              the restore plus one bpf_xdp_adjust_head()
 *                                  (so the next restore has to move the head
 *                                  back, as after a decap or an encap)
 *
 * net cost = (wrapper + code) - (wrapper alone), both measured in one run.
 * The UPF maps come from the included header; the benchmark makes this
 * object reuse the maps of the loaded build/xdp/upf.o (bpf_map__reuse_fd).
 */
#include "bench_common.h"
#include "baseline.h"
#include "upf_core.h"

/* Template slots, one per wrapper; each slot holds up to BENCH_MAX_FLOWS frames. */
enum bench_slot {
	BENCH_SLOT_UPLINK = 0,
	BENCH_SLOT_DOWNLINK = 1,
	BENCH_SLOT_BASELINE = 2,
	BENCH_SLOT_NOOP = 3,
	BENCH_SLOT_MAX = 4,
};

#define BENCH_MAX_FLOWS 1024

/* bench_tmpls: frame k of a slot at slot * BENCH_MAX_FLOWS + k (the benchmark writes). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BENCH_SLOT_MAX * BENCH_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct bench_tmpl);
} bench_tmpls SEC(".maps");

/* bench_flows: frames in use per slot (0 or 1 = always frame 0; the benchmark writes). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BENCH_SLOT_MAX);
	__type(key, __u32);
	__type(value, __u32);
} bench_flows SEC(".maps");

/* bench_next_flow: per CPU, the frame the next iteration restores (this program writes). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_next_flow SEC(".maps");

/*
 * The template this iteration restores: with several flows the iterations cycle
 * through them, so the code under test sees a different session every packet
 * (as on a real link) instead of one frame whose lookups always hit hot caches.
 */
static __always_inline const struct bench_tmpl *bench_slot(__u32 slot)
{
	__u32 zero = 0, k = 0, key;
	__u32 *flows = bpf_map_lookup_elem(&bench_flows, &slot);
	__u32 *next;

	if (flows && *flows > 1) {
		next = bpf_map_lookup_elem(&bench_next_flow, &zero);
		if (next) {
			k = *next;
			if (k >= *flows || k >= BENCH_MAX_FLOWS)
				k = 0;
			*next = k + 1;
		}
	}
	key = slot * BENCH_MAX_FLOWS + k;
	return bpf_map_lookup_elem(&bench_tmpls, &key);
}

SEC("xdp")
int bench_uplink(struct xdp_md *ctx)
{
	const struct bench_tmpl *t = bench_slot(BENCH_SLOT_UPLINK);

	if (!t || bench_restore(ctx, t))
		return XDP_ABORTED;
	return upf_process(ctx);
}

SEC("xdp")
int bench_downlink(struct xdp_md *ctx)
{
	const struct bench_tmpl *t = bench_slot(BENCH_SLOT_DOWNLINK);

	if (!t || bench_restore(ctx, t))
		return XDP_ABORTED;
	return upf_process(ctx);
}

SEC("xdp")
int bench_baseline(struct xdp_md *ctx)
{
	const struct bench_tmpl *t = bench_slot(BENCH_SLOT_BASELINE);

	if (!t || bench_restore(ctx, t))
		return XDP_ABORTED;
	return baseline_fwd(ctx);
}

SEC("xdp")
int bench_noop(struct xdp_md *ctx)
{
	const struct bench_tmpl *t = bench_slot(BENCH_SLOT_NOOP);

	if (!t || bench_restore(ctx, t))
		return XDP_ABORTED;
	return XDP_DROP;
}

SEC("xdp")
int bench_noop_adjust(struct xdp_md *ctx)
{
	const struct bench_tmpl *t = bench_slot(BENCH_SLOT_NOOP);

	if (!t || bench_restore(ctx, t))
		return XDP_ABORTED;
	if (t->adjust && bpf_xdp_adjust_head(ctx, t->adjust))
		return XDP_ABORTED;
	return XDP_DROP;
}

char _license[] SEC("license") = "Dual BSD/GPL";
