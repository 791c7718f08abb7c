/* netfilter.c - port/CIDR matching (see netfilter.h). */
#include "netfilter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int cidr_parse(const char *s, struct cidr *c)
{
	char a[INET6_ADDRSTRLEN + 8];
	char *slash, *end;
	long plen;

	if (strlen(s) >= sizeof(a))
		return -EINVAL;
	strcpy(a, s);
	slash = strchr(a, '/');
	if (slash)
		*slash = 0;
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, a, c->addr) == 1)
		c->family = 4;
	else if (inet_pton(AF_INET6, a, c->addr) == 1)
		c->family = 6;
	else
		return -EINVAL;
	plen = c->family == 4 ? 32 : 128;
	if (slash) {
		errno = 0;
		plen = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || plen < 0 ||
		    plen > (c->family == 4 ? 32 : 128))
			return -EINVAL;
	}
	c->plen = (uint8_t)plen;
	/* clear host bits: 10.1.2.3/8 means 10.0.0.0/8 */
	for (int i = 0; i < 16; i++) {
		int bits = (int)plen - i * 8;
		if (bits <= 0)
			c->addr[i] = 0;
		else if (bits < 8)
			c->addr[i] &= (uint8_t)(0xff << (8 - bits));
	}
	return 0;
}

bool cidr_match(const struct cidr *c, uint8_t family, const uint8_t *a)
{
	int full = c->plen / 8, rest = c->plen % 8;

	if (c->family != family)
		return false;
	if (memcmp(c->addr, a, (size_t)full))
		return false;
	return !rest || ((a[full] ^ c->addr[full]) & (0xff << (8 - rest))) == 0;
}

bool cidr_in_list(const struct cidr *l, int n, uint8_t family,
		  const uint8_t *a)
{
	for (int i = 0; i < n; i++)
		if (cidr_match(&l[i], family, a))
			return true;
	return false;
}

int netfilter_add_port(struct netfilter *f, const char *s)
{
	uint64_t v;

	if (parse_uint(s, 1, 65535, &v))
		return -EINVAL;
	if (f->nports == NETFILTER_MAX)
		return -ENOSPC;
	f->ports[f->nports++] = (uint16_t)v;
	return 0;
}

int netfilter_add_net(struct netfilter *f, const char *s, bool exclude)
{
	struct cidr c;

	if (cidr_parse(s, &c))
		return -EINVAL;
	if ((exclude ? f->nxnets : f->nnets) == NETFILTER_MAX)
		return -ENOSPC;
	if (exclude)
		f->xnets[f->nxnets++] = c;
	else
		f->nets[f->nnets++] = c;
	return 0;
}

bool netfilter_empty(const struct netfilter *f)
{
	return !f->nports && !f->nnets && !f->nxnets;
}

bool netfilter_match(const struct netfilter *f, uint8_t family,
		     const uint8_t *src, const uint8_t *dst,
		     uint16_t sport, uint16_t dport)
{
	if (f->nports) {
		bool hit = false;

		for (int i = 0; i < f->nports && !hit; i++)
			hit = f->ports[i] == sport || f->ports[i] == dport;
		if (!hit)
			return false;
	}
	if (f->nnets && !cidr_in_list(f->nets, f->nnets, family, src) &&
	    !cidr_in_list(f->nets, f->nnets, family, dst))
		return false;
	if (f->nxnets && (cidr_in_list(f->xnets, f->nxnets, family, src) ||
			  cidr_in_list(f->xnets, f->nxnets, family, dst)))
		return false;
	return true;
}
