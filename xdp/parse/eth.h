/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* eth.h - Ethernet II header (no VLAN tags in the fast path). */
#ifndef UPF_PARSE_ETH_H
#define UPF_PARSE_ETH_H

#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>

#include "parse/cursor.h"

/* Returns the EtherType in host order, or -UPF_DROP_MALFORMED. */
static __always_inline int parse_eth(struct cursor *c, struct ethhdr **out)
{
	struct ethhdr *eth = c->pos;

	if ((void *)(eth + 1) > c->end)
		return -UPF_DROP_MALFORMED;
	c->pos = eth + 1;
	*out = eth;
	return bpf_ntohs(eth->h_proto);
}

#endif /* UPF_PARSE_ETH_H */
