/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * upf.c - the XDP program of the UPF: attach upf_xdp to the N3/N9 and N6
 * interfaces. The processing lives in upf_core.h so that benchmark objects
 * (xdp/bench/) can run the same code from a frame-restoring wrapper.
 */
#include "upf_core.h"

SEC("xdp")
int upf_xdp(struct xdp_md *ctx)
{
	return upf_process(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
