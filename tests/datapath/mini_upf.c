/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * mini_upf.c - a stand-in for xdp/upf.c used by the upf.datapath tests:
 * the same map names, key/value types and program name, and a trivial
 * program (count every frame under UPF_PASS_NOT_IP, stamp runtime.nh_gen
 * into the first 4 bytes of the frame, XDP_PASS). Lets the loader, map,
 * ABI and nexthop tests run before, and independently of, the real program.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "upf_shared.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UPF_DEFAULT_SESSIONS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct teid_key);
	__type(value, struct pdr_set);
} uplink_pdrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UPF_DEFAULT_SESSIONS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ue_v4_key);
	__type(value, struct pdr_set);
} downlink_pdrs_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UPF_DEFAULT_SESSIONS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ue_v6_key);
	__type(value, struct pdr_set);
} downlink_pdrs_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UPF_DEFAULT_FARS);
	__type(key, __u32);
	__type(value, struct far);
} fars SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UPF_DEFAULT_QERS);
	__type(key, __u32);
	__type(value, struct qer);
} qers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, UPF_MAX_LOCAL_ADDRS);
	__type(key, struct local_addr_key);
	__type(value, struct local_addr);
} local_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UPF_DEFAULT_PDRS);
	__type(key, __u32);
	__type(value, struct counter);
} pdr_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UPF_MAX_IFACES * UPF_REASON_MAX);
	__type(key, __u32);
	__type(value, struct counter);
} xdp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, UPF_DEFAULT_NEXTHOPS);
	__type(key, struct nh_key);
	__type(value, struct nh_entry);
} nh_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct runtime);
} runtime SEC(".maps");

/*
 * Lists every enum and struct of upf_shared.h so they land in BTF (the types of locals
 * are not emitted) and abigen knows the contract; libbpf skips the section.
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
__attribute__((section(".upf_btf"), used)) struct upf_btf_anchor upf_btf_anchor;

SEC("xdp")
int upf_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	__u32 key = (ctx->ingress_ifindex & (UPF_MAX_IFACES - 1)) * UPF_REASON_MAX + UPF_PASS_NOT_IP;
	struct counter *c = bpf_map_lookup_elem(&xdp_stats, &key);
	struct runtime *rt = bpf_map_lookup_elem(&runtime, &zero);

	if (c) {
		c->packets++;
		c->bytes += data_end - data;
	}
	if (rt && data + 4 <= data_end)
		*(__u32 *)data = rt->nh_gen;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
