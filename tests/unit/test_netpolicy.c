/* netpolicy's logic that needs no kernel: allow entries, the policy object, the address pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "netpolicy/net-internal.h"
#include "netpolicy/netpolicy.h"

static void entry_ok(const char *s, enum rb_net_entry_kind kind, int family, unsigned bits,
		     uint16_t port)
{
	struct rb_net_entry e;
	struct rb_error err;

	if (rb_net_entry_parse(s, &e, &err) < 0)
		fail_msg("%s: %s", s, err.msg);
	assert_int_equal(e.kind, kind);
	if (kind == RB_NET_ENTRY_CIDR) {
		assert_int_equal(e.family, family);
		assert_int_equal(e.bits, bits);
	}
	assert_int_equal(e.port, port);
}

static void entry_bad(const char *s)
{
	struct rb_net_entry e;
	struct rb_error err;

	if (rb_net_entry_parse(s, &e, &err) == 0)
		fail_msg("%s was accepted", s);
	assert_int_equal(err.code, RB_INVALID_CONFIG);
}

static void test_entries(void **state)
{
	entry_ok("1.2.3.4", RB_NET_ENTRY_CIDR, AF_INET, 32, 0);
	entry_ok("1.2.3.4:443", RB_NET_ENTRY_CIDR, AF_INET, 32, 443);
	entry_ok("10.0.0.0/8", RB_NET_ENTRY_CIDR, AF_INET, 8, 0);
	entry_ok("10.0.0.0/8:53", RB_NET_ENTRY_CIDR, AF_INET, 8, 53);
	entry_ok("0.0.0.0/0", RB_NET_ENTRY_CIDR, AF_INET, 0, 0);
	entry_ok("2001:db8::1", RB_NET_ENTRY_CIDR, AF_INET6, 128, 0);
	entry_ok("2001:db8::/32", RB_NET_ENTRY_CIDR, AF_INET6, 32, 0);
	entry_ok("[2001:db8::1]:443", RB_NET_ENTRY_CIDR, AF_INET6, 128, 443);
	entry_ok("[2001:db8::/32]:80", RB_NET_ENTRY_CIDR, AF_INET6, 32, 80);
	entry_ok("example.com", RB_NET_ENTRY_DOMAIN, 0, 0, 0);
	entry_ok("*.Example.com:443", RB_NET_ENTRY_DOMAIN, 0, 0, 443);
	entry_ok("pypi.org:65535", RB_NET_ENTRY_DOMAIN, 0, 0, 65535);

	entry_bad("");
	entry_bad("10.0.0.1/8"); /* host bits set */
	entry_bad("10.0.0.0/33");
	entry_bad("10.0.0.0/");
	entry_bad("10.0.0.0/-1");
	entry_bad("1.2.3.4:0");
	entry_bad("1.2.3.4:65536");
	entry_bad("1.2.3.4:http");
	entry_bad("1.2.3.4:");
	entry_bad("[2001:db8::1");
	entry_bad("[2001:db8::1]x");
	entry_bad("2001:db8::1/129");
	entry_bad("bad..name");
	entry_bad(".example.com");
	entry_bad("example.com.");
	entry_bad("exa mple.com");
	entry_bad("*.");
	entry_bad("a.*.example.com");
	entry_bad("example.com/24");
}

static void test_entry_normalised(void **state)
{
	struct rb_net_entry e;
	struct rb_error err;

	assert_int_equal(rb_net_entry_parse("*.Example.COM", &e, &err), 0);
	assert_string_equal(e.domain, "*.example.com");
	assert_int_equal(rb_net_entry_parse("10.1.0.0/16", &e, &err), 0);
	assert_int_equal(e.addr[0], 10);
	assert_int_equal(e.addr[1], 1);
}

static void test_covers(void **state)
{
	struct rb_net_entry e;
	struct rb_error err;
	uint8_t a[16];

	assert_int_equal(rb_net_entry_parse("10.1.0.0/16:443", &e, &err), 0);
	inet_pton(AF_INET, "10.1.200.3", a);
	assert_true(rb_net_entry_covers(&e, AF_INET, a, 443));
	assert_false(rb_net_entry_covers(&e, AF_INET, a, 80));
	inet_pton(AF_INET, "10.2.0.1", a);
	assert_false(rb_net_entry_covers(&e, AF_INET, a, 443));
	assert_int_equal(rb_net_entry_parse("192.168.0.0/23", &e, &err), 0);
	inet_pton(AF_INET, "192.168.1.255", a);
	assert_true(rb_net_entry_covers(&e, AF_INET, a, 1));
	inet_pton(AF_INET, "192.168.2.0", a);
	assert_false(rb_net_entry_covers(&e, AF_INET, a, 1));
	assert_int_equal(rb_net_entry_parse("fd00::/8", &e, &err), 0);
	inet_pton(AF_INET6, "fd12::1", a);
	assert_true(rb_net_entry_covers(&e, AF_INET6, a, 1));
	assert_false(rb_net_entry_covers(&e, AF_INET, a, 1));
}

static void test_policy(void **state)
{
	cJSON *net = cJSON_Parse("{\"mode\":\"private\",\"egress\":{\"default\":\"deny\","
				 "\"allow\":[\"1.2.3.4:80\",\"*.pypi.org\",\"[::1]:53\"]},"
				 "\"ingress\":{\"allowPorts\":[8080]}}");
	struct rb_net_policy p;
	struct rb_error err;
	cJSON *j;
	char *text;

	assert_int_equal(rb_net_policy_parse(net, RB_NET_NONE, &p, &err), 0);
	assert_int_equal(p.mode, RB_NET_PRIVATE);
	assert_false(p.default_allow);
	assert_int_equal(p.n_allow, 3);
	assert_int_equal(p.n_ports, 1);
	j = rb_net_policy_json(&p);
	text = cJSON_PrintUnformatted(j);
	assert_string_equal(text, "{\"mode\":\"private\",\"egress\":{\"allow\":[\"1.2.3.4:80\","
				  "\"*.pypi.org\",\"[::1]:53\"],\"default\":\"deny\"},"
				  "\"ingress\":{\"allowPorts\":[8080]}}");
	cJSON_free(text);
	cJSON_Delete(j);
	cJSON_Delete(net);

	/* PATCH: egress only */
	net = cJSON_Parse("{\"egress\":{\"allow\":[\"10.0.0.0/8\"]}}");
	assert_int_equal(rb_net_policy_parse_egress(net, &p, &err), 0);
	assert_true(p.default_allow);
	assert_int_equal(p.n_allow, 1);
	assert_int_equal(p.mode, RB_NET_PRIVATE);
	cJSON_Delete(net);
	net = cJSON_Parse("{\"mode\":\"none\"}");
	assert_int_not_equal(rb_net_policy_parse_egress(net, &p, &err), 0);
	cJSON_Delete(net);
	net = cJSON_Parse("{\"egress\":{\"allow\":[\"10.0.0.1/8\"]}}");
	assert_int_not_equal(rb_net_policy_parse_egress(net, &p, &err), 0);
	assert_non_null(strstr(err.msg, "network.egress.allow[0]"));
	assert_int_equal(p.n_allow, 1); /* the old one stays */
	cJSON_Delete(net);
	rb_net_policy_free(&p);

	/* defaults */
	assert_int_equal(rb_net_policy_parse(NULL, RB_NET_PRIVATE, &p, &err), 0);
	assert_int_equal(p.mode, RB_NET_PRIVATE);
	assert_true(p.default_allow);
	rb_net_policy_free(&p);
}

static void policy_bad(const char *json, const char *field)
{
	cJSON *net = cJSON_Parse(json);
	struct rb_net_policy p;
	struct rb_error err;

	if (rb_net_policy_parse(net, RB_NET_NONE, &p, &err) == 0)
		fail_msg("%s was accepted", json);
	assert_int_equal(err.code, RB_INVALID_CONFIG);
	if (!strstr(err.msg, field))
		fail_msg("%s: \"%s\" does not name %s", json, err.msg, field);
	cJSON_Delete(net);
}

static void test_policy_bad(void **state)
{
	policy_bad("[]", "network");
	policy_bad("{\"mode\":\"bridge\"}", "network.mode");
	policy_bad("{\"mode\":1}", "network.mode");
	policy_bad("{\"egress\":[]}", "network.egress");
	policy_bad("{\"egress\":{\"default\":\"maybe\"}}", "network.egress.default");
	policy_bad("{\"egress\":{\"allow\":\"1.2.3.4\"}}", "network.egress.allow");
	policy_bad("{\"egress\":{\"allow\":[1]}}", "network.egress.allow");
	policy_bad("{\"egress\":{\"allow\":[\"ok.com\",\"1.2.3.4:0\"]}}",
		   "network.egress.allow[1]");
	policy_bad("{\"ingress\":{\"allowPorts\":[0]}}", "network.ingress.allowPorts");
	policy_bad("{\"ingress\":{\"allowPorts\":[1.5]}}", "network.ingress.allowPorts");
	policy_bad("{\"ingress\":{\"allowPorts\":[\"80\"]}}", "network.ingress.allowPorts");
}

static void test_pool(void **state)
{
	struct rb_net_config cfg;
	struct rb_net_addrs a;
	struct rb_error err;

	rb_net_config_default(&cfg);
	assert_int_equal(cfg.pool, 0x0a580000u);
	assert_int_equal(cfg.pool_bits, 16);
	assert_int_equal(rb_net_pool_addrs(&cfg, 1, &a, &err), 0);
	assert_int_equal(a.network, 0x0a580004u);
	assert_int_equal(a.gateway, 0x0a580005u);
	assert_int_equal(a.address, 0x0a580006u);
	assert_int_equal(a.bits, 30);
	assert_int_equal(rb_net_pool_addrs(&cfg, 16383, &a, &err), 0);
	assert_int_equal(a.address, 0x0a58fffeu);
	assert_int_equal(rb_net_pool_addrs(&cfg, 16384, &a, &err), -ENOSPC);
	assert_int_equal(err.code, RB_RESOURCE_EXHAUSTED);

	assert_int_equal(rb_net_pool_parse("172.30.0.0/24", &cfg, &err), 0);
	assert_int_equal(cfg.pool, 0xac1e0000u);
	assert_int_equal(rb_net_pool_addrs(&cfg, 63, &a, &err), 0);
	assert_int_equal(a.address, 0xac1e00feu);
	assert_int_not_equal(rb_net_pool_addrs(&cfg, 64, &a, &err), 0);
	assert_int_not_equal(rb_net_pool_parse("172.30.0.1/24", &cfg, &err), 0);
	assert_int_not_equal(rb_net_pool_parse("10.0.0.0/30", &cfg, &err), 0);
	assert_int_not_equal(rb_net_pool_parse("10.0.0.0/7", &cfg, &err), 0);
	assert_int_not_equal(rb_net_pool_parse("fd00::/64", &cfg, &err), 0);
	assert_int_not_equal(rb_net_pool_parse("10.0.0.0/16:80", &cfg, &err), 0);
	assert_int_not_equal(rb_net_pool_parse("example.com", &cfg, &err), 0);
}

/* the owner mark: the state directory itself, or, too long for a table's comment, its start and
 * a hash of the whole, so that two long directories that share a start still differ */
static void test_owner(void **state)
{
	struct rb_net_config a, b;
	char longa[300], longb[300];

	rb_net_config_default(&a);
	assert_string_equal(a.owner, "");
	rb_net_config_owner(&a, "/var/lib/runbox");
	assert_string_equal(a.owner, "/var/lib/runbox");
	memset(longa, 'x', sizeof(longa) - 1);
	longa[0] = '/';
	longa[sizeof(longa) - 1] = '\0';
	memcpy(longb, longa, sizeof(longb));
	longb[sizeof(longb) - 2] = 'y';
	rb_net_config_owner(&a, longa);
	rb_net_config_owner(&b, longb);
	assert_true(strlen(a.owner) < sizeof(a.owner));
	assert_true(strlen(a.owner) > 100);
	assert_memory_equal(a.owner, longa, 100);
	assert_string_not_equal(a.owner, b.owner);
}

static void test_modes(void **state)
{
	enum rb_net_mode m;

	assert_int_equal(rb_net_mode_parse("none", &m), 0);
	assert_int_equal(m, RB_NET_NONE);
	assert_int_equal(rb_net_mode_parse("private", &m), 0);
	assert_int_equal(m, RB_NET_PRIVATE);
	assert_int_not_equal(rb_net_mode_parse("host", &m), 0);
	assert_int_not_equal(rb_net_mode_parse(NULL, &m), 0);
	assert_string_equal(rb_net_mode_name(RB_NET_PRIVATE), "private");
}

static void test_dns_upstreams(void **state)
{
	struct rb_net_config cfg;
	struct rb_error err;
	const struct sockaddr_in *a4;
	const struct sockaddr_in6 *a6;

	rb_net_config_default(&cfg);
	assert_int_equal(cfg.n_dns_upstream, 0);
	assert_int_equal(rb_net_dns_upstream_parse("10.99.0.53", &cfg, &err), 0);
	assert_int_equal(rb_net_dns_upstream_parse("127.0.0.1:5353", &cfg, &err), 0);
	assert_int_equal(rb_net_dns_upstream_parse("[fd00::53]:54", &cfg, &err), 0);
	assert_int_equal(cfg.n_dns_upstream, 3);
	a4 = (const struct sockaddr_in *)&cfg.dns_upstream[0];
	assert_int_equal(a4->sin_family, AF_INET);
	assert_int_equal(ntohs(a4->sin_port), 53);
	assert_int_equal(ntohl(a4->sin_addr.s_addr), 0x0a630035u);
	a4 = (const struct sockaddr_in *)&cfg.dns_upstream[1];
	assert_int_equal(ntohs(a4->sin_port), 5353);
	a6 = (const struct sockaddr_in6 *)&cfg.dns_upstream[2];
	assert_int_equal(a6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(a6->sin6_port), 54);
	for (size_t i = 0; i < 3; i++) {
		static const char *const bad[] = {"10.0.0.0/8", "example.com", "10.0.0.1:0"};

		assert_int_equal(rb_net_dns_upstream_parse(bad[i], &cfg, &err), -EINVAL);
		assert_int_equal(err.code, RB_INVALID_CONFIG);
	}
	assert_int_equal(rb_net_dns_upstream_parse("10.0.0.4", &cfg, &err), 0);
	assert_int_equal(rb_net_dns_upstream_parse("10.0.0.5", &cfg, &err), -E2BIG);
}

/* The proxy's policy: domains most specific first, duplicates merged with their ports. */
static void test_dns_plan(void **state)
{
	cJSON *j = cJSON_Parse(
	    "{\"mode\":\"private\",\"egress\":{\"default\":\"deny\",\"allow\":[\"*.b.test\","
	    "\"a.b.test:443\",\"10.1.0.0/16\",\"a.b.test:80\",\"*.x.b.test:22\",\"c.test\","
	    "\"c.test:8080\"]}}");
	struct rb_net_policy p;
	struct rb_net_dns_plan *plan;
	struct rb_error err;

	assert_int_equal(rb_net_policy_parse(j, RB_NET_NONE, &p, &err), 0);
	assert_int_equal(rb_net_dns_plan_new(&p, &plan, &err), 0);
	assert_false(plan->policy.default_allow);
	assert_int_equal(plan->policy.n_domains, 4);
	assert_string_equal(plan->policy.domains[0], "a.b.test");
	assert_string_equal(plan->policy.domains[1], "c.test");
	assert_string_equal(plan->policy.domains[2], "*.x.b.test");
	assert_string_equal(plan->policy.domains[3], "*.b.test");
	assert_false(plan->pat[0].any);
	assert_int_equal(plan->pat[0].n, 2);
	assert_int_equal(plan->ports[plan->pat[0].first], 443);
	assert_int_equal(plan->ports[plan->pat[0].first + 1], 80);
	assert_true(plan->pat[1].any);
	assert_int_equal(plan->pat[2].n, 1);
	assert_int_equal(plan->ports[plan->pat[2].first], 22);
	assert_true(plan->pat[3].any);
	assert_int_equal(plan->policy.n_cidrs, 1);
	assert_int_equal(plan->policy.cidrs[0].prefix, 16);
	assert_int_equal(plan->policy.cidrs[0].family, AF_INET);
	rb_net_dns_plan_free(plan);

	/* a domain in a private policy needs the proxy */
	assert_int_equal(rb_net_dns_check(NULL, &p, &err), -ENOTSUP);
	assert_int_equal(err.code, RB_INVALID_CONFIG);
	assert_non_null(strstr(err.msg, "network.egress.allow[0]"));
	p.mode = RB_NET_NONE;
	assert_int_equal(rb_net_dns_check(NULL, &p, &err), 0);
	rb_net_policy_free(&p);
	cJSON_Delete(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_entries),    cmocka_unit_test(test_entry_normalised),
	    cmocka_unit_test(test_covers),     cmocka_unit_test(test_policy),
	    cmocka_unit_test(test_policy_bad), cmocka_unit_test(test_pool),
	    cmocka_unit_test(test_modes),      cmocka_unit_test(test_dns_upstreams),
	    cmocka_unit_test(test_dns_plan),   cmocka_unit_test(test_owner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
