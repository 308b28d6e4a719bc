/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * redirect.c - the plain XDP-redirect hop of the baseline chain: the same
 * forwarder the test-run baseline times (baseline.h), attached in place of
 * the UPF so the live benchmark compares both on the same topology.
 */
#include "baseline.h"

SEC("xdp")
int bench_redirect(struct xdp_md *ctx)
{
	return baseline_fwd(ctx);
}

char _license[] SEC("license") = "Dual BSD/GPL";
