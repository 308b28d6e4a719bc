/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* udp.h - UDP header (RFC 768). */
#ifndef UPF_PARSE_UDP_H
#define UPF_PARSE_UDP_H

#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "parse/cursor.h"

/*
 * ip_payload: bytes the IP header says follow it. Returns the destination
 * port in host order, or -UPF_DROP_MALFORMED (truncated) or
 * -UPF_DROP_BAD_LENGTH (UDP length < 8 or larger than the IP payload).
 * *udp_payload gets UDP length - 8.
 */
static __always_inline int parse_udp(struct cursor *c, struct udphdr **out, __u32 ip_payload,
				     __u32 *udp_payload)
{
	struct udphdr *udp = c->pos;
	__u32 len;

	if ((void *)(udp + 1) > c->end)
		return -UPF_DROP_MALFORMED;
	len = bpf_ntohs(udp->len);
	if (len < sizeof(*udp) || len > ip_payload)
		return -UPF_DROP_BAD_LENGTH;
	c->pos = udp + 1;
	*out = udp;
	*udp_payload = len - sizeof(*udp);
	return bpf_ntohs(udp->dest);
}

#endif /* UPF_PARSE_UDP_H */
