/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* ipv4.h - IPv4 header (RFC 791), options honoured through IHL. */
#ifndef UPF_PARSE_IPV4_H
#define UPF_PARSE_IPV4_H

#include <linux/ip.h>
#include <bpf/bpf_endian.h>

#include "parse/cursor.h"

#define IPV4_MF 0x2000
#define IPV4_DF 0x4000
#define IPV4_OFFSET_MASK 0x1fff

/*
 * Parses the header and its options. Returns the protocol number, or
 * -UPF_DROP_MALFORMED (truncated, IHL < 5, version != 4) or
 * -UPF_DROP_BAD_LENGTH (total length shorter than the header or longer than
 * the frame). *payload_len gets total length - header length.
 */
static __always_inline int parse_ipv4(struct cursor *c, struct iphdr **out, __u32 *payload_len)
{
	struct iphdr *ip = c->pos;
	__u32 hlen, tot;

	if ((void *)(ip + 1) > c->end)
		return -UPF_DROP_MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return -UPF_DROP_MALFORMED;
	hlen = ip->ihl * 4;
	if (c->pos + hlen > c->end)
		return -UPF_DROP_MALFORMED;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < hlen || tot > cursor_left(c))
		return -UPF_DROP_BAD_LENGTH;
	c->pos += hlen;
	*out = ip;
	*payload_len = tot - hlen;
	return ip->protocol;
}

static __always_inline int ipv4_is_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(IPV4_MF | IPV4_OFFSET_MASK)) != 0;
}

/* Fold a 32-bit one's complement sum to 16 bits. */
static __always_inline __u16 csum_fold32(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/*
 * RFC 1624 incremental update of a 16-bit one's complement checksum for one
 * 16-bit word changing from old to new. Works on the words as they sit in
 * memory (the one's complement sum does not care about byte order).
 */
static __always_inline void csum_replace2(__u16 *sum, __u16 old, __u16 new)
{
	__u32 s = (__u16)~*sum;

	s += (__u16)~old;
	s += new;
	*sum = csum_fold32(s);
}

/* Checksum of a 20-byte IPv4 header (no options) whose check field is 0. */
static __always_inline __u16 ipv4_csum20(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 s = 0;

#pragma clang loop unroll(full)
	for (int i = 0; i < 10; i++)
		s += w[i];
	return csum_fold32(s);
}

/* TTL - 1 with the header checksum fixed incrementally (TTL is the high octet). */
static __always_inline void ipv4_dec_ttl(struct iphdr *ip)
{
	__u16 *word = (__u16 *)&ip->ttl;	/* ttl, protocol */
	__u16 old = *word;

	ip->ttl--;
	csum_replace2(&ip->check, old, *word);
}

#endif /* UPF_PARSE_IPV4_H */
