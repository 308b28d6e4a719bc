/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * gtpu.h - GTP-U header (TS 29.281 5.1, 5.2) and the PDU Session Container
 * extension header (TS 38.415 5.5.2).
 */
#ifndef UPF_PARSE_GTPU_H
#define UPF_PARSE_GTPU_H

#include <bpf/bpf_endian.h>

#include "parse/cursor.h"

#define GTPU_VERSION_PT 0x30	/* version 1 (bits 8-6), PT = 1 (GTP) */
#define GTPU_FLAG_E 0x04	/* next extension header field is meaningful */
#define GTPU_FLAG_S 0x02	/* sequence number field is meaningful */
#define GTPU_FLAG_PN 0x01	/* N-PDU number field is meaningful */
#define GTPU_FLAGS_OPT (GTPU_FLAG_E | GTPU_FLAG_S | GTPU_FLAG_PN)

/* Message types, TS 29.281 6.1 */
#define GTPU_ECHO_REQUEST 1
#define GTPU_ECHO_RESPONSE 2
#define GTPU_ERROR_INDICATION 26
#define GTPU_END_MARKER 254
#define GTPU_G_PDU 255

/* Extension header types, TS 29.281 5.2.1 */
#define GTPU_EXT_UDP_PORT 0x40
#define GTPU_EXT_PDU_SESSION 0x85

/* TS 38.415 5.5.2: PDU type in the high nibble of the first content octet. */
#define PDU_TYPE_DL 0
#define PDU_TYPE_UL 1

/* Recovery IE, TS 29.281 8.2 (TV: type 14, restart counter). */
#define GTPU_IE_RECOVERY 14

/* The mandatory part (8 octets). */
struct gtpu_hdr {
	__u8 flags;
	__u8 type;
	__be16 length;		/* octets after these 8 */
	__be32 teid;
};

/* Present when any of E, S, PN is set. */
struct gtpu_opt {
	__be16 seq;
	__u8 npdu;
	__u8 next_ext;
};

/* A PDU Session Container of length 1 (4 octets), as the fast path emits it. */
struct gtpu_pdu_session {
	__u8 len;		/* 1: 4 octets */
	__u8 pdu_type;		/* PDU type << 4 */
	__u8 qfi;		/* low 6 bits; DL: PPP, RQI above */
	__u8 next_ext;		/* 0: no more */
};

_Static_assert(sizeof(struct gtpu_hdr) == 8, "gtpu_hdr size");
_Static_assert(sizeof(struct gtpu_opt) == 4, "gtpu_opt size");
_Static_assert(sizeof(struct gtpu_pdu_session) == 4, "gtpu_pdu_session size");

struct gtpu_info {
	struct gtpu_hdr *hdr;
	__u32 hdr_len;		/* 8 + optional 4 + extension headers */
	__u32 payload_len;	/* T-PDU octets: length field - (hdr_len - 8) */
	__u8 type;
	__u8 qfi;
	__u8 has_qfi;		/* a PDU Session Container was present */
	__u8 pad;
};

/*
 * udp_payload: octets the UDP length says follow the UDP header.
 * Returns the message type (>= 0) with the cursor on the T-PDU, or
 * -UPF_DROP_MALFORMED (truncated), -UPF_DROP_BAD_GTPU (version/PT, an
 * extension header of length 0, a chain longer than UPF_MAX_GTPU_EXT_HDRS)
 * or -UPF_DROP_BAD_LENGTH (length field beyond the UDP payload or shorter
 * than the optional fields and extension headers).
 */
static __always_inline int parse_gtpu(struct cursor *c, struct gtpu_info *g, __u32 udp_payload)
{
	struct gtpu_hdr *h = c->pos;
	__u32 len, hdr_len = sizeof(*h);
	__u8 next = 0;

	if ((void *)(h + 1) > c->end)
		return -UPF_DROP_MALFORMED;
	if ((h->flags & 0xf0) != GTPU_VERSION_PT)
		return -UPF_DROP_BAD_GTPU;
	len = bpf_ntohs(h->length);
	if (len + sizeof(*h) > udp_payload)
		return -UPF_DROP_BAD_LENGTH;
	c->pos = h + 1;
	g->hdr = h;
	g->type = h->type;
	g->has_qfi = 0;
	g->qfi = 0;

	if (h->flags & GTPU_FLAGS_OPT) {
		struct gtpu_opt *o = c->pos;

		if ((void *)(o + 1) > c->end)
			return -UPF_DROP_MALFORMED;
		c->pos = o + 1;
		hdr_len += sizeof(*o);
		if (h->flags & GTPU_FLAG_E)
			next = o->next_ext;
	}

	/* TS 29.281 5.2.1: length in 4-octet units, the last octet is the next type. */
#pragma clang loop unroll(full)
	for (int i = 0; i < UPF_MAX_GTPU_EXT_HDRS; i++) {
		__u8 *e = c->pos, *last;
		__u32 elen;

		if (!next)
			break;
		if ((void *)(e + 4) > c->end)
			return -UPF_DROP_MALFORMED;
		elen = (__u32)e[0] << 2;
		if (!elen)
			return -UPF_DROP_BAD_GTPU;
		last = c->pos + elen - 1;
		if ((void *)(last + 1) > c->end)
			return -UPF_DROP_MALFORMED;
		if (next == GTPU_EXT_PDU_SESSION) {
			g->qfi = e[2] & 0x3f;
			g->has_qfi = 1;
		}
		next = *last;
		c->pos = last + 1;
		hdr_len += elen;
	}
	if (next)
		return -UPF_DROP_BAD_GTPU;
	if (hdr_len - sizeof(*h) > len)
		return -UPF_DROP_BAD_LENGTH;
	g->hdr_len = hdr_len;
	g->payload_len = len - (hdr_len - sizeof(*h));
	return g->type;
}

#endif /* UPF_PARSE_GTPU_H */
