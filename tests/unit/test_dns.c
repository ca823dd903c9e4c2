/* The DNS proxy (netpolicy/dns.h): the parser against hostile messages built here byte by byte,
 * the allowlist's patterns, the rebinding filter, the rebuilding of answers, and the proxy
 * itself on 127.0.0.1 in front of a fake upstream server run by a thread of this test. Only
 * loopback traffic. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "netpolicy/dns.h"

/* --- building messages ------------------------------------------------------------------ */

struct mb {
	uint8_t b[8192];
	size_t n;
};

static void mb_bytes(struct mb *m, const void *p, size_t n)
{
	assert_true(m->n + n <= sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void mb_8(struct mb *m, uint8_t v)
{
	mb_bytes(m, &v, 1);
}

static void mb_16(struct mb *m, uint16_t v)
{
	mb_8(m, (uint8_t)(v >> 8));
	mb_8(m, (uint8_t)v);
}

static void mb_32(struct mb *m, uint32_t v)
{
	mb_16(m, (uint16_t)(v >> 16));
	mb_16(m, (uint16_t)v);
}

/* "a.b.c" uncompressed, with the root */
static void mb_name(struct mb *m, const char *text)
{
	while (*text) {
		size_t l = strcspn(text, ".");

		mb_8(m, (uint8_t)l);
		mb_bytes(m, text, l);
		text += l;
		if (*text)
			text++;
	}
	mb_8(m, 0);
}

static void mb_header(struct mb *m, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
		      uint16_t ns, uint16_t ar)
{
	m->n = 0;
	mb_16(m, id);
	mb_16(m, flags);
	mb_16(m, qd);
	mb_16(m, an);
	mb_16(m, ns);
	mb_16(m, ar);
}

static void mb_query(struct mb *m, uint16_t id, const char *name, uint16_t type, bool edns)
{
	mb_header(m, id, 0x0100, 1, 0, 0, edns ? 1 : 0);
	mb_name(m, name);
	mb_16(m, type);
	mb_16(m, 1);
	if (edns) {
		mb_8(m, 0);
		mb_16(m, 41);
		mb_16(m, 1232);
		mb_32(m, 0);
		mb_16(m, 0);
	}
}

/* A record's head, owner given as a pointer (offset) or, if off is 0, as text. */
static void mb_rr(struct mb *m, uint16_t ptr, const char *owner, uint16_t type, uint32_t ttl,
		  uint16_t rdlen)
{
	if (ptr)
		mb_16(m, (uint16_t)(0xc000 | ptr));
	else
		mb_name(m, owner);
	mb_16(m, type);
	mb_16(m, 1);
	mb_32(m, ttl);
	mb_16(m, rdlen);
}

static void mb_a(struct mb *m, uint16_t ptr, const char *owner, uint32_t ttl, const char *ip)
{
	uint8_t a[16];
	int v6 = strchr(ip, ':') != NULL;

	assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, ip, a), 1);
	mb_rr(m, ptr, owner, v6 ? 28 : 1, ttl, v6 ? 16 : 4);
	mb_bytes(m, a, v6 ? 16 : 4);
}

/* --- reading answers --------------------------------------------------------------------- */

struct ans {
	int rcode, tc, an, ns, ar, cnames;
	int n_addr;
	char addr[16][INET6_ADDRSTRLEN];
	uint32_t ttl[16];
	uint16_t id;
};

static int read_answer(const uint8_t *m, size_t len, struct ans *a)
{
	struct rb_net_dns_name nm;
	size_t off = 12;

	memset(a, 0, sizeof(*a));
	if (len < 12)
		return -1;
	a->id = (uint16_t)(m[0] << 8 | m[1]);
	a->rcode = m[3] & 0xf;
	a->tc = !!(m[2] & 0x02);
	a->an = m[6] << 8 | m[7];
	a->ns = m[8] << 8 | m[9];
	a->ar = m[10] << 8 | m[11];
	if ((m[4] << 8 | m[5]) == 1 &&
	    (rb_net_dns_name_parse(m, len, &off, &nm) < 0 || (off += 4) > len))
		return -1;
	for (int i = 0; i < a->an + a->ns + a->ar; i++) {
		uint16_t type, rdlen;
		uint32_t ttl;

		if (rb_net_dns_name_parse(m, len, &off, &nm) < 0 || off + 10 > len)
			return -1;
		type = (uint16_t)(m[off] << 8 | m[off + 1]);
		ttl = (uint32_t)m[off + 4] << 24 | (uint32_t)m[off + 5] << 16 |
		      (uint32_t)m[off + 6] << 8 | m[off + 7];
		rdlen = (uint16_t)(m[off + 8] << 8 | m[off + 9]);
		off += 10;
		if (off + rdlen > len)
			return -1;
		if (type == 5) {
			size_t o = off;

			a->cnames++;
			if (rb_net_dns_name_parse(m, off + rdlen, &o, &nm) < 0 || o != off + rdlen)
				return -1;
		}
		if ((type == 1 || type == 28) && a->n_addr < 16) {
			inet_ntop(type == 1 ? AF_INET : AF_INET6, m + off, a->addr[a->n_addr],
				  sizeof(a->addr[0]));
			a->ttl[a->n_addr++] = ttl;
		}
		off += rdlen;
	}
	return off == len ? 0 : -1;
}

static bool has_addr(const struct ans *a, const char *ip)
{
	for (int i = 0; i < a->n_addr; i++)
		if (!strcmp(a->addr[i], ip))
			return true;
	return false;
}

/* --- the parser -------------------------------------------------------------------------- */

static void name_text(const struct rb_net_dns_name *n, char *out)
{
	size_t o = 0, k = 0;

	while (n->wire[o]) {
		if (k)
			out[k++] = '.';
		memcpy(out + k, n->wire + o + 1, n->wire[o]);
		k += n->wire[o];
		o += 1 + (size_t)n->wire[o];
	}
	out[k] = '\0';
}

static void names(void **state)
{
	struct rb_net_dns_name n;
	struct mb m = {0};
	char text[300];
	size_t off, api;

	/* compression: api.example.com with example.com pointing back into www.example.com */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_name(&m, "www.example.com");
	api = m.n;
	mb_8(&m, 3);
	mb_bytes(&m, "api", 3);
	mb_16(&m, 0xc000 | 16);
	off = api;
	assert_int_equal(rb_net_dns_name_parse(m.b, m.n, &off, &n), 0);
	assert_int_equal(off, m.n);
	name_text(&n, text);
	assert_string_equal(text, "api.example.com");
	assert_int_equal(n.len, 17);

	/* a pointer to itself, ping-pong, forward, into its own labels */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_16(&m, 0xc000 | 12);
	off = 12;
	assert_int_equal(rb_net_dns_name_parse(m.b, m.n, &off, &n), -EBADMSG);
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_16(&m, 0xc000 | 14);
	mb_16(&m, 0xc000 | 12);
	off = 14;
	assert_int_equal(rb_net_dns_name_parse(m.b, m.n, &off, &n), -EBADMSG);
	off = 12;
	assert_int_equal(rb_net_dns_name_parse(m.b, m.n, &off, &n), -EBADMSG);
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_8(&m, 1);
	mb_8(&m, 'a');
	mb_16(&m, 0xc000 | 12);
	off = 12;
	assert_int_equal(rb_net_dns_name_parse(m.b, m.n, &off, &n), -EBADMSG);

	/* a long chain of backward pointers: bounded by the hop count */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_8(&m, 0);
	for (int i = 0; i < 100; i++)
		mb_16(&m, (uint16_t)(0xc000 | (i ? 13 + 2 * (i - 1) : 12)));
	off = 13 + 2 * 10;
	assert_int_equal(rb_net_dns_name_parse(m.b, m.n, &off, &n), 0);
	assert_int_equal(n.len, 1);
	off = 13 + 2 * 99;
	assert_int_equal(rb_net_dns_name_parse(m.b, m.n, &off, &n), -EBADMSG);

	/* 255 bytes is the limit, 256 is over; through a pointer too */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	for (int i = 0; i < 3; i++) {
		mb_8(&m, 63);
		for (int k = 0; k < 63; k++)
			mb_8(&m, 'x');
	}
	mb_8(&m, 61);
	for (int k = 0; k < 61; k++)
		mb_8(&m, 'y');
	mb_8(&m, 0);
	off = 12;
	assert_int_equal(rb_net_dns_name_parse(m.b, m.n, &off, &n), 0);
	assert_int_equal(n.len, 255);
	api = m.n;
	mb_8(&m, 1);
	mb_8(&m, 'z');
	mb_16(&m, 0xc000 | 12);
	off = api;
	assert_int_equal(rb_net_dns_name_parse(m.b, m.n, &off, &n), -EBADMSG);

	/* reserved label types, truncation */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_8(&m, 0x41);
	mb_8(&m, 0);
	off = 12;
	assert_int_equal(rb_net_dns_name_parse(m.b, m.n, &off, &n), -EBADMSG);
	m.b[12] = 0x81;
	off = 12;
	assert_int_equal(rb_net_dns_name_parse(m.b, m.n, &off, &n), -EBADMSG);
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_8(&m, 5);
	mb_bytes(&m, "abc", 3);
	off = 12;
	assert_int_equal(rb_net_dns_name_parse(m.b, m.n, &off, &n), -EBADMSG);
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_8(&m, 3);
	mb_bytes(&m, "abc", 3);
	off = 12;
	assert_int_equal(rb_net_dns_name_parse(m.b, m.n, &off, &n), -EBADMSG); /* no root */
	mb_8(&m, 0xc0);
	off = 12;
	assert_int_equal(rb_net_dns_name_parse(m.b, m.n, &off, &n), -EBADMSG); /* half pointer */

	/* text */
	assert_int_equal(rb_net_dns_name_from_text("Example.COM.", &n), 0);
	name_text(&n, text);
	assert_string_equal(text, "example.com");
	assert_int_equal(rb_net_dns_name_from_text("", &n), -EINVAL);
	assert_int_equal(rb_net_dns_name_from_text(".", &n), -EINVAL);
	assert_int_equal(rb_net_dns_name_from_text("a..b", &n), -EINVAL);
	assert_int_equal(rb_net_dns_name_from_text(".a", &n), -EINVAL);
	memset(text, 'a', 64);
	strcpy(text + 64, ".com");
	assert_int_equal(rb_net_dns_name_from_text(text, &n), -EINVAL);
}

static void queries(void **state)
{
	struct rb_net_dns_query q;
	struct mb m = {0};

	mb_query(&m, 0x1234, "WWW.Example.com", 1, false);
	assert_int_equal(rb_net_dns_query_parse(m.b, m.n, &q), 0);
	assert_int_equal(q.id, 0x1234);
	assert_int_equal(q.qtype, 1);
	assert_int_equal(q.udp_size, 512);
	assert_false(q.edns);
	mb_query(&m, 1, "a.b", 28, true);
	assert_int_equal(rb_net_dns_query_parse(m.b, m.n, &q), 0);
	assert_true(q.edns);
	assert_int_equal(q.udp_size, 1232);

	assert_int_equal(rb_net_dns_query_parse(m.b, 11, &q), -EBADMSG);
	/* an answer, another opcode, counts */
	mb_query(&m, 1, "a.b", 1, false);
	m.b[2] |= 0x80;
	assert_int_equal(rb_net_dns_query_parse(m.b, m.n, &q), -EBADMSG);
	m.b[2] = 0x10; /* opcode 2 */
	assert_int_equal(rb_net_dns_query_parse(m.b, m.n, &q), -EOPNOTSUPP);
	mb_query(&m, 1, "a.b", 1, false);
	m.b[5] = 2;
	assert_int_equal(rb_net_dns_query_parse(m.b, m.n, &q), -EINVAL);
	m.b[5] = 0;
	assert_int_equal(rb_net_dns_query_parse(m.b, m.n, &q), -EINVAL);
	m.b[5] = 1;
	m.b[7] = 1;
	assert_int_equal(rb_net_dns_query_parse(m.b, m.n, &q), -EINVAL);
	m.b[7] = 0;
	/* truncated question, trailing bytes */
	assert_int_equal(rb_net_dns_query_parse(m.b, m.n - 1, &q), -EINVAL);
	mb_8(&m, 0);
	assert_int_equal(rb_net_dns_query_parse(m.b, m.n, &q), -EINVAL);
	/* an additional record that is not OPT, an OPT running past the end */
	mb_query(&m, 1, "a.b", 1, true);
	m.b[m.n - 9] = 42;
	assert_int_equal(rb_net_dns_query_parse(m.b, m.n, &q), -EINVAL);
	mb_query(&m, 1, "a.b", 1, true);
	m.b[m.n - 1] = 4;
	assert_int_equal(rb_net_dns_query_parse(m.b, m.n, &q), -EINVAL);
	/* a question whose name loops */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_16(&m, 0xc000 | 12);
	mb_16(&m, 1);
	mb_16(&m, 1);
	assert_int_equal(rb_net_dns_query_parse(m.b, m.n, &q), -EINVAL);
}

/* --- patterns and addresses --------------------------------------------------------------- */

static bool matches(const struct rb_net_dns_rules *r, const char *name, size_t *rule)
{
	struct rb_net_dns_name n;

	assert_int_equal(rb_net_dns_name_from_text(name, &n), 0);
	return rb_net_dns_rules_match(r, &n, rule);
}

static void patterns(void **state)
{
	const char *const dom[] = {"example.com", "*.svc.Example.org.", "_srv.x-y.net"};
	struct rb_net_dns_policy p = {.domains = dom, .n_domains = 3};
	struct rb_net_dns_rules *r = NULL;
	struct rb_error err = {0};
	size_t rule;

	assert_int_equal(rb_net_dns_rules_new(&p, &r, &err), 0);
	assert_true(matches(r, "example.com", &rule));
	assert_int_equal(rule, 0);
	assert_true(matches(r, "EXAMPLE.com.", &rule));
	assert_false(matches(r, "www.example.com", &rule));
	assert_int_equal(rule, RB_NET_DNS_RULE_DEFAULT);
	assert_false(matches(r, "example.co", &rule));
	assert_false(matches(r, "xexample.com", &rule));
	assert_true(matches(r, "a.svc.example.org", &rule));
	assert_int_equal(rule, 1);
	assert_true(matches(r, "A.B.SVC.example.ORG.", &rule));
	assert_false(matches(r, "svc.example.org", &rule));
	assert_false(matches(r, "asvc.example.org", &rule));
	assert_false(matches(r, "a.svc.example.org.evil", &rule));
	assert_true(matches(r, "_SRV.x-y.net", &rule));
	assert_int_equal(rule, 2);

	/* a label holding a dot is not two labels: "a.svc" + "example" + "org" is no match */
	{
		struct rb_net_dns_name n = {.len = 19};

		memcpy(n.wire,
		       "\x05"
		       "a.svc\x07"
		       "example\x03"
		       "org\x00",
		       19);
		assert_false(rb_net_dns_rules_match(r, &n, &rule));
	}
	rb_net_dns_rules_free(r);

	static const char *const bad[] = {"",		"*",
					  "*.",		"a..b",
					  "*.*.x",	"x*.com",
					  "a b.com",	"example.com:443",
					  "é.com",	"*example.com",
					  "foo/bar.com"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p.domains = &bad[i];
		p.n_domains = 1;
		r = NULL;
		assert_int_equal(rb_net_dns_rules_new(&p, &r, &err), -EINVAL);
		assert_int_equal(err.code, RB_INVALID_CONFIG);
		assert_null(r);
	}
}

static bool blocked(const struct rb_net_dns_rules *r, const char *ip)
{
	uint8_t a[16];
	int v6 = strchr(ip, ':') != NULL;

	assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, ip, a), 1);
	return rb_net_dns_rules_addr_blocked(r, v6 ? AF_INET6 : AF_INET, a);
}

static void rebinding(void **state)
{
	static const char *const bad[] = {"10.0.0.1",
					  "10.255.255.255",
					  "172.16.0.1",
					  "172.31.255.255",
					  "192.168.1.1",
					  "100.64.0.1",
					  "100.127.255.255",
					  "127.0.0.1",
					  "127.8.8.8",
					  "169.254.169.254",
					  "0.0.0.0",
					  "224.0.0.1",
					  "239.1.2.3",
					  "255.255.255.255",
					  "::",
					  "::1",
					  "fe80::1",
					  "febf::1",
					  "fc00::1",
					  "fd12:3456::1",
					  "ff02::1",
					  "::ffff:10.0.0.1",
					  "::ffff:127.0.0.1",
					  "64:ff9b::a9fe:a9fe",
					  "::127.0.0.1"};
	static const char *const good[] = {"8.8.8.8",	       "172.15.255.255",  "172.32.0.0",
					   "100.63.255.255",   "100.128.0.0",	  "192.169.0.1",
					   "2001:db8::1",      "2606:4700::1111", "::ffff:8.8.8.8",
					   "64:ff9b::808:808", "fe00::1"};
	struct rb_net_dns_cidr cidr[2] = {{.family = AF_INET, .addr = {10, 1, 0, 0}, .prefix = 16},
					  {.family = AF_INET6, .addr = {0xfd, 0x12}, .prefix = 16}};
	struct rb_net_dns_policy p = {0};
	struct rb_net_dns_rules *r = NULL;
	struct rb_error err = {0};

	assert_int_equal(rb_net_dns_rules_new(&p, &r, &err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!blocked(r, bad[i]))
			fail_msg("%s should be blocked", bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (blocked(r, good[i]))
			fail_msg("%s should pass", good[i]);
	rb_net_dns_rules_free(r);

	/* the ranges a policy names pass, and no more */
	p.cidrs = cidr;
	p.n_cidrs = 2;
	assert_int_equal(rb_net_dns_rules_new(&p, &r, &err), 0);
	assert_false(blocked(r, "10.1.2.3"));
	assert_false(blocked(r, "::ffff:10.1.2.3"));
	assert_true(blocked(r, "10.2.0.1"));
	assert_false(blocked(r, "fd12:3456::1"));
	assert_true(blocked(r, "fd13::1"));
	rb_net_dns_rules_free(r);
	cidr[0].prefix = 33;
	assert_int_equal(rb_net_dns_rules_new(&p, &r, &err), -EINVAL);
}

/* --- rebuilding answers without sockets -------------------------------------------------- */

struct allow_log {
	pthread_mutex_t lock;
	int n;
	struct {
		char ip[INET6_ADDRSTRLEN];
		uint32_t ttl;
		size_t rule;
	} e[256];
	int fail; /* make allow_addr fail */
};

static int log_allow(void *ud, size_t rule, int family, const void *addr, uint32_t ttl)
{
	struct allow_log *l = ud;

	pthread_mutex_lock(&l->lock);
	if (l->n < 256) {
		inet_ntop(family, addr, l->e[l->n].ip, sizeof(l->e[0].ip));
		l->e[l->n].ttl = ttl;
		l->e[l->n++].rule = rule;
	}
	pthread_mutex_unlock(&l->lock);
	return l->fail ? -EPERM : 0;
}

static int logged(struct allow_log *l, const char *ip, uint32_t *ttl)
{
	int found = 0;

	pthread_mutex_lock(&l->lock);
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->e[i].ip, ip)) {
			found++;
			if (ttl)
				*ttl = l->e[i].ttl;
		}
	pthread_mutex_unlock(&l->lock);
	return found;
}

static void rewrite(void **state)
{
	static struct allow_log log = {.lock = PTHREAD_MUTEX_INITIALIZER};
	const char *const dom[] = {"*.allowed.test"};
	struct rb_net_dns_policy p = {.domains = dom, .n_domains = 1};
	struct rb_net_dns_rules *r = NULL;
	struct rb_net_dns_query q;
	struct rb_error err = {0};
	struct mb cq = {0}, m = {0};
	uint8_t out[4096];
	struct ans a;
	ssize_t n;
	size_t cn;
	uint32_t ttl = 0;

	assert_int_equal(rb_net_dns_rules_new(&p, &r, &err), 0);
	mb_query(&cq, 0x4242, "www.allowed.test", 1, false);
	assert_int_equal(rb_net_dns_query_parse(cq.b, cq.n, &q), 0);
	struct rb_net_dns_rewrite rw = {.q = &q,
					.rules = r,
					.rule = 0,
					.ttl_floor_s = 30,
					.ttl_ceiling_s = 600,
					.allow_addr = log_allow,
					.sandbox_ud = &log};

	/* CNAME to a name outside the allowlist, an unrelated record, a private address */
	mb_header(&m, 7, 0x8180, 1, 5, 0, 0);
	mb_name(&m, "WWW.allowed.test");
	mb_16(&m, 1);
	mb_16(&m, 1);
	mb_rr(&m, 12, NULL, 5, 300, 15);
	cn = m.n;
	mb_name(&m, "edge.cdn.test");
	mb_a(&m, (uint16_t)cn, NULL, 5, "203.0.113.7");
	mb_a(&m, (uint16_t)cn, NULL, 7200, "203.0.113.8");
	mb_a(&m, (uint16_t)cn, NULL, 5, "192.168.0.1");
	mb_a(&m, 0, "evil.test", 5, "6.6.6.6");
	n = rb_net_dns_rewrite_answer(&rw, 7, m.b, m.n, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(read_answer(out, (size_t)n, &a), 0);
	assert_int_equal(a.id, 0x4242);
	assert_int_equal(a.rcode, 0);
	assert_int_equal(a.an, 3);
	assert_int_equal(a.cnames, 1);
	assert_int_equal(a.n_addr, 2);
	assert_true(has_addr(&a, "203.0.113.7") && has_addr(&a, "203.0.113.8"));
	assert_int_equal(a.ttl[0], 5);
	assert_int_equal(a.ttl[1], 600); /* the ceiling */
	assert_int_equal(rw.rebinding, 1);
	assert_int_equal(logged(&log, "203.0.113.7", &ttl), 1);
	assert_int_equal(ttl, 30); /* the floor */
	assert_int_equal(logged(&log, "203.0.113.8", &ttl), 1);
	assert_int_equal(ttl, 600);
	assert_int_equal(logged(&log, "6.6.6.6", NULL), 0);
	assert_int_equal(logged(&log, "192.168.0.1", NULL), 0);

	/* not ours: another ID, another question */
	assert_int_equal(rb_net_dns_rewrite_answer(&rw, 8, m.b, m.n, out, sizeof(out)), -EAGAIN);
	m.b[13] = 'x';
	assert_int_equal(rb_net_dns_rewrite_answer(&rw, 7, m.b, m.n, out, sizeof(out)), -EAGAIN);
	m.b[13] = 'W';
	/* too small for the client: TC, nothing else */
	n = rb_net_dns_rewrite_answer(&rw, 7, m.b, m.n, out, 60);
	assert_true(n > 0);
	assert_int_equal(read_answer(out, (size_t)n, &a), 0);
	assert_int_equal(a.tc, 1);
	assert_int_equal(a.an, 0);
	/* truncated at every length: never a crash, never success past the question */
	for (size_t l = 0; l < m.n; l++) {
		n = rb_net_dns_rewrite_answer(&rw, 7, m.b, l, out, sizeof(out));
		assert_true(n < 0);
	}
	/* an A record with 5 bytes; an rdlength past the end; TC from upstream */
	mb_header(&m, 7, 0x8180, 1, 1, 0, 0);
	mb_name(&m, "www.allowed.test");
	mb_16(&m, 1);
	mb_16(&m, 1);
	mb_rr(&m, 12, NULL, 1, 5, 5);
	mb_32(&m, 0x08080808);
	mb_8(&m, 0);
	assert_int_equal(rb_net_dns_rewrite_answer(&rw, 7, m.b, m.n, out, sizeof(out)), -EBADMSG);
	m.b[m.n - 6] = 9;
	assert_int_equal(rb_net_dns_rewrite_answer(&rw, 7, m.b, m.n, out, sizeof(out)), -EBADMSG);
	m.b[2] |= 0x02;
	assert_int_equal(rb_net_dns_rewrite_answer(&rw, 7, m.b, m.n, out, sizeof(out)), -EMSGSIZE);
	/* a CNAME whose target loops through compression */
	mb_header(&m, 7, 0x8180, 1, 1, 0, 0);
	mb_name(&m, "www.allowed.test");
	mb_16(&m, 1);
	mb_16(&m, 1);
	mb_rr(&m, 12, NULL, 5, 5, 2);
	mb_16(&m, (uint16_t)(0xc000 | m.n));
	assert_int_equal(rb_net_dns_rewrite_answer(&rw, 7, m.b, m.n, out, sizeof(out)), -EBADMSG);
	/* NXDOMAIN with a SOA (compressed names inside) kept in the authority section */
	mb_header(&m, 7, 0x8183, 1, 0, 1, 0);
	mb_name(&m, "www.allowed.test");
	mb_16(&m, 1);
	mb_16(&m, 1);
	mb_rr(&m, 16, NULL, 6, 900, 2 + 6 + 20);
	mb_16(&m, 0xc000 | 16);
	mb_8(&m, 3);
	mb_bytes(&m, "dns", 3);
	mb_16(&m, 0xc000 | 16);
	for (int i = 0; i < 5; i++)
		mb_32(&m, 60);
	n = rb_net_dns_rewrite_answer(&rw, 7, m.b, m.n, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(read_answer(out, (size_t)n, &a), 0);
	assert_int_equal(a.rcode, 3);
	assert_int_equal(a.an, 0);
	assert_int_equal(a.ns, 1);
	/* allow_addr failing drops the address */
	log.fail = 1;
	mb_header(&m, 7, 0x8180, 1, 1, 0, 0);
	mb_name(&m, "www.allowed.test");
	mb_16(&m, 1);
	mb_16(&m, 1);
	mb_a(&m, 12, NULL, 5, "198.51.100.3");
	n = rb_net_dns_rewrite_answer(&rw, 7, m.b, m.n, out, sizeof(out));
	assert_int_equal(read_answer(out, (size_t)n, &a), 0);
	assert_int_equal(a.an, 0);
	log.fail = 0;
	rb_net_dns_rules_free(r);
}

static void resolv_conf(void **state)
{
	char path[] = "/tmp/runbox-resolv.XXXXXX";
	int fd = mkstemp(path);
	struct rb_net_dns_config cfg = {0};
	struct rb_error err = {0};
	const char text[] = "# comment\nsearch example.com\nnameserver 192.0.2.53\n"
			    "nameserver\t2001:db8::53 # v6\nnameserver bogus\noptions ndots:2\n"
			    "  nameserver 127.0.0.53\n";
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)&cfg.upstream[0];
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&cfg.upstream[1];
	uint8_t want6[16];

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	assert_int_equal(rb_net_dns_upstreams_from_resolv_conf(path, &cfg, &err), 0);
	assert_int_equal(cfg.n_upstream, 3);
	assert_int_equal(a4->sin_family, AF_INET);
	assert_int_equal(ntohl(a4->sin_addr.s_addr), 0xc0000235);
	assert_int_equal(ntohs(a4->sin_port), 53);
	inet_pton(AF_INET6, "2001:db8::53", want6);
	assert_int_equal(a6->sin6_family, AF_INET6);
	assert_memory_equal(&a6->sin6_addr, want6, 16);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "search x\n", 9), 9);
	close(fd);
	assert_int_equal(rb_net_dns_upstreams_from_resolv_conf(path, &cfg, &err), -ENOENT);
	unlink(path);
	assert_int_equal(rb_net_dns_upstreams_from_resolv_conf(path, &cfg, &err), -ENOENT);
}

/* --- the proxy, with a fake upstream ---------------------------------------------------- */

struct fake {
	int udp, tcp, stop[2];
	uint16_t port;
	pthread_t th;
	pthread_mutex_t lock;
	int n_asked, n_tcp;
	char asked[256][64];
	uint16_t ids[256];
};

static size_t fake_answer(const uint8_t *qm, size_t qlen, bool tcp, uint8_t *out, int *extra)
{
	struct rb_net_dns_query q;
	struct mb m = {0};
	char name[300];
	uint16_t t;

	*extra = 0;
	if (rb_net_dns_query_parse(qm, qlen, &q) < 0)
		return 0;
	name_text(&q.qname, name);
	for (char *c = name; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	t = q.qtype;
#define HEAD(an, ns, rc)                                                                           \
	do {                                                                                       \
		mb_header(&m, q.id, (uint16_t)(0x8180 | (rc)), 1, an, ns, 0);                      \
		mb_bytes(&m, q.qname.wire, q.qname.len);                                           \
		mb_16(&m, q.qtype);                                                                \
		mb_16(&m, q.qclass);                                                               \
	} while (0)
	if (!strcmp(name, "slow.allowed.test"))
		return 0;
	if (!strcmp(name, "allowed.test") || !strcmp(name, "other.test") ||
	    !strcmp(name, "anything.test")) {
		HEAD(1, 0, 0);
		if (t == 28)
			mb_a(&m, 12, NULL, 5, "2606:2800:220:1::1");
		else if (!strcmp(name, "other.test"))
			mb_a(&m, 12, NULL, 5, "198.51.100.7");
		else
			mb_a(&m, 12, NULL, 5, "93.184.216.34");
	} else if (!strcmp(name, "www.allowed.test")) {
		size_t cn;

		HEAD(4, 0, 0);
		mb_rr(&m, 12, NULL, 5, 300, 15);
		cn = m.n;
		mb_name(&m, "edge.cdn.test");
		mb_a(&m, (uint16_t)cn, NULL, 7200, "203.0.113.7");
		mb_a(&m, 0, "evil.test", 5, "6.6.6.6");
		mb_a(&m, (uint16_t)cn, NULL, 5, "10.9.9.9");
	} else if (!strcmp(name, "rebind.allowed.test") && t == 1) {
		static const char *const ips[] = {"10.0.0.5",	     "192.168.1.1", "127.0.0.1",
						  "169.254.169.254", "203.0.113.9", "10.1.2.3"};

		HEAD(6, 0, 0);
		for (int i = 0; i < 6; i++)
			mb_a(&m, 12, NULL, 60, ips[i]);
	} else if (!strcmp(name, "rebind.allowed.test")) {
		static const char *const ips[] = {"::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1",
						  "2001:db8::5"};

		HEAD(5, 0, 0);
		for (int i = 0; i < 5; i++)
			mb_a(&m, 12, NULL, 60, ips[i]);
	} else if (!strcmp(name, "big.allowed.test") && !tcp) {
		HEAD(0, 0, 0);
		m.b[2] |= 0x02; /* TC */
	} else if (!strcmp(name, "big.allowed.test")) {
		HEAD(3, 0, 0);
		mb_a(&m, 12, NULL, 60, "198.51.100.1");
		mb_a(&m, 12, NULL, 60, "198.51.100.2");
		mb_a(&m, 12, NULL, 60, "198.51.100.3");
	} else if (!strcmp(name, "spoof.allowed.test")) {
		/* a wrong ID first, then a wrong question, then the answer (see fake_send) */
		HEAD(1, 0, 0);
		mb_a(&m, 12, NULL, 60, "198.51.100.66");
		*extra = 1;
	} else {
		HEAD(0, 0, 3);
	}
#undef HEAD
	memcpy(out, m.b, m.n);
	return m.n;
}

static void fake_record(struct fake *f, const uint8_t *qm, size_t qlen, bool tcp)
{
	struct rb_net_dns_query q;

	if (rb_net_dns_query_parse(qm, qlen, &q) < 0)
		return;
	pthread_mutex_lock(&f->lock);
	if (f->n_asked < 256) {
		name_text(&q.qname, f->asked[f->n_asked]);
		f->ids[f->n_asked++] = q.id;
	}
	f->n_tcp += tcp;
	pthread_mutex_unlock(&f->lock);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	uint8_t qm[4096], out[8192];

	for (;;) {
		struct pollfd p[3] = {
		    {f->udp, POLLIN, 0}, {f->tcp, POLLIN, 0}, {f->stop[0], POLLIN, 0}};
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		int extra;
		ssize_t n;
		size_t an;

		if (poll(p, 3, -1) < 0 || p[2].revents)
			return NULL;
		if (p[0].revents) {
			n = recvfrom(f->udp, qm, sizeof(qm), 0, (struct sockaddr *)&from, &fl);
			if (n <= 0)
				continue;
			fake_record(f, qm, (size_t)n, false);
			an = fake_answer(qm, (size_t)n, false, out, &extra);
			if (an && extra) {
				out[0] ^= 0x55; /* wrong ID */
				sendto(f->udp, out, an, 0, (struct sockaddr *)&from, fl);
				out[0] ^= 0x55;
				out[13] ^= 0x20; /* "Spoof": same name, case differs: still ours */
				out[14] = 'x';	 /* "sxoof": another name */
				sendto(f->udp, out, an, 0, (struct sockaddr *)&from, fl);
				out[13] ^= 0x20;
				out[14] = 'p';
			}
			if (an)
				sendto(f->udp, out, an, 0, (struct sockaddr *)&from, fl);
		}
		if (p[1].revents) {
			int c = accept(f->tcp, NULL, NULL);
			struct timeval tv = {1, 0};
			uint8_t lb[2];

			if (c < 0)
				continue;
			setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			while (recv(c, lb, 2, MSG_WAITALL) == 2) {
				size_t ql = (size_t)lb[0] << 8 | lb[1];

				if (ql > sizeof(qm) || recv(c, qm, ql, MSG_WAITALL) != (ssize_t)ql)
					break;
				fake_record(f, qm, ql, true);
				an = fake_answer(qm, ql, true, out + 2, &extra);
				out[0] = (uint8_t)(an >> 8);
				out[1] = (uint8_t)an;
				if (an && send(c, out, an + 2, MSG_NOSIGNAL) < 0)
					break;
			}
			close(c);
		}
	}
}

static int bind_pair(int *udp, int *tcp, uint16_t *port)
{
	for (int tries = 0; tries < 20; tries++) {
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t l = sizeof(a);
		int one = 1;

		*udp = socket(AF_INET, SOCK_DGRAM, 0);
		*tcp = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(*tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(*udp, (struct sockaddr *)&a, l) == 0 &&
		    getsockname(*udp, (struct sockaddr *)&a, &l) == 0 &&
		    bind(*tcp, (struct sockaddr *)&a, l) == 0 && listen(*tcp, 16) == 0) {
			*port = ntohs(a.sin_port);
			return 0;
		}
		close(*udp);
		close(*tcp);
	}
	return -1;
}

static void fake_start(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	assert_int_equal(bind_pair(&f->udp, &f->tcp, &f->port), 0);
	assert_int_equal(pipe(f->stop), 0);
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	assert_int_equal(write(f->stop[1], "x", 1), 1);
	pthread_join(f->th, NULL);
	close(f->udp);
	close(f->tcp);
	close(f->stop[0]);
	close(f->stop[1]);
	pthread_mutex_destroy(&f->lock);
}

static int fake_asked(struct fake *f, const char *name)
{
	int n = 0;

	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < f->n_asked; i++)
		n += !strcmp(f->asked[i], name);
	pthread_mutex_unlock(&f->lock);
	return n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One query over UDP (or TCP) to the proxy; the answer's length, or -1 on timeout. */
static ssize_t ask(const struct sockaddr_storage *to, bool tcp, const char *name, uint16_t type,
		   uint16_t id, uint8_t *out, size_t cap)
{
	struct timeval tv = {3, 0};
	int fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	struct mb m = {0};
	ssize_t n;

	mb_query(&m, id, name, type, false);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)to, sizeof(struct sockaddr_in)) < 0) {
		close(fd);
		return -1;
	}
	if (tcp) {
		uint8_t lb[2] = {(uint8_t)(m.n >> 8), (uint8_t)m.n};

		if (send(fd, lb, 2, MSG_NOSIGNAL) != 2 || send(fd, m.b, m.n, MSG_NOSIGNAL) < 0 ||
		    recv(fd, lb, 2, MSG_WAITALL) != 2) {
			close(fd);
			return -1;
		}
		n = (size_t)(lb[0] << 8 | lb[1]) <= cap
			? recv(fd, out, (size_t)(lb[0] << 8 | lb[1]), MSG_WAITALL)
			: -1;
	} else {
		n = send(fd, m.b, m.n, 0) < 0 ? -1 : recv(fd, out, cap, 0);
	}
	close(fd);
	return n;
}

struct world {
	struct fake f;
	struct rb_net_dns *dns;
	struct rb_net_dns_sandbox *sb;
	struct sockaddr_storage at;
	struct allow_log log;
};

static const char *const world_domains[] = {"allowed.test", "*.allowed.test"};
static const struct rb_net_dns_cidr world_cidr = {
    .family = AF_INET, .addr = {10, 1, 0, 0}, .prefix = 16};

static void world_start(struct world *w, unsigned timeout_ms)
{
	struct sockaddr_in *up;
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct rb_net_dns_config cfg = {.ttl_floor_s = 30,
					.ttl_ceiling_s = 600,
					.timeout_ms = timeout_ms,
					.allow_addr = log_allow};
	struct rb_net_dns_policy p = {
	    .domains = world_domains, .n_domains = 2, .cidrs = &world_cidr, .n_cidrs = 1};
	struct rb_error err = {0};

	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->log.lock, NULL);
	fake_start(&w->f);
	up = (struct sockaddr_in *)&cfg.upstream[0];
	up->sin_family = AF_INET;
	up->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	up->sin_port = htons(w->f.port);
	cfg.n_upstream = 1;
	if (rb_net_dns_new(&cfg, &w->dns, &err) < 0)
		fail_msg("%s", err.msg);
	if (rb_net_dns_add_sandbox(w->dns, (struct sockaddr *)&lo, &p, &w->log, &w->sb, &err) < 0)
		fail_msg("%s", err.msg);
	rb_net_dns_sandbox_addr(w->sb, &w->at);
	assert_int_not_equal(((struct sockaddr_in *)&w->at)->sin_port, 0);
}

static void world_stop(struct world *w)
{
	rb_net_dns_remove_sandbox(w->sb);
	rb_net_dns_free(w->dns);
	fake_stop(&w->f);
	pthread_mutex_destroy(&w->log.lock);
}

/* One query to the world's proxy (over TCP when tcp), its answer parsed into *a: a's RCODE. */
static int query(const struct world *w, bool tcp, const char *name, uint16_t type, uint16_t id,
		 struct ans *a)
{
	uint8_t out[4096];
	ssize_t n = ask(&w->at, tcp, name, type, id, out, sizeof(out));

	assert_true(n > 0);
	assert_int_equal(read_answer(out, (size_t)n, a), 0);
	return a->rcode;
}

static void proxy(void **state)
{
	struct world w;
	uint8_t out[4096];
	struct ans a;
	ssize_t n;
	uint32_t ttl = 0;
	int differ = 0;

	world_start(&w, 2000);

	/* an allowed name: the upstream's addresses, each allowed with the floored TTL before
	 * the answer came back */
	query(&w, false, "allowed.test", 1, 0x1234, &a);
	assert_int_equal(a.id, 0x1234);
	assert_int_equal(a.rcode, 0);
	assert_int_equal(a.n_addr, 1);
	assert_string_equal(a.addr[0], "93.184.216.34");
	assert_int_equal(a.ttl[0], 5);
	assert_int_equal(logged(&w.log, "93.184.216.34", &ttl), 1);
	assert_int_equal(ttl, 30);
	query(&w, false, "Allowed.Test", 28, 0x1234, &a);
	assert_true(has_addr(&a, "2606:2800:220:1::1"));
	assert_int_equal(logged(&w.log, "2606:2800:220:1::1", NULL), 1);
	for (int i = 0; i < w.f.n_asked; i++)
		differ += w.f.ids[i] != 0x1234;
	assert_true(differ > 0); /* the proxy's own IDs */

	/* other names: REFUSED, the upstream never asked; odd types and classes too */
	assert_int_equal(query(&w, false, "denied.test", 1, 7, &a), 5);
	assert_int_equal(a.id, 7);
	assert_int_equal(query(&w, false, "tunnel.denied.test", 16, 8, &a), 5);
	assert_int_equal(query(&w, false, "allowed.test", 255, 9, &a), 5);
	assert_int_equal(fake_asked(&w.f, "denied.test"), 0);
	assert_int_equal(fake_asked(&w.f, "tunnel.denied.test"), 0);

	/* a CNAME out of the allowlist is followed; the unrelated record and the private
	 * address are dropped; TTLs capped at the ceiling */
	query(&w, false, "www.allowed.test", 1, 10, &a);
	assert_int_equal(a.cnames, 1);
	assert_int_equal(a.n_addr, 1);
	assert_string_equal(a.addr[0], "203.0.113.7");
	assert_int_equal(a.ttl[0], 600);
	assert_int_equal(logged(&w.log, "203.0.113.7", &ttl), 1);
	assert_int_equal(ttl, 600);
	assert_int_equal(logged(&w.log, "6.6.6.6", NULL), 0);
	assert_int_equal(logged(&w.log, "10.9.9.9", NULL), 0);

	/* rebinding: only the public address and the one the policy's CIDR names */
	query(&w, false, "rebind.allowed.test", 1, 11, &a);
	assert_int_equal(a.n_addr, 2);
	assert_true(has_addr(&a, "203.0.113.9") && has_addr(&a, "10.1.2.3"));
	assert_int_equal(logged(&w.log, "10.0.0.5", NULL), 0);
	assert_int_equal(logged(&w.log, "169.254.169.254", NULL), 0);
	assert_int_equal(logged(&w.log, "10.1.2.3", NULL), 1);
	query(&w, false, "rebind.allowed.test", 28, 12, &a);
	assert_int_equal(a.n_addr, 1);
	assert_string_equal(a.addr[0], "2001:db8::5");

	/* TC from upstream: the proxy asks again over TCP and answers over UDP */
	query(&w, false, "big.allowed.test", 1, 13, &a);
	assert_int_equal(a.tc, 0);
	assert_int_equal(a.n_addr, 3);
	assert_true(w.f.n_tcp >= 1);
	assert_int_equal(logged(&w.log, "198.51.100.3", NULL), 1);

	/* queries over TCP */
	query(&w, true, "allowed.test", 1, 14, &a);
	assert_int_equal(a.id, 14);
	assert_string_equal(a.addr[0], "93.184.216.34");
	assert_int_equal(query(&w, true, "denied.test", 1, 15, &a), 5);

	/* answers not ours (wrong ID, wrong question) are ignored */
	query(&w, false, "spoof.allowed.test", 1, 16, &a);
	assert_int_equal(a.n_addr, 1);
	assert_string_equal(a.addr[0], "198.51.100.66");

	/* garbage: FORMERR with the client's ID; an answer sent to the proxy: silence */
	{
		struct mb m = {0};
		struct timeval tv = {0, 200000};
		int fd = socket(AF_INET, SOCK_DGRAM, 0);

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		assert_int_equal(connect(fd, (struct sockaddr *)&w.at, sizeof(struct sockaddr_in)),
				 0);
		mb_query(&m, 0x4321, "allowed.test", 1, false);
		mb_8(&m, 0xff);
		send(fd, m.b, m.n, 0);
		n = recv(fd, out, sizeof(out), 0);
		assert_int_equal(read_answer(out, (size_t)n, &a), 0);
		assert_int_equal(a.rcode, 1);
		assert_int_equal(a.id, 0x4321);
		m.n--;
		m.b[2] |= 0x80;
		send(fd, m.b, m.n, 0);
		assert_true(recv(fd, out, sizeof(out), 0) < 0);
		close(fd);
	}

	{
		struct rb_net_dns_stats st;

		rb_net_dns_stats(w.sb, &st);
		assert_int_equal(st.refused, 4);
		assert_int_equal(st.allowed, 8);
		assert_int_equal(st.rebinding, 9);
		assert_int_equal(st.malformed, 2);
	}
	world_stop(&w);
}

static void policy_swap(void **state)
{
	const char *const d2[] = {"other.test"};
	struct rb_net_dns_policy p2 = {.domains = d2, .n_domains = 1};
	struct rb_error err = {0};
	struct world w;
	struct ans a;

	world_start(&w, 2000);
	assert_int_equal(query(&w, false, "other.test", 1, 1, &a), 5);
	assert_int_equal(rb_net_dns_set_policy(w.sb, &p2, &err), 0);
	assert_int_equal(query(&w, false, "other.test", 1, 2, &a), 0);
	assert_string_equal(a.addr[0], "198.51.100.7");
	assert_int_equal(query(&w, false, "allowed.test", 1, 3, &a), 5);
	/* a bad policy is refused and the old one stays */
	{
		const char *const bad[] = {"*"};
		struct rb_net_dns_policy pb = {.domains = bad, .n_domains = 1};

		assert_int_equal(rb_net_dns_set_policy(w.sb, &pb, &err), -EINVAL);
	}
	assert_int_equal(query(&w, false, "other.test", 1, 4, &a), 0);
	/* default allow: any name resolves, rebinding still filtered */
	p2.n_domains = 0;
	p2.default_allow = true;
	assert_int_equal(rb_net_dns_set_policy(w.sb, &p2, &err), 0);
	assert_int_equal(query(&w, false, "anything.test", 1, 5, &a), 0);
	assert_int_equal(a.n_addr, 1);
	query(&w, false, "rebind.allowed.test", 1, 6, &a);
	assert_int_equal(a.n_addr, 1); /* 10.1.2.3 is no longer named by the policy */
	assert_string_equal(a.addr[0], "203.0.113.9");
	/* TXT forwarded: the fake says NXDOMAIN */
	assert_int_equal(query(&w, false, "x.allowed.test", 16, 7, &a), 3);
	world_stop(&w);
}

static void timeouts(void **state)
{
	struct world w;
	uint8_t out[4096];
	struct ans a;
	ssize_t n;
	double t0;

	world_start(&w, 300);
	t0 = now_s();
	assert_int_equal(query(&w, false, "slow.allowed.test", 1, 1, &a), 2);
	assert_true(now_s() - t0 >= 0.29);
	assert_true(now_s() - t0 < 2.0);
	/* over TCP too, and two queries pipelined on one connection */
	assert_int_equal(query(&w, true, "slow.allowed.test", 1, 2, &a), 2);
	{
		struct timeval tv = {3, 0};
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct mb m1 = {0}, m2 = {0};
		uint8_t buf[600], lb[2];
		int ids[2];

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		assert_int_equal(connect(fd, (struct sockaddr *)&w.at, sizeof(struct sockaddr_in)),
				 0);
		mb_query(&m1, 21, "slow.allowed.test", 1, false);
		mb_query(&m2, 22, "allowed.test", 1, false);
		buf[0] = 0;
		buf[1] = (uint8_t)m1.n;
		memcpy(buf + 2, m1.b, m1.n);
		buf[2 + m1.n] = 0;
		buf[3 + m1.n] = (uint8_t)m2.n;
		memcpy(buf + 4 + m1.n, m2.b, m2.n);
		assert_int_equal(send(fd, buf, 4 + m1.n + m2.n, 0), (ssize_t)(4 + m1.n + m2.n));
		shutdown(fd, SHUT_WR); /* half closed: both answers still come */
		for (int i = 0; i < 2; i++) {
			assert_int_equal(recv(fd, lb, 2, MSG_WAITALL), 2);
			n = recv(fd, out, (size_t)(lb[0] << 8 | lb[1]), MSG_WAITALL);
			assert_int_equal(read_answer(out, (size_t)n, &a), 0);
			ids[i] = a.id;
		}
		assert_int_equal(ids[0], 22); /* the quick one first */
		assert_int_equal(ids[1], 21);
		assert_int_equal(recv(fd, lb, 2, 0), 0);
		close(fd);
	}
	{
		struct rb_net_dns_stats st;

		rb_net_dns_stats(w.sb, &st);
		assert_int_equal(st.failed, 3);
	}
	world_stop(&w);
}

/* Many queries at once over a full in-flight table: the excess is dropped, and a later query
 * still works; removing a sandbox with queries in flight leaves nothing behind. */
static void limits(void **state)
{
	struct world w;
	struct ans a;
	struct mb m = {0};
	struct rb_net_dns_stats st;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	world_start(&w, 400);
	assert_int_equal(connect(fd, (struct sockaddr *)&w.at, sizeof(struct sockaddr_in)), 0);
	for (int i = 0; i < 100; i++) {
		mb_query(&m, (uint16_t)i, "slow.allowed.test", 1, false);
		send(fd, m.b, m.n, 0);
	}
	usleep(100000);
	rb_net_dns_stats(w.sb, &st);
	assert_int_equal(st.allowed, 64);
	assert_int_equal(st.dropped, 36);
	usleep(400000);
	assert_int_equal(query(&w, false, "allowed.test", 1, 1, &a), 0);
	for (int i = 0; i < 10; i++) {
		mb_query(&m, (uint16_t)i, "slow.allowed.test", 1, false);
		send(fd, m.b, m.n, 0);
	}
	close(fd);
	usleep(20000);
	world_stop(&w); /* with ten queries in flight */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(names),	cmocka_unit_test(queries),
	    cmocka_unit_test(patterns), cmocka_unit_test(rebinding),
	    cmocka_unit_test(rewrite),	cmocka_unit_test(resolv_conf),
	    cmocka_unit_test(proxy),	cmocka_unit_test(policy_swap),
	    cmocka_unit_test(timeouts), cmocka_unit_test(limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
