/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * upf_core.h - the UPF fast path as one inlinable function, upf_process().
 *
 * xdp/upf.c wraps it as SEC("xdp") upf_xdp; benchmark objects in xdp/bench/
 * include this header and call upf_process() from a frame-restoring wrapper.
 *
 *   N3/N9 in:  Eth / IPv4 (options ok) / UDP 2152 to a local_addrs address / GTP-U
 *      G-PDU  -> uplink_by_teid[TEID index] or uplink_pdrs[TEID] -> rule
 *             -> pdr_stats -> fars (-> qers)
 *             -> decap to N6 (FWD_UPLINK) or re-encap to N9 (FWD_UPLINK_N9)
 *      Echo Request -> Echo Response by XDP_TX; other messages -> kernel
 *   N6 in:     Eth / IPv4 to a UE (downlink_pdrs_v4) or IPv6 to a UE /64
 *             (downlink_pdrs_v6) -> rule -> pdr_stats -> fars (-> qers)
 *             -> GTP-U encap to N3 (FWD_DOWNLINK)
 *
 * Byte counts in pdr_stats are the inner IP packet's length (IPv4 total
 * length, IPv6 payload length + 40): what usage reporting (URR) measures.
 *
 * Inner TTL / hop limit: a packet arriving with <= 1 is handed to the kernel
 * untouched (decapsulated first on the uplink) so that it sends the ICMP
 * error. Otherwise the fast path decrements it when it redirects. When the
 * neighbour is unresolved (PASS_NO_NEIGH) a decapsulated packet keeps its TTL
 * (the kernel forwards it and decrements it), while an encapsulated one is
 * decremented here (the kernel only routes the outer header).
 *
 * Outer headers we emit: IPv4 IHL 5, ID 0 with DF (an atomic datagram,
 * RFC 6864), TTL 64, UDP source and destination port 2152 (a fixed source
 * port: no per-flow entropy for the peer's RSS yet), UDP checksum 0.
 *
 * Rule selection. Uplink: the first rule (the control plane sorts by
 * precedence) whose QFI (MATCH_QFI; no PDU Session Container = no match) and
 * UE source (MATCH_UE_V4 address, MATCH_UE_V6 /64) match. If none matches and
 * at least one rule failed only on the UE source: DROP_SPOOFED_SRC, else
 * DROP_NO_PDR_MATCH. Downlink: the first rule without an SDF filter. A
 * downlink pdr_set with count 0 is DROP_UNKNOWN_UE (an address the control
 * plane keeps as a UE's with no PDR); an address in no map is PASS_NOT_UPF.
 * A matched packet is counted in pdr_stats before its FAR is applied, so
 * FAR DROP/BUFF/NOCP and closed gates show up in the PDR's counters too.
 *
 * Not checked here: the outer IPv4 header checksum, IPv6 extension headers
 * (an N6 IPv6 packet is matched on its destination whatever follows).
 *
 * Cost (this VM, BPF_PROG_TEST_RUN): a hash lookup that hits is ~30 ns, an
 * array or per-CPU array lookup ~1 ns, bpf_xdp_adjust_head ~10 ns,
 * bpf_redirect ~9 ns. Hence the per-CPU memos (maps.h, nexthop.h) in front of
 * local_addrs and nh_cache, and the uplink_by_teid array in front of the
 * uplink_pdrs hash: an uplink on a TEID we allocated pays no hash lookup when
 * the memos hit, the downlink one (downlink_pdrs_v4/v6).
 */
#ifndef UPF_CORE_H
#define UPF_CORE_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "upf_shared.h"
#include "maps.h"
#include "counters.h"
#include "nexthop.h"
#include "parse/eth.h"
#include "parse/ipv4.h"
#include "parse/ipv6.h"
#include "parse/udp.h"
#include "parse/gtpu.h"

#define UPF_OUTER_V4_LEN (sizeof(struct iphdr) + sizeof(struct udphdr) + sizeof(struct gtpu_hdr))
#define UPF_OUTER_V4_QFI_LEN \
	(UPF_OUTER_V4_LEN + sizeof(struct gtpu_opt) + sizeof(struct gtpu_pdu_session))
#define UPF_OUTER_TTL 64

/* The received frame's MAC addresses, kept for packets handed to the kernel. */
struct upf_macs {
	__u8 dst[6];
	__u8 src[6];
};

/* What the uplink keeps of the inner packet across bpf_xdp_adjust_head(). */
struct upf_inner {
	__be32 src[4];
	__be32 dst[4];
	__u32 family;		/* AF_INET or AF_INET6 */
	__u32 len;		/* inner IP packet length */
	__u8 ttl;		/* TTL or hop limit */
};

static __always_inline void upf_save_macs(struct upf_macs *m, const struct ethhdr *eth)
{
	__builtin_memcpy(m->dst, eth->h_dest, 6);
	__builtin_memcpy(m->src, eth->h_source, 6);
}

static __always_inline void upf_write_eth(struct ethhdr *eth, const __u8 *dst, const __u8 *src,
					  __u32 family)
{
	__builtin_memcpy(eth->h_dest, dst, 6);
	__builtin_memcpy(eth->h_source, src, 6);
	eth->h_proto = family == AF_INET ? bpf_htons(ETH_P_IP) : bpf_htons(ETH_P_IPV6);
}

static __always_inline void upf_count_pdr(__u32 pdr_slot, __u32 bytes)
{
	struct counter *c = bpf_map_lookup_elem(&pdr_stats, &pdr_slot);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/*
 * The FAR (and QER gate) of a matched rule. Returns 0 and *out when the
 * packet is to be forwarded, else the reason to drop it.
 * Apply action precedence: DROP, then FORW, then BUFF, then NOCP.
 */
static __always_inline int upf_far_check(const struct pdr_rule *r, int uplink, struct far **out)
{
	__u32 slot = r->far_slot;
	struct far *far = bpf_map_lookup_elem(&fars, &slot);
	__u16 action;

	if (!far || !far->action)
		return UPF_DROP_NO_FAR;
	action = far->action;
	if (action & UPF_ACTION_DROP)
		return UPF_DROP_FAR_DROP;
	if (!(action & UPF_ACTION_FORW)) {
		if (action & UPF_ACTION_BUFF)
			return UPF_DROP_FAR_BUFF;
		if (action & UPF_ACTION_NOCP)
			return UPF_DROP_FAR_NOCP;
		return UPF_DROP_UNSUPPORTED;
	}
	if (r->qer_slot) {
		__u32 qslot = r->qer_slot;
		struct qer *q = bpf_map_lookup_elem(&qers, &qslot);

		if (q && (uplink ? q->gate_ul : q->gate_dl))
			return UPF_DROP_GATE_CLOSED;
	}
	*out = far;
	return 0;
}

/* Decrement the TTL / hop limit of the IP packet at l3 (bounds-checked by the caller). */
static __always_inline int upf_dec_ttl(void *l3, void *end, __u32 family)
{
	if (family == AF_INET) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end)
			return -1;
		ipv4_dec_ttl(ip);
	} else {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end)
			return -1;
		ip6->hop_limit--;
	}
	return 0;
}

/*
 * Write Eth / IPv4 / UDP / GTP-U [+ PDU Session Container] in front of an
 * inner packet of inner_len bytes; the head has already been moved so that
 * the frame starts exactly where the new Ethernet header goes. Decrements the
 * inner TTL. Returns 0 or a reason.
 */
static __always_inline int upf_fill_encap(struct xdp_md *ctx, const struct far *far,
					  __u32 inner_len, __u32 family, int with_qfi,
					  __u8 pdu_type, __u8 qfi, const __u8 *dmac, const __u8 *smac)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	struct gtpu_hdr *gh = (void *)(udp + 1);
	__u32 gtp_extra = with_qfi ? sizeof(struct gtpu_opt) + sizeof(struct gtpu_pdu_session) : 0;
	void *inner;

	if ((void *)(gh + 1) > end)
		return UPF_DROP_MALFORMED;

	upf_write_eth(eth, dmac, smac, AF_INET);

	*(__u8 *)ip = 0x45;	/* version 4, IHL 5 */
	ip->tos = far->tos;
	ip->tot_len = bpf_htons(UPF_OUTER_V4_LEN + gtp_extra + inner_len);
	ip->id = 0;
	ip->frag_off = bpf_htons(IPV4_DF);
	ip->ttl = UPF_OUTER_TTL;
	ip->protocol = IPPROTO_UDP;
	ip->check = 0;
	ip->saddr = far->local_v4;
	ip->daddr = far->peer_v4;
	ip->check = ipv4_csum20(ip);

	udp->source = bpf_htons(UPF_GTPU_PORT);
	udp->dest = bpf_htons(UPF_GTPU_PORT);
	udp->len = bpf_htons(sizeof(*udp) + sizeof(*gh) + gtp_extra + inner_len);
	udp->check = 0;

	gh->type = GTPU_G_PDU;
	gh->length = bpf_htons(gtp_extra + inner_len);
	gh->teid = far->teid;
	if (with_qfi) {
		struct gtpu_opt *o = (void *)(gh + 1);
		struct gtpu_pdu_session *ps = (void *)(o + 1);

		if ((void *)(ps + 1) > end)
			return UPF_DROP_MALFORMED;
		gh->flags = GTPU_VERSION_PT | GTPU_FLAG_E;
		o->seq = 0;
		o->npdu = 0;
		o->next_ext = GTPU_EXT_PDU_SESSION;
		ps->len = 1;
		ps->pdu_type = pdu_type << 4;
		ps->qfi = qfi & 0x3f;
		ps->next_ext = 0;
		inner = ps + 1;
	} else {
		gh->flags = GTPU_VERSION_PT;
		inner = gh + 1;
	}
	if (upf_dec_ttl(inner, end, family))
		return UPF_DROP_MALFORMED;
	return 0;
}

/*
 * Uplink to N6: strip outer IPv4/UDP/GTP-U (outer_len bytes after Ethernet),
 * write a fresh Ethernet header and redirect to the next hop of the inner
 * destination. TTL <= 1 or an unresolved neighbour: hand the decapsulated
 * packet to the kernel with the received frame's MACs (TTL untouched).
 */
static __always_inline int upf_decap(struct xdp_md *ctx, __u32 outer_len,
				     const struct upf_inner *in, const struct upf_macs *macs)
{
	struct nh_entry nh;
	struct ethhdr *eth;
	void *data, *end;
	int expired = in->ttl <= 1;
	int nh_rc = UPF_PASS_TTL_EXPIRED;

	if (!expired) {
		nh_rc = upf_nexthop(ctx, in->family, in->dst, &nh);
		if (nh_rc == UPF_DROP_NO_ROUTE)
			return upf_exit(ctx, XDP_DROP, UPF_DROP_NO_ROUTE);
	}
	if (bpf_xdp_adjust_head(ctx, (int)outer_len))
		return upf_exit(ctx, XDP_DROP, UPF_DROP_HEADROOM);
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return upf_exit(ctx, XDP_DROP, UPF_DROP_MALFORMED);
	if (nh_rc != UPF_FWD_UPLINK) {
		upf_write_eth(eth, macs->dst, macs->src, in->family);
		return upf_exit(ctx, XDP_PASS, (enum upf_reason)nh_rc);
	}
	upf_write_eth(eth, nh.dmac, nh.smac, in->family);
	if (upf_dec_ttl(eth + 1, end, in->family))
		return upf_exit(ctx, XDP_DROP, UPF_DROP_MALFORMED);
	return upf_exit(ctx, bpf_redirect(nh.ifindex, 0), UPF_FWD_UPLINK);
}

/*
 * Uplink to N9 (or an I-UPF's N9 to N3): replace the outer headers by a clean
 * G-PDU to far->peer_v4 with TEID far->teid, carrying a PDU Session Container
 * with the received QFI if the received packet had one.
 */
static __always_inline int upf_reencap(struct xdp_md *ctx, __u32 outer_len, const struct far *far,
				       const struct upf_inner *in, const struct gtpu_info *g,
				       const struct upf_macs *macs)
{
	int with_qfi = g->has_qfi;
	__u32 new_len = with_qfi ? UPF_OUTER_V4_QFI_LEN : UPF_OUTER_V4_LEN;
	__u8 pdu_type = far->dst_iface == UPF_IFACE_ACCESS ? PDU_TYPE_DL : PDU_TYPE_UL;
	struct nh_entry nh;
	int nh_rc, rc, fwd;

	if (in->ttl <= 1)
		return upf_decap(ctx, outer_len, in, macs);
	nh_rc = upf_nexthop(ctx, AF_INET, &far->peer_v4, &nh);
	if (nh_rc == UPF_DROP_NO_ROUTE)
		return upf_exit(ctx, XDP_DROP, UPF_DROP_NO_ROUTE);
	if (bpf_xdp_adjust_head(ctx, (int)outer_len - (int)new_len))
		return upf_exit(ctx, XDP_DROP, UPF_DROP_HEADROOM);
	fwd = nh_rc == UPF_FWD_UPLINK;
	rc = upf_fill_encap(ctx, far, in->len, in->family, with_qfi, pdu_type, g->qfi,
			    fwd ? nh.dmac : macs->dst, fwd ? nh.smac : macs->src);
	if (rc)
		return upf_exit(ctx, upf_verdict_of(rc), rc);
	if (!fwd)
		return upf_exit(ctx, XDP_PASS, UPF_PASS_NO_NEIGH);
	return upf_exit(ctx, bpf_redirect(nh.ifindex, 0), UPF_FWD_UPLINK_N9);
}

/*
 * GTP-U Echo Request -> Echo Response (TS 29.281 7.2.2): swap MACs, IPs and
 * ports, keep the sequence number, carry a Recovery IE (restart counter 0),
 * drop anything else the request carried; send it back with XDP_TX.
 */
static __always_inline int upf_echo(struct xdp_md *ctx, __u32 ip_hlen, const struct gtpu_info *g)
{
	__u32 resp_gtp = sizeof(struct gtpu_hdr) + sizeof(struct gtpu_opt) + 2;
	__u32 new_len = sizeof(struct ethhdr) + ip_hlen + sizeof(struct udphdr) + resp_gtp;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth;
	struct iphdr *ip;
	struct udphdr *udp;
	struct gtpu_hdr *gh;
	struct gtpu_opt *o;
	__u8 *ie, mac[6];
	__be16 seq = 0, port, old;
	__be32 addr;

	if (g->hdr->flags & GTPU_FLAGS_OPT) {
		o = (void *)(g->hdr + 1);
		if ((void *)(o + 1) > end)
			return upf_exit(ctx, XDP_DROP, UPF_DROP_MALFORMED);
		if (g->hdr->flags & GTPU_FLAG_S)
			seq = o->seq;
	}
	if (bpf_xdp_adjust_tail(ctx, (int)new_len - (int)(end - data)))
		return upf_exit(ctx, XDP_DROP, UPF_DROP_HEADROOM);

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip_hlen > 60)
		return upf_exit(ctx, XDP_DROP, UPF_DROP_MALFORMED);
	udp = (void *)ip + ip_hlen;
	gh = (void *)(udp + 1);
	o = (void *)(gh + 1);
	ie = (void *)(o + 1);
	if ((void *)(ie + 2) > end)
		return upf_exit(ctx, XDP_DROP, UPF_DROP_MALFORMED);

	__builtin_memcpy(mac, eth->h_dest, 6);
	__builtin_memcpy(eth->h_dest, eth->h_source, 6);
	__builtin_memcpy(eth->h_source, mac, 6);

	addr = ip->saddr;	/* swapping addresses leaves the checksum as it is */
	ip->saddr = ip->daddr;
	ip->daddr = addr;
	old = ip->tot_len;
	ip->tot_len = bpf_htons(ip_hlen + sizeof(*udp) + resp_gtp);
	csum_replace2(&ip->check, old, ip->tot_len);
	old = *(__u16 *)&ip->ttl;
	ip->ttl = UPF_OUTER_TTL;
	csum_replace2(&ip->check, old, *(__u16 *)&ip->ttl);

	port = udp->source;
	udp->source = udp->dest;
	udp->dest = port;
	udp->len = bpf_htons(sizeof(*udp) + resp_gtp);
	udp->check = 0;

	gh->flags = GTPU_VERSION_PT | GTPU_FLAG_S;
	gh->type = GTPU_ECHO_RESPONSE;
	gh->length = bpf_htons(resp_gtp - sizeof(*gh));
	gh->teid = 0;
	o->seq = seq;
	o->npdu = 0;
	o->next_ext = 0;
	ie[0] = GTPU_IE_RECOVERY;
	ie[1] = 0;
	return upf_exit(ctx, XDP_TX, UPF_TX_ECHO_RESPONSE);
}

/* Read the inner packet of a G-PDU at the cursor. Returns 0 or a reason. */
static __always_inline int upf_parse_inner(struct cursor *c, const struct gtpu_info *g,
					   struct upf_inner *in)
{
	__u8 *p = c->pos;

	if ((void *)(p + 1) > c->end)
		return UPF_DROP_MALFORMED;
	if ((p[0] >> 4) == 4) {
		struct iphdr *ip = c->pos;

		if ((void *)(ip + 1) > c->end)
			return UPF_DROP_MALFORMED;
		in->family = AF_INET;
		in->len = bpf_ntohs(ip->tot_len);
		in->ttl = ip->ttl;
		in->src[0] = ip->saddr;
		in->dst[0] = ip->daddr;
		if (in->len < sizeof(*ip))
			return UPF_DROP_BAD_LENGTH;
	} else if ((p[0] >> 4) == 6) {
		struct ipv6hdr *ip6 = c->pos;

		if ((void *)(ip6 + 1) > c->end)
			return UPF_DROP_MALFORMED;
		in->family = AF_INET6;
		in->len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		in->ttl = ip6->hop_limit;
		__builtin_memcpy(in->src, &ip6->saddr, 16);
		__builtin_memcpy(in->dst, &ip6->daddr, 16);
	} else {
		return UPF_DROP_UNSUPPORTED;	/* Ethernet / unstructured PDU sessions */
	}
	if (in->len > g->payload_len)
		return UPF_DROP_BAD_LENGTH;
	return 0;
}

/*
 * Pick the uplink rule: the first (highest precedence) rule whose QFI and UE
 * source match. No match: DROP_SPOOFED_SRC if some rule failed only on the UE
 * source address, else DROP_NO_PDR_MATCH.
 */
static __always_inline int upf_match_uplink(struct pdr_set *set, const struct gtpu_info *g,
					    const struct upf_inner *in, struct pdr_rule **out)
{
	__u32 count = set->count;
	int spoofed = 0;

#pragma clang loop unroll(full)
	for (int i = 0; i < UPF_RULES_PER_KEY; i++) {
		struct pdr_rule *r = &set->rules[i];
		__u8 flags = r->flags;

		if ((__u32)i >= count)
			break;
		if ((flags & UPF_PDR_MATCH_QFI) && (!g->has_qfi || r->qfi != g->qfi))
			continue;
		if (flags & (UPF_PDR_MATCH_UE_V4 | UPF_PDR_MATCH_UE_V6)) {
			int ok;

			if (in->family == AF_INET) {
				ok = (flags & UPF_PDR_MATCH_UE_V4) && r->ue_v4 == in->src[0];
			} else {
				__u32 p0, p1;

				__builtin_memcpy(&p0, &r->ue_v6[0], 4);
				__builtin_memcpy(&p1, &r->ue_v6[4], 4);
				ok = (flags & UPF_PDR_MATCH_UE_V6) && p0 == in->src[0] &&
				     p1 == in->src[1];
			}
			if (!ok) {
				spoofed = 1;
				continue;
			}
		}
		*out = r;
		return 0;
	}
	return spoofed ? UPF_DROP_SPOOFED_SRC : UPF_DROP_NO_PDR_MATCH;
}

/*
 * The uplink pdr_set of a TEID: uplink_by_teid[index] when that slot holds
 * exactly this TEID (a TEID we allocated, upf_shared.h), else uplink_pdrs.
 * Index 0 is never used, so TEID 0 and <gen, 0> always go to the hash.
 */
static __always_inline struct pdr_set *upf_uplink_set(__be32 teid)
{
	__u32 idx = bpf_ntohl(teid) & ((1u << UPF_TEID_INDEX_BITS) - 1);
	struct teid_key tk = { .teid = teid };
	struct pdr_set *set;

	if (idx) {
		set = bpf_map_lookup_elem(&uplink_by_teid, &idx);
		if (set && set->count && set->teid == teid)
			return set;
	}
	return bpf_map_lookup_elem(&uplink_pdrs, &tk);
}

/* N3/N9 ingress: a GTP-U packet to one of our addresses; cursor on the GTP-U header. */
static __always_inline int upf_uplink(struct xdp_md *ctx, struct cursor *c, struct ethhdr *eth,
				      __u32 ip_hlen, __u32 udp_payload)
{
	struct upf_inner in = {};
	struct upf_macs macs;
	struct gtpu_info g;
	struct pdr_set *set;
	struct pdr_rule *rule = 0;
	struct far *far = 0;
	__u32 outer_len;
	int rc;

	rc = parse_gtpu(c, &g, udp_payload);
	if (rc < 0)
		return upf_exit_reason(ctx, rc);
	if (rc == GTPU_ECHO_REQUEST)
		return upf_echo(ctx, ip_hlen, &g);
	if (rc != GTPU_G_PDU)
		return upf_exit(ctx, XDP_PASS, UPF_PASS_GTPU_SIGNALLING);

	rc = upf_parse_inner(c, &g, &in);
	if (rc)
		return upf_exit(ctx, upf_verdict_of(rc), rc);

	set = upf_uplink_set(g.hdr->teid);
	if (!set)
		return upf_exit(ctx, XDP_DROP, UPF_DROP_UNKNOWN_TEID);
	rc = upf_match_uplink(set, &g, &in, &rule);
	if (rc || !rule)
		return upf_exit(ctx, XDP_DROP, rc ? rc : UPF_DROP_NO_PDR_MATCH);
	upf_count_pdr(rule->pdr_slot, in.len);

	rc = upf_far_check(rule, 1, &far);
	if (rc || !far)
		return upf_exit(ctx, XDP_DROP, rc ? rc : UPF_DROP_NO_FAR);

	upf_save_macs(&macs, eth);
	outer_len = ip_hlen + sizeof(struct udphdr) + g.hdr_len;
	if (far->encap == UPF_ENCAP_NONE) {
		if (rule->ohr != UPF_OHR_GTPU_UDP_IPV4 && rule->ohr != UPF_OHR_GTPU_UDP_IP)
			return upf_exit(ctx, XDP_DROP, UPF_DROP_UNSUPPORTED);
		return upf_decap(ctx, outer_len, &in, &macs);
	}
	if (far->encap == UPF_ENCAP_GTPU_IPV4)
		return upf_reencap(ctx, outer_len, far, &in, &g, &macs);
	return upf_exit(ctx, XDP_DROP, UPF_DROP_UNSUPPORTED);
}

/*
 * N6 ingress: an IP packet to a UE. set: its pdr_set. A set with count 0 is
 * DROP_UNKNOWN_UE (the control plane may keep a UE address known while it
 * has no PDR). The first rule without an SDF filter wins (SDF filters are
 * not in the fast path yet: rules with sdf_id != 0 are skipped).
 */
static __always_inline int upf_downlink(struct xdp_md *ctx, struct ethhdr *eth,
					struct pdr_set *set, __u32 family, void *l3,
					__u32 inner_len)
{
	struct pdr_rule *rule = 0;
	struct far *far = 0;
	struct upf_macs macs;
	struct nh_entry nh;
	__u32 count = set->count;
	int rc, nh_rc, with_qfi, fwd;
	__u8 ttl, qfi;

	if (!count)
		return upf_exit(ctx, XDP_DROP, UPF_DROP_UNKNOWN_UE);
	for (int i = 0; i < UPF_RULES_PER_KEY; i++) {
		if ((__u32)i < count && set->rules[i].sdf_id == 0) {
			rule = &set->rules[i];
			break;
		}
	}
	if (!rule)
		return upf_exit(ctx, XDP_DROP, UPF_DROP_NO_PDR_MATCH);
	upf_count_pdr(rule->pdr_slot, inner_len);

	rc = upf_far_check(rule, 0, &far);
	if (rc || !far)
		return upf_exit(ctx, XDP_DROP, rc ? rc : UPF_DROP_NO_FAR);
	if (far->encap != UPF_ENCAP_GTPU_IPV4)
		return upf_exit(ctx, XDP_DROP, UPF_DROP_UNSUPPORTED);

	ttl = family == AF_INET ? ((struct iphdr *)l3)->ttl : ((struct ipv6hdr *)l3)->hop_limit;
	if (ttl <= 1)
		return upf_exit(ctx, XDP_PASS, UPF_PASS_TTL_EXPIRED);

	upf_save_macs(&macs, eth);
	nh_rc = upf_nexthop(ctx, AF_INET, &far->peer_v4, &nh);
	if (nh_rc == UPF_DROP_NO_ROUTE)
		return upf_exit(ctx, XDP_DROP, UPF_DROP_NO_ROUTE);

	with_qfi = (rule->flags & UPF_PDR_SET_QFI) != 0;
	qfi = rule->qfi;
	if (bpf_xdp_adjust_head(ctx, with_qfi ? -(int)UPF_OUTER_V4_QFI_LEN : -(int)UPF_OUTER_V4_LEN))
		return upf_exit(ctx, XDP_DROP, UPF_DROP_HEADROOM);
	fwd = nh_rc == UPF_FWD_UPLINK;
	rc = upf_fill_encap(ctx, far, inner_len, family, with_qfi, PDU_TYPE_DL, qfi,
			    fwd ? nh.dmac : macs.dst, fwd ? nh.smac : macs.src);
	if (rc)
		return upf_exit(ctx, upf_verdict_of(rc), rc);
	if (!fwd)
		return upf_exit(ctx, XDP_PASS, UPF_PASS_NO_NEIGH);
	return upf_exit(ctx, bpf_redirect(nh.ifindex, 0), UPF_FWD_DOWNLINK);
}

static __always_inline int upf_ipv4(struct xdp_md *ctx, struct cursor *c, struct ethhdr *eth)
{
	struct ue_v4_key uk;
	struct pdr_set *set;
	struct iphdr *ip;
	__u32 ip_payload, ip_hlen;
	int rc;

	rc = parse_ipv4(c, &ip, &ip_payload);
	if (rc < 0)
		return upf_exit_reason(ctx, rc);
	ip_hlen = ip->ihl * 4;
	if (rc == IPPROTO_UDP) {
		if (ipv4_is_fragment(ip)) {
			if (upf_is_local(ip->daddr))
				return upf_exit(ctx, XDP_DROP, UPF_DROP_FRAGMENT);
		} else {
			struct udphdr *udp;
			__u32 udp_payload;

			rc = parse_udp(c, &udp, ip_payload, &udp_payload);
			if (rc < 0)
				return upf_exit_reason(ctx, rc);
			if (rc == UPF_GTPU_PORT && upf_is_local(ip->daddr))
				return upf_uplink(ctx, c, eth, ip_hlen, udp_payload);
		}
	}
	uk.addr = ip->daddr;
	set = bpf_map_lookup_elem(&downlink_pdrs_v4, &uk);
	if (!set)
		return upf_exit(ctx, XDP_PASS, UPF_PASS_NOT_UPF);
	return upf_downlink(ctx, eth, set, AF_INET, ip, ip_payload + ip_hlen);
}

static __always_inline int upf_ipv6(struct xdp_md *ctx, struct cursor *c, struct ethhdr *eth)
{
	struct ue_v6_key uk;
	struct ipv6hdr *ip6;
	struct pdr_set *set;
	__u32 plen;
	int rc;

	rc = parse_ipv6(c, &ip6, &plen);
	if (rc < 0)
		return upf_exit_reason(ctx, rc);
	/* There is no IPv6 local_addrs: a UE prefix match decides first. */
	__builtin_memcpy(uk.prefix, &ip6->daddr, 8);
	set = bpf_map_lookup_elem(&downlink_pdrs_v6, &uk);
	if (set)
		return upf_downlink(ctx, eth, set, AF_INET6, ip6, plen + sizeof(*ip6));
	if (rc == IPPROTO_UDP) {
		struct udphdr *udp = c->pos;

		/* GTP-U over an IPv6 transport is left to the kernel. */
		if ((void *)(udp + 1) <= c->end && udp->dest == bpf_htons(UPF_GTPU_PORT))
			return upf_exit(ctx, XDP_PASS, UPF_PASS_OUTER_IPV6);
	}
	return upf_exit(ctx, XDP_PASS, UPF_PASS_NOT_UPF);
}

/* The whole fast path: every return is counted by upf_exit(). */
static __always_inline int upf_process(struct xdp_md *ctx)
{
	struct cursor c;
	struct ethhdr *eth;
	int proto;

	cursor_init(&c, ctx);
	proto = parse_eth(&c, &eth);
	if (proto < 0)
		return upf_exit_reason(ctx, proto);
	if (proto == ETH_P_IP)
		return upf_ipv4(ctx, &c, eth);
	if (proto == ETH_P_IPV6)
		return upf_ipv6(ctx, &c, eth);
	return upf_exit(ctx, XDP_PASS, UPF_PASS_NOT_IP);
}

#endif /* UPF_CORE_H */
