/* netfilter.h - the port and CIDR include/exclude matcher in user space.
 *
 * Owns: CIDR parsing ("10.0.0.0/8", "fd00::/8", a bare address = a host)
 * and the match of a flow's two ends against a filter: a flow passes when
 * (no ports or either port listed) and (no nets or either end in a net)
 * and (no end in an excluded net).  The same rule as the BPF side's maps
 * (bpf/capture.bpf.h), which this does not touch; capture's options and
 * the export filters (--export-port/-net/-exclude-net) parse with it.
 * Fixed arrays, no allocation.
 */
#ifndef TAPIR_NETFILTER_H
#define TAPIR_NETFILTER_H

#include <stdbool.h>
#include <stdint.h>

#define NETFILTER_MAX 64

struct cidr {
	uint8_t family;		/* 4 or 6 */
	uint8_t plen;
	uint8_t addr[16];	/* host bits cleared */
};

struct netfilter {
	uint16_t ports[NETFILTER_MAX];
	struct cidr nets[NETFILTER_MAX], xnets[NETFILTER_MAX];
	int nports, nnets, nxnets;
};

/* 0 or -EINVAL. */
int cidr_parse(const char *s, struct cidr *c);
bool cidr_match(const struct cidr *c, uint8_t family, const uint8_t *a);
bool cidr_in_list(const struct cidr *l, int n, uint8_t family,
		  const uint8_t *a);

/* Adders: 0, -EINVAL (bad value) or -ENOSPC (NETFILTER_MAX reached). */
int netfilter_add_port(struct netfilter *f, const char *s);
int netfilter_add_net(struct netfilter *f, const char *s, bool exclude);
bool netfilter_empty(const struct netfilter *f);
bool netfilter_match(const struct netfilter *f, uint8_t family,
		     const uint8_t *src, const uint8_t *dst,
		     uint16_t sport, uint16_t dport);

#endif
