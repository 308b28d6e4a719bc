/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * gen.c - live-frames traffic generator.  Run with BPF_PROG_RUN and
 * BPF_F_TEST_XDP_LIVE_FRAMES, ctx.ingress_ifindex = the sending veth: every
 * run rewrites its frame from a template and XDP_TX sends it out.  With
 * several templates (gen_flows > 1) the frames cycle through them, one
 * session or flow each.  All templates must have the frame's length.
 */
#include "bench_common.h"

#define GEN_MAX_FLOWS 1024

/* gen_tmpl: the frames to send, 0 .. gen_flows-1 (the benchmark writes them). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct bench_tmpl);
} gen_tmpl SEC(".maps");

/* gen_flows: how many gen_tmpl entries are in use (0 or 1: entry 0 only). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} gen_flows SEC(".maps");

/* gen_next: per CPU, the template of the next frame (this program writes). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} gen_next SEC(".maps");

SEC("xdp")
int bench_gen(struct xdp_md *ctx)
{
	__u32 zero = 0, k = 0;
	__u32 *flows = bpf_map_lookup_elem(&gen_flows, &zero);
	struct bench_tmpl *t;
	__u32 *next;

	if (flows && *flows > 1) {
		next = bpf_map_lookup_elem(&gen_next, &zero);
		if (next) {
			k = *next;
			if (k >= *flows || k >= GEN_MAX_FLOWS)
				k = 0;
			*next = k + 1;
		}
	}
	t = bpf_map_lookup_elem(&gen_tmpl, &k);
	if (!t)
		return XDP_ABORTED;
	bench_copy_tmpl(ctx, t);
	return XDP_TX;
}

char _license[] SEC("license") = "Dual BSD/GPL";
