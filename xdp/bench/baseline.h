/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * baseline.h - the plain forwarder the UPF is compared against: parse
 * Ethernet/IPv4/UDP, rewrite both MACs, bpf_redirect() to a fixed interface
 * read from a one-slot config map.  No GTP-U, no session lookup.
 */
#ifndef UPF_BENCH_BASELINE_H
#define UPF_BENCH_BASELINE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/types.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Where the baseline forwards to: written by the benchmark before a run. */
struct fwd_cfg {
	__u32 ifindex;
	__u8 smac[6];
	__u8 dmac[6];
};
_Static_assert(sizeof(struct fwd_cfg) == 16, "fwd_cfg size");

/* fwd_config: the baseline forwarder's output interface and MACs (bench writes). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fwd_cfg);
} fwd_config SEC(".maps");

static __always_inline int baseline_fwd(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;
	struct fwd_cfg *cfg;
	__u32 zero = 0;

	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->ihl < 5)
		return XDP_DROP;
	if (ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > end)
		return XDP_DROP;
	cfg = bpf_map_lookup_elem(&fwd_config, &zero);
	if (!cfg || !cfg->ifindex)
		return XDP_PASS;
	__builtin_memcpy(eth->h_source, cfg->smac, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, cfg->dmac, ETH_ALEN);
	return bpf_redirect(cfg->ifindex, 0);
}

#endif /* UPF_BENCH_BASELINE_H */
