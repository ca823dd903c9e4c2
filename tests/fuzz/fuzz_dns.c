/* libFuzzer target for the DNS proxy's parser (netpolicy/dns-wire.c): the input is read as a
 * client's query, then as an upstream's answer to the question it carries, rebuilt for UDP and
 * TCP clients. Build and run: make fuzz && build-fuzz/fuzz/fuzz_dns -max_total_time=60 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netpolicy/dns.h"

static int check_allow(void *ud, size_t rule, int family, const void *addr, uint32_t ttl)
{
	const struct rb_net_dns_rules *rules = ud;

	(void)rule;
	if ((family != AF_INET && family != AF_INET6) || ttl < 30 || ttl > 600 ||
	    rb_net_dns_rules_addr_blocked(rules, family, addr))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rb_net_dns_rules *rules;
	static uint8_t out[65535], again_out[65535];
	struct rb_net_dns_query q;
	size_t rule, off = 12;
	int r;

	if (!rules) {
		static const char *const dom[] = {"a", "*.a", "*.b.c"};
		static const struct rb_net_dns_cidr cidr = {
		    .family = AF_INET, .addr = {10}, .prefix = 8};
		struct rb_net_dns_policy p = {
		    .domains = dom, .n_domains = 3, .cidrs = &cidr, .n_cidrs = 1};

		if (rb_net_dns_rules_new(&p, &rules, NULL) < 0)
			abort();
	}
	r = rb_net_dns_query_parse(data, size, &q);
	if (r == 0) {
		rb_net_dns_rules_verdict(rules, &q, &rule);
		if (rb_net_dns_error_answer(&q, 5, out, sizeof(out)) == 0)
			abort();
	} else if (r != -EBADMSG) {
		rb_net_dns_header_answer(data, size, 1, out, sizeof(out));
	}

	/* as an answer to the question it holds */
	memset(&q, 0, sizeof(q));
	if (size < 12 || rb_net_dns_name_parse(data, size, &off, &q.qname) < 0 || off + 4 > size)
		return 0;
	q.id = 0x4242;
	q.flags = 0x0100;
	q.qtype = (uint16_t)(data[off] << 8 | data[off + 1]);
	q.qclass = (uint16_t)(data[off + 2] << 8 | data[off + 3]);
	q.edns = data[3] & 1;
	q.udp_size = 512;
	for (int tcp = 0; tcp < 2; tcp++) {
		struct rb_net_dns_rewrite rw = {.q = &q,
						.rules = rules,
						.ttl_floor_s = 30,
						.ttl_ceiling_s = 600,
						.allow_addr = check_allow,
						.sandbox_ud = rules};
		size_t cap = tcp ? sizeof(out) : q.udp_size;
		ssize_t n = rb_net_dns_rewrite_answer(&rw, (uint16_t)(data[0] << 8 | data[1]), data,
						      size, out, cap);

		if (n > (ssize_t)cap)
			abort();
		/* what the proxy sends parses again as an answer to the same question */
		if (n > 0) {
			struct rb_net_dns_rewrite again = rw;

			again.allow_addr = NULL;
			if (rb_net_dns_rewrite_answer(&again, 0x4242, out, (size_t)n, again_out,
						      sizeof(again_out)) < 0 &&
			    !(out[2] & 0x02))
				abort();
		}
	}
	return 0;
}
