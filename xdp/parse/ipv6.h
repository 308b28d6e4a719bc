/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* ipv6.h - IPv6 fixed header (RFC 8200); extension headers are not walked. */
#ifndef UPF_PARSE_IPV6_H
#define UPF_PARSE_IPV6_H

#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>

#include "parse/cursor.h"

/*
 * Returns the next header number, or -UPF_DROP_MALFORMED (truncated, version
 * != 6) or -UPF_DROP_BAD_LENGTH (payload length longer than the frame).
 */
static __always_inline int parse_ipv6(struct cursor *c, struct ipv6hdr **out, __u32 *payload_len)
{
	struct ipv6hdr *ip6 = c->pos;
	__u32 plen;

	if ((void *)(ip6 + 1) > c->end)
		return -UPF_DROP_MALFORMED;
	if (ip6->version != 6)
		return -UPF_DROP_MALFORMED;
	c->pos = ip6 + 1;
	plen = bpf_ntohs(ip6->payload_len);
	if (plen > cursor_left(c))
		return -UPF_DROP_BAD_LENGTH;
	*out = ip6;
	*payload_len = plen;
	return ip6->nexthdr;
}

#endif /* UPF_PARSE_IPV6_H */
