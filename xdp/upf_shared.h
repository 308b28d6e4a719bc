/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * upf_shared.h - the one definition of everything the XDP fast path and the
 * Python control plane share: map keys and values, enums and size defaults.
 *
 * The Python mirror (upf/datapath/abi.py) is generated from the compiled
 * object's BTF by `python -m upf.datapath.abigen`; a test regenerates it and
 * fails on any difference. Never edit the mirror by hand.
 *
 * Rules for this file:
 *  - fixed-width types only, explicit padding, a _Static_assert per struct;
 *  - __be32 / __be16 for fields held in network byte order;
 *  - every enum is named and typedef-free so BTF keeps its name.
 */
#ifndef UPF_SHARED_H
#define UPF_SHARED_H

#include <linux/types.h>

/* ---- Size defaults: compile-time; the loader resizes maps at load time. ---- */
enum upf_limits {
	UPF_DEFAULT_SESSIONS = 100000,
	UPF_DEFAULT_PDRS = 400000,	/* PDR slots (counters); 4 per session */
	UPF_DEFAULT_FARS = 400000,	/* FAR slots */
	UPF_DEFAULT_QERS = 200000,	/* QER slots */
	UPF_DEFAULT_NEXTHOPS = 65536,	/* next-hop cache entries (LRU) */
	UPF_MAX_LOCAL_ADDRS = 64,	/* our N3/N9 GTP-U endpoint addresses */
	UPF_MAX_IFACES = 256,		/* stats slots: ingress ifindex & (MAX-1) */
	UPF_RULES_PER_KEY = 4,		/* PDRs sharing one TEID or one UE address */
	UPF_GTPU_PORT = 2152,
	UPF_MAX_GTPU_EXT_HDRS = 4,	/* extension headers walked per packet */
	UPF_TEID_INDEX_BITS = 24,	/* our own TEIDs: generation << 24 | uplink_by_teid index */
};

/*
 * Every verdict the program returns is counted under exactly one reason.
 * The names become the `reason` label of the upf_xdp_packets_total metric.
 * FWD_* redirect or transmit, PASS_* go to the kernel stack, DROP_* drop.
 */
enum upf_reason {
	/* forwarded by XDP */
	UPF_FWD_UPLINK = 0,		/* N3/N9 -> N6, decapsulated */
	UPF_FWD_UPLINK_N9,		/* N3/N9 -> N9, re-encapsulated */
	UPF_FWD_DOWNLINK,		/* N6 -> N3, encapsulated */
	UPF_TX_ECHO_RESPONSE,		/* GTP-U Echo Request answered */
	/* handed to the kernel stack, counted */
	UPF_PASS_NOT_IP,		/* ARP, LLDP, ... */
	UPF_PASS_NOT_UPF,		/* IP traffic that is neither GTP-U to us nor to a UE */
	UPF_PASS_GTPU_SIGNALLING,	/* Error Indication, End Marker, Echo Response, unknown types */
	UPF_PASS_TTL_EXPIRED,		/* inner TTL/hop limit <= 1: kernel sends ICMP */
	UPF_PASS_NO_NEIGH,		/* next hop unresolved: the kernel resolves it */
	UPF_PASS_OUTER_IPV6,		/* GTP-U over IPv6 transport is not in the fast path */
	/* dropped */
	UPF_DROP_MALFORMED,		/* truncated header at some layer */
	UPF_DROP_BAD_LENGTH,		/* an IP/UDP/GTP-U length field that lies */
	UPF_DROP_FRAGMENT,		/* fragmented outer GTP-U packet */
	UPF_DROP_BAD_GTPU,		/* GTP-U version/PT wrong, ext header chain invalid */
	UPF_DROP_UNKNOWN_TEID,		/* no PDR for the TEID */
	UPF_DROP_NO_PDR_MATCH,		/* TEID known, no PDR matched the inner packet */
	UPF_DROP_UNKNOWN_UE,		/* downlink to an address with no PDR */
	UPF_DROP_SPOOFED_SRC,		/* inner source is not the PDR's UE address */
	UPF_DROP_FAR_DROP,		/* FAR says DROP */
	UPF_DROP_FAR_BUFF,		/* FAR says BUFF (buffering not yet in the fast path) */
	UPF_DROP_FAR_NOCP,		/* FAR says NOCP (notify not yet in the fast path) */
	UPF_DROP_NO_FAR,		/* PDR points at an empty FAR slot */
	UPF_DROP_GATE_CLOSED,		/* QER gate status CLOSED */
	UPF_DROP_NO_ROUTE,		/* FIB lookup: unreachable/blackhole/prohibit */
	UPF_DROP_HEADROOM,		/* bpf_xdp_adjust_head/tail failed */
	UPF_DROP_UNSUPPORTED,		/* FAR/OHC combination the fast path does not do */
	UPF_REASON_MAX,
};

/* FAR apply action bits: TS 29.244 8.2.26 (low octet). */
enum upf_apply_action {
	UPF_ACTION_DROP = 1 << 0,
	UPF_ACTION_FORW = 1 << 1,
	UPF_ACTION_BUFF = 1 << 2,
	UPF_ACTION_NOCP = 1 << 3,
	UPF_ACTION_DUPL = 1 << 4,
};

/* Outer Header Removal description: TS 29.244 8.2.64. */
enum upf_ohr {
	UPF_OHR_GTPU_UDP_IPV4 = 0,
	UPF_OHR_GTPU_UDP_IPV6 = 1,
	UPF_OHR_UDP_IPV4 = 2,
	UPF_OHR_UDP_IPV6 = 3,
	UPF_OHR_IPV4 = 4,
	UPF_OHR_IPV6 = 5,
	UPF_OHR_GTPU_UDP_IP = 6,
	UPF_OHR_NONE = 255,
};

/* What the fast path does to the outer header when forwarding (compiled from OHC). */
enum upf_encap {
	UPF_ENCAP_NONE = 0,		/* plain IP out (N6) */
	UPF_ENCAP_GTPU_IPV4 = 1,	/* GTP-U/UDP/IPv4 out (N3, N9) */
};

/* Interface roles, used to pick counters and for sanity checks. */
enum upf_iface {
	UPF_IFACE_ACCESS = 0,		/* N3 */
	UPF_IFACE_CORE = 1,		/* N6 */
	UPF_IFACE_N9 = 2,
};

/* pdr_rule.flags */
enum upf_pdr_flags {
	UPF_PDR_MATCH_UE_V4 = 1 << 0,	/* uplink: inner source must equal ue_v4 (else spoofed) */
	UPF_PDR_MATCH_UE_V6 = 1 << 1,	/* uplink: inner source /64 must equal ue_v6 prefix */
	UPF_PDR_MATCH_QFI = 1 << 2,	/* uplink: PDU Session Container QFI must equal qfi */
	UPF_PDR_SET_QFI = 1 << 3,	/* downlink: add a PDU Session Container with qfi */
};

/*
 * One PDR as the fast path sees it. Several share a TEID (uplink) or a UE
 * address (downlink); the control plane writes them sorted by precedence
 * (highest priority = lowest value first) and the first match wins.
 */
struct pdr_rule {
	__u32 pdr_slot;		/* index into pdr_stats; also the rule's identity */
	__u32 far_slot;		/* index into fars */
	__u32 qer_slot;		/* index into qers; 0 = no QER */
	__u32 precedence;	/* for inspection; order is what matters */
	__u16 pdr_id;		/* PFCP rule ID, for inspection */
	__u8 flags;		/* enum upf_pdr_flags */
	__u8 qfi;		/* match (uplink) or mark (downlink) */
	__u8 ohr;		/* enum upf_ohr */
	__u8 sdf_id;		/* 0 = no SDF filter (room for SDF filters later) */
	__u8 pad[2];
	__be32 ue_v4;
	__u8 ue_v6[8];		/* UE IPv6 /64 prefix */
};
_Static_assert(sizeof(struct pdr_rule) == 36, "pdr_rule size");

struct pdr_set {
	__u32 count;		/* valid rules[] entries, <= UPF_RULES_PER_KEY */
	__be32 teid;		/* uplink_by_teid: the full TEID this slot holds; else 0 */
	struct pdr_rule rules[UPF_RULES_PER_KEY];
};
_Static_assert(sizeof(struct pdr_set) == 8 + 36 * 4, "pdr_set size");

/*
 * Uplink TEIDs. A TEID the UPF allocates itself (F-TEID CHOOSE) is
 *   teid = (generation << UPF_TEID_INDEX_BITS) | index,  1 <= index < 2^24,
 * index < uplink_by_teid's max_entries, generation 0..255 bumped each time
 * the index is reused, and its pdr_set goes to uplink_by_teid[index] with
 * pdr_set.teid = teid (network order) and count > 0. A slot answers a packet
 * only when count > 0 and teid equals the packet's TEID: a stale or foreign
 * TEID never matches it. Index 0 is never used. Any other TEID (allocated by
 * the SMF) goes to the uplink_pdrs hash, which the fast path consults when
 * the array slot does not answer.
 */

/* Key of uplink_pdrs: a local TEID not allocated by the UPF (unique per UPF instance). */
struct teid_key {
	__be32 teid;
};
_Static_assert(sizeof(struct teid_key) == 4, "teid_key size");

/* Key of downlink_pdrs_v4. */
struct ue_v4_key {
	__be32 addr;
};
_Static_assert(sizeof(struct ue_v4_key) == 4, "ue_v4_key size");

/* Key of downlink_pdrs_v6: the UE's /64 prefix. */
struct ue_v6_key {
	__u8 prefix[8];
};
_Static_assert(sizeof(struct ue_v6_key) == 8, "ue_v6_key size");

/* A FAR as the fast path sees it (TS 29.244 7.5.2.3). */
struct far {
	__u16 action;		/* enum upf_apply_action bits; 0 = empty slot */
	__u8 encap;		/* enum upf_encap */
	__u8 tos;		/* outer TOS byte from Transport Level Marking (DSCP << 2) */
	__u8 dst_iface;		/* enum upf_iface */
	__u8 pad[3];
	__be32 teid;		/* outer TEID when encap = GTPU_IPV4 */
	__be32 peer_v4;		/* outer destination (gNB / peer UPF) */
	__be32 local_v4;	/* outer source: our N3/N9 address */
};
_Static_assert(sizeof(struct far) == 20, "far size");

/* A QER as the fast path sees it (TS 29.244 7.5.2.5). */
struct qer {
	__u8 gate_ul;		/* 0 = open, 1 = closed (8.2.7) */
	__u8 gate_dl;
	__u8 qfi;
	__u8 pad;
	__u32 pad2;
	__u64 mbr_ul_kbps;	/* 0 = unlimited (enforcement comes later) */
	__u64 mbr_dl_kbps;
};
_Static_assert(sizeof(struct qer) == 24, "qer size");

/* Our GTP-U endpoint addresses (key of local_addrs). */
struct local_addr_key {
	__be32 addr;
};
_Static_assert(sizeof(struct local_addr_key) == 4, "local_addr_key size");

struct local_addr {
	__u8 iface;		/* enum upf_iface */
	__u8 pad[3];
};
_Static_assert(sizeof(struct local_addr) == 4, "local_addr size");

/* Packet/byte counters: per PDR (pdr_stats) and per interface x reason (xdp_stats). */
struct counter {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct counter) == 16, "counter size");

/* Next-hop cache key: an IPv4 or IPv6 destination (v4 in addr[0], family set). */
struct nh_key {
	__u32 family;		/* AF_INET or AF_INET6 */
	__be32 addr[4];
};
_Static_assert(sizeof(struct nh_key) == 20, "nh_key size");

/*
 * A cached FIB result. Valid only while gen equals runtime.nh_gen: the
 * control plane bumps nh_gen on every route/neighbour/link change it hears
 * over netlink, which invalidates every entry at once.
 */
struct nh_entry {
	__u32 gen;
	__u32 ifindex;
	__u8 smac[6];
	__u8 dmac[6];
};
_Static_assert(sizeof(struct nh_entry) == 20, "nh_entry size");

/* Single-slot array written by the control plane. */
struct runtime {
	__u32 nh_gen;		/* next-hop cache generation */
	__u32 flags;		/* reserved */
};
_Static_assert(sizeof(struct runtime) == 8, "runtime size");

#endif /* UPF_SHARED_H */
