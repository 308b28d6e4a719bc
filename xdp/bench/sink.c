/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* sink.c - far end of a benchmark: count every frame per CPU, drop it. */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

struct sink_counter {
	__u64 packets;
	__u64 bytes;
};

/* sink_stats: frames and bytes received (this program writes, the bench reads). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sink_counter);
} sink_stats SEC(".maps");

SEC("xdp")
int bench_sink(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct sink_counter *c = bpf_map_lookup_elem(&sink_stats, &zero);

	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	return XDP_DROP;
}

char _license[] SEC("license") = "Dual BSD/GPL";
