/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * maps.h - every map of the UPF fast path, in one place.
 *
 * Names, key and value types are the contract with upf/datapath (Python);
 * max_entries are compile-time defaults the loader resizes before load.
 * Maps the control plane writes and maps the datapath writes are separate:
 * CP = written by the control plane only, DP = written by the datapath.
 * The session hashes are not preallocated: memory follows the sessions in use.
 */
#ifndef UPF_MAPS_H
#define UPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "upf_shared.h"

/* CP: uplink PDRs keyed by a local TEID the UPF did not allocate (N3/N9 ingress). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UPF_DEFAULT_SESSIONS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct teid_key);
	__type(value, struct pdr_set);
} uplink_pdrs SEC(".maps");

/*
 * CP: uplink PDRs of the TEIDs we allocate, by TEID index (upf_shared.h):
 * an array lookup is ~1 ns and inlined where a hash lookup costs ~30 ns.
 * Preallocated (sizeof(struct pdr_set) per slot); slot 0 is never used.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UPF_DEFAULT_SESSIONS);
	__type(key, __u32);
	__type(value, struct pdr_set);
} uplink_by_teid SEC(".maps");

/* CP: downlink PDRs keyed by the UE's IPv4 address (N6 ingress). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UPF_DEFAULT_SESSIONS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ue_v4_key);
	__type(value, struct pdr_set);
} downlink_pdrs_v4 SEC(".maps");

/* CP: downlink PDRs keyed by the UE's IPv6 /64 prefix (N6 ingress). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UPF_DEFAULT_SESSIONS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ue_v6_key);
	__type(value, struct pdr_set);
} downlink_pdrs_v6 SEC(".maps");

/* CP: FARs by far_slot; action 0 marks an empty slot. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UPF_DEFAULT_FARS);
	__type(key, __u32);
	__type(value, struct far);
} fars SEC(".maps");

/* CP: QERs by qer_slot; slot 0 is never used (qer_slot 0 = no QER). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UPF_DEFAULT_QERS);
	__type(key, __u32);
	__type(value, struct qer);
} qers SEC(".maps");

/* CP: our N3/N9 GTP-U endpoint IPv4 addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UPF_MAX_LOCAL_ADDRS);
	__type(key, struct local_addr_key);
	__type(value, struct local_addr);
} local_addrs SEC(".maps");

/* DP: per-PDR packet/byte counters by pdr_slot (bytes = inner IP length). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UPF_DEFAULT_PDRS);
	__type(key, __u32);
	__type(value, struct counter);
} pdr_stats SEC(".maps");

/* DP: every verdict, by (ingress ifindex & (UPF_MAX_IFACES-1)) * UPF_REASON_MAX + reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UPF_MAX_IFACES * UPF_REASON_MAX);
	__type(key, __u32);
	__type(value, struct counter);
} xdp_stats SEC(".maps");

/* DP: FIB results cached by destination; valid while gen == runtime.nh_gen. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, UPF_DEFAULT_NEXTHOPS);
	__type(key, struct nh_key);
	__type(value, struct nh_entry);
} nh_cache SEC(".maps");

/* CP: one slot of runtime settings (nh_gen, bumped on route/neighbour changes). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct runtime);
} runtime SEC(".maps");

/*
 * Datapath-private: per-CPU direct-mapped memos in front of the two costliest
 * lookups (a hash lookup that hits costs ~30 ns here, an array one ~1 ns).
 * An entry is trusted only under the runtime.nh_gen it was made in, so a bump
 * of nh_gen empties them on every CPU at once. Slot = a multiplicative hash
 * of the address; a collision just costs the real lookup.
 */
#define UPF_LOCAL_MEMO_SLOTS 16
#define UPF_NH_MEMO_SLOTS 1024

struct upf_local_memo {
	__be32 addr;		/* a GTP-U destination found in local_addrs */
	__u32 gen;		/* nh_gen when it was found */
	__u32 valid;		/* 0 until filled */
};

struct upf_nh_memo {
	struct nh_key key;	/* next-hop key (family 0 = empty) */
	struct nh_entry nh;	/* its result; nh.gen = nh_gen when resolved */
};

/* DP: per CPU, recently seen local GTP-U addresses (a front for local_addrs). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UPF_LOCAL_MEMO_SLOTS);
	__type(key, __u32);
	__type(value, struct upf_local_memo);
} upf_local_memo SEC(".maps");

/* DP: per CPU, recently used next hops (a front for nh_cache). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UPF_NH_MEMO_SLOTS);
	__type(key, __u32);
	__type(value, struct upf_nh_memo);
} upf_nh_memo SEC(".maps");

/*
 * Not a map the program uses: a read-only global whose type mentions every
 * enum and struct of upf_shared.h, so that all of them land in the object's
 * BTF (the Python mirror upf/datapath/abi.py is generated from it). libbpf
 * turns it into the internal map "upf.rodata".
 */
struct upf_btf_anchor {
	enum upf_limits limits;
	enum upf_reason reason;
	enum upf_apply_action action;
	enum upf_ohr ohr;
	enum upf_encap encap;
	enum upf_iface iface;
	enum upf_pdr_flags pdr_flags;
	struct pdr_rule pdr_rule;
	struct pdr_set pdr_set;
	struct teid_key teid_key;
	struct ue_v4_key ue_v4_key;
	struct ue_v6_key ue_v6_key;
	struct far far;
	struct qer qer;
	struct local_addr_key local_addr_key;
	struct local_addr local_addr;
	struct counter counter;
	struct nh_key nh_key;
	struct nh_entry nh_entry;
	struct runtime runtime;
};

const volatile struct upf_btf_anchor upf_btf_anchor SEC(".rodata") = {};

#endif /* UPF_MAPS_H */
