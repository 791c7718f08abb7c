/* test_netfilter.c - CIDR parsing and the port/net/exclude matcher. */
#include <errno.h>

#include "netfilter.h"
#include "tt.h"

static const uint8_t A[16] = { 10, 1, 2, 3 }, B[16] = { 192, 168, 0, 9 };

TT_TEST(cidr_parse_cases)
{
	struct cidr c;
	TT_EQ_INT(cidr_parse("10.1.2.3/8", &c), 0);
	TT_EQ_INT(c.family, 4);
	TT_EQ_INT(c.plen, 8);
	TT_EQ_INT(c.addr[1], 0);	/* host bits cleared */
	TT_EQ_INT(cidr_parse("fd00::1", &c), 0);
	TT_EQ_INT(c.plen, 128);
	TT_EQ_INT(cidr_parse("10.0.0.0/33", &c), -EINVAL);
	TT_EQ_INT(cidr_parse("10.0.0.0/", &c), -EINVAL);
	TT_EQ_INT(cidr_parse("nope", &c), -EINVAL);
	TT_EQ_INT(cidr_parse("::/129", &c), -EINVAL);
}

TT_TEST(match_rules)
{
	struct netfilter f = { 0 };
	TT_CHECK(netfilter_empty(&f));
	TT_CHECK(netfilter_match(&f, 4, A, B, 1, 2));
	TT_EQ_INT(netfilter_add_port(&f, "443"), 0);
	TT_EQ_INT(netfilter_add_port(&f, "0"), -EINVAL);
	TT_EQ_INT(netfilter_add_port(&f, "65536"), -EINVAL);
	TT_CHECK(netfilter_match(&f, 4, A, B, 5000, 443));
	TT_CHECK(netfilter_match(&f, 4, A, B, 443, 5000));
	TT_CHECK(!netfilter_match(&f, 4, A, B, 80, 5000));
	TT_EQ_INT(netfilter_add_net(&f, "192.168.0.0/16", false), 0);
	TT_CHECK(netfilter_match(&f, 4, A, B, 5000, 443));
	TT_CHECK(!netfilter_match(&f, 4, A, A, 5000, 443));
	TT_EQ_INT(netfilter_add_net(&f, "10.1.0.0/16", true), 0);
	TT_CHECK(!netfilter_match(&f, 4, A, B, 5000, 443));	/* excluded */
	TT_CHECK(!netfilter_match(&f, 6, A, B, 5000, 443));	/* family */
	for (int i = 1; i < NETFILTER_MAX; i++)
		TT_EQ_INT(netfilter_add_port(&f, "80"), 0);
	TT_EQ_INT(netfilter_add_port(&f, "80"), -ENOSPC);
}

TT_MAIN()
