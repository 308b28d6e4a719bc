/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pass.c - XDP_PASS, nothing else.  Attached to the far (gNB, DN) veth ends
 * of a test topology: XDP_REDIRECT into a veth delivers only when the peer
 * has an XDP program (or GRO on).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int bench_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
