/*
 * The DNS proxy's wire format and policy (dns.h): strict parsing of a client's query, the
 * allowlist's patterns and CIDRs, and the rebuilding of an upstream's answer with only the
 * records a sandbox may see. No sockets here: the fuzzer and the unit tests call these directly.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

#define HDR	     12
#define F_QR	     0x8000
#define F_TC	     0x0200
#define F_RD	     0x0100
#define F_RA	     0x0080
#define T_A	     1
#define T_NS	     2
#define T_CNAME	     5
#define T_SOA	     6
#define T_PTR	     12
#define T_MX	     15
#define T_AAAA	     28
#define T_OPT	     41
#define C_IN	     1
#define MAX_RR	     64 /* answer records looked at */
#define MAX_CHAIN    9	/* the question's name and 8 CNAMEs */
#define MAX_PTRS     32 /* names remembered for compression */
#define EDNS_PAYLOAD 1232

struct rb_net_dns_pattern {
	bool wildcard; /* "*.suffix" */
	struct rb_net_dns_name name;
};

struct rb_net_dns_rules {
	bool default_allow;
	size_t n_pat, n_cidr;
	struct rb_net_dns_pattern *pat;
	struct rb_net_dns_cidr *cidr;
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Wire forms compare byte by byte: a length byte (<= 63) is never changed by lower(). */
static bool wire_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

static bool name_eq(const struct rb_net_dns_name *a, const struct rb_net_dns_name *b)
{
	return a->len == b->len && wire_eq(a->wire, b->wire, a->len);
}

int rb_net_dns_name_parse(const uint8_t *msg, size_t len, size_t *off, struct rb_net_dns_name *out)
{
	/* A pointer must point before the start of the run of labels it ends, so every jump goes
	 * strictly backwards and a loop is impossible; the hop count is a second bound. */
	size_t pos = *off, seg, end = 0, n = 0;
	unsigned hops = 0;

	seg = pos;

	for (;;) {
		uint8_t c;

		if (pos >= len)
			return -EBADMSG;
		c = msg[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (pos + 1 >= len || ++hops > 64)
				return -EBADMSG;
			target = (size_t)(c & 0x3f) << 8 | msg[pos + 1];
			if (target >= seg)
				return -EBADMSG;
			if (!end)
				end = pos + 2;
			pos = seg = target;
			continue;
		}
		if (c & 0xc0) /* 0x40 and 0x80: extended label types, never valid */
			return -EBADMSG;
		if (n + 1 + c > sizeof(out->wire) || (c && pos + 1 + c > len))
			return -EBADMSG;
		out->wire[n] = c;
		memcpy(out->wire + n + 1, msg + pos + 1, c);
		n += 1 + (size_t)c;
		pos += 1 + (size_t)c;
		if (!c)
			break;
	}
	out->len = (uint8_t)n;
	*off = end ? end : pos;
	return 0;
}

int rb_net_dns_name_from_text(const char *text, struct rb_net_dns_name *out)
{
	size_t tlen = strlen(text), n = 0;

	if (tlen && text[tlen - 1] == '.')
		tlen--;
	if (!tlen)
		return -EINVAL;
	for (size_t i = 0; i <= tlen;) {
		size_t l = 0;

		while (i + l < tlen && text[i + l] != '.')
			l++;
		if (!l || l > 63 || n + 1 + l + 1 > sizeof(out->wire))
			return -EINVAL;
		out->wire[n++] = (uint8_t)l;
		for (size_t k = 0; k < l; k++)
			out->wire[n++] = lower((uint8_t)text[i + k]);
		i += l + 1;
	}
	out->wire[n++] = 0;
	out->len = (uint8_t)n;
	return 0;
}

int rb_net_dns_query_parse(const uint8_t *msg, size_t len, struct rb_net_dns_query *q)
{
	size_t off = HDR;

	memset(q, 0, sizeof(*q));
	if (len < HDR)
		return -EBADMSG;
	q->id = get16(msg);
	q->flags = get16(msg + 2);
	if (q->flags & F_QR) /* an answer sent to the proxy: never answer it back */
		return -EBADMSG;
	if ((q->flags >> 11 & 0xf) != 0)
		return -EOPNOTSUPP;
	if (get16(msg + 4) != 1 || get16(msg + 6) || get16(msg + 8) || get16(msg + 10) > 1)
		return -EINVAL;
	if (rb_net_dns_name_parse(msg, len, &off, &q->qname) < 0 || off + 4 > len)
		return -EINVAL;
	q->qtype = get16(msg + off);
	q->qclass = get16(msg + off + 2);
	off += 4;
	q->question_end = off;
	q->udp_size = 512;
	if (get16(msg + 10)) {
		/* only EDNS: root name, OPT, payload size, ttl, rdata within the message */
		if (off + 11 > len || msg[off] != 0 || get16(msg + off + 1) != T_OPT ||
		    off + 11 + get16(msg + off + 9) > len)
			return -EINVAL;
		q->edns = true;
		q->udp_size = get16(msg + off + 3);
		if (q->udp_size < 512)
			q->udp_size = 512;
		if (q->udp_size > 4096)
			q->udp_size = 4096;
		off += 11 + (size_t)get16(msg + off + 9);
	}
	return off == len ? 0 : -EINVAL;
}

/* --- policy ------------------------------------------------------------------------------ */

static bool pattern_chars_ok(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

int rb_net_dns_rules_new(const struct rb_net_dns_policy *policy, struct rb_net_dns_rules **out,
			 struct rb_error *err)
{
	_cleanup_free_ struct rb_net_dns_rules *r = calloc(1, sizeof(*r));

	if (!r)
		return rb_error_sys(err, ENOMEM, RB_INTERNAL_ERROR, "dns policy");
	r->default_allow = policy->default_allow;
	r->pat = calloc(policy->n_domains + 1, sizeof(*r->pat));
	r->cidr = calloc(policy->n_cidrs + 1, sizeof(*r->cidr));
	if (!r->pat || !r->cidr) {
		rb_net_dns_rules_free(TAKE_PTR(r));
		return rb_error_sys(err, ENOMEM, RB_INTERNAL_ERROR, "dns policy");
	}
	for (size_t i = 0; i < policy->n_domains; i++) {
		const char *d = policy->domains[i];
		struct rb_net_dns_pattern *p = &r->pat[i];

		p->wildcard = !strncmp(d, "*.", 2);
		if (!pattern_chars_ok(d + (p->wildcard ? 2 : 0)) ||
		    rb_net_dns_name_from_text(d + (p->wildcard ? 2 : 0), &p->name) < 0) {
			rb_net_dns_rules_free(TAKE_PTR(r));
			return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
					    "network.egress.allow: \"%s\" is not a domain name or "
					    "*.domain pattern",
					    d);
		}
		r->n_pat++;
	}
	for (size_t i = 0; i < policy->n_cidrs; i++) {
		const struct rb_net_dns_cidr *c = &policy->cidrs[i];

		if ((c->family != AF_INET || c->prefix > 32) &&
		    (c->family != AF_INET6 || c->prefix > 128)) {
			rb_net_dns_rules_free(TAKE_PTR(r));
			return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
					    "network.egress.allow: CIDR %zu: bad family or prefix",
					    i);
		}
		r->cidr[r->n_cidr++] = *c;
	}
	*out = TAKE_PTR(r);
	return 0;
}

void rb_net_dns_rules_free(struct rb_net_dns_rules *rules)
{
	if (!rules)
		return;
	free(rules->pat);
	free(rules->cidr);
	free(rules);
}

static bool pattern_match(const struct rb_net_dns_pattern *p, const struct rb_net_dns_name *n)
{
	size_t o = 0;

	if (!p->wildcard)
		return name_eq(&p->name, n);
	/* each proper suffix of the name that starts at a label */
	while (o < n->len && n->wire[o]) {
		o += 1 + (size_t)n->wire[o];
		if (n->len - o == p->name.len && wire_eq(n->wire + o, p->name.wire, p->name.len))
			return true;
	}
	return false;
}

bool rb_net_dns_rules_match(const struct rb_net_dns_rules *rules,
			    const struct rb_net_dns_name *name, size_t *rule)
{
	for (size_t i = 0; i < rules->n_pat; i++)
		if (pattern_match(&rules->pat[i], name)) {
			*rule = i;
			return true;
		}
	*rule = RB_NET_DNS_RULE_DEFAULT;
	return false;
}

enum rb_net_dns_verdict rb_net_dns_rules_verdict(const struct rb_net_dns_rules *rules,
						 const struct rb_net_dns_query *q, size_t *rule)
{
	bool match = rb_net_dns_rules_match(rules, &q->qname, rule);

	/* ANY, AXFR, IXFR, MAILB, MAILA: never, whatever the name */
	if (q->qclass != C_IN || (q->qtype >= 251 && q->qtype <= 255))
		return RB_NET_DNS_REFUSE;
	return match || rules->default_allow ? RB_NET_DNS_FORWARD : RB_NET_DNS_REFUSE;
}

static bool in_prefix(const uint8_t *a, const uint8_t *p, unsigned bits)
{
	size_t bytes = bits / 8;
	unsigned rest = bits % 8;

	if (memcmp(a, p, bytes))
		return false;
	return !rest || ((a[bytes] ^ p[bytes]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static const struct {
	uint8_t p[4];
	uint8_t bits;
} special4[] = {
    {{0, 0, 0, 0}, 8},	    {{10, 0, 0, 0}, 8},	    {{100, 64, 0, 0}, 10},
    {{127, 0, 0, 0}, 8},    {{169, 254, 0, 0}, 16}, {{172, 16, 0, 0}, 12},
    {{192, 168, 0, 0}, 16}, {{224, 0, 0, 0}, 4},    {{240, 0, 0, 0}, 4},
};

static const struct {
	uint8_t p[16];
	uint8_t bits;
} special6[] = {
    {{0}, 8},		/* ::, ::1, IPv4-compatible (mapped: see below) */
    {{0xfe, 0x80}, 10}, /* link-local */
    {{0xfe, 0xc0}, 10}, /* site-local, deprecated */
    {{0xfc}, 7},	/* unique-local */
    {{0xff}, 8},	/* multicast */
};

static bool covered(const struct rb_net_dns_rules *r, int family, const uint8_t *a)
{
	for (size_t i = 0; i < r->n_cidr; i++)
		if (r->cidr[i].family == family && in_prefix(a, r->cidr[i].addr, r->cidr[i].prefix))
			return true;
	return false;
}

static bool special_v4(const uint8_t *a)
{
	for (size_t i = 0; i < RB_ARRAY_SIZE(special4); i++)
		if (in_prefix(a, special4[i].p, special4[i].bits))
			return true;
	return false;
}

bool rb_net_dns_rules_addr_blocked(const struct rb_net_dns_rules *rules, int family,
				   const uint8_t *addr)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};

	if (family == AF_INET)
		return special_v4(addr) && !covered(rules, AF_INET, addr);
	if (covered(rules, AF_INET6, addr))
		return false;
	/* an IPv4 address in IPv6 clothes is judged as the IPv4 address it reaches */
	if (!memcmp(addr, mapped, 12) || !memcmp(addr, nat64, 12))
		return special_v4(addr + 12) && !covered(rules, AF_INET, addr + 12);
	for (size_t i = 0; i < RB_ARRAY_SIZE(special6); i++)
		if (in_prefix(addr, special6[i].p, special6[i].bits))
			return true;
	return false;
}

/* --- answers ----------------------------------------------------------------------------- */

struct rr {
	struct rb_net_dns_name owner;
	uint16_t type, class;
	uint32_t ttl;
	size_t rdoff, rdlen;
	bool auth; /* in the authority section */
};

struct writer {
	uint8_t *out;
	size_t cap, pos;
	bool full;
	size_t n_ptr;
	struct {
		const struct rb_net_dns_name *name;
		uint16_t off;
	} ptr[MAX_PTRS];
};

static void w_bytes(struct writer *w, const void *p, size_t n)
{
	if (w->full || w->pos + n > w->cap) {
		w->full = true;
		return;
	}
	memcpy(w->out + w->pos, p, n);
	w->pos += n;
}

static void w_16(struct writer *w, uint16_t v)
{
	uint8_t b[2];

	put16(b, v);
	w_bytes(w, b, 2);
}

/* A name, as a pointer to an equal one written before when there is one. name must outlive w. */
static void w_name(struct writer *w, const struct rb_net_dns_name *name)
{
	for (size_t i = 0; i < w->n_ptr; i++)
		if (name_eq(w->ptr[i].name, name)) {
			w_16(w, (uint16_t)(0xc000 | w->ptr[i].off));
			return;
		}
	if (w->n_ptr < MAX_PTRS && w->pos < 0x3fff && name->len > 1) {
		w->ptr[w->n_ptr].name = name;
		w->ptr[w->n_ptr++].off = (uint16_t)w->pos;
	}
	w_bytes(w, name->wire, name->len);
}

static int skip_rr(const uint8_t *msg, size_t len, size_t *off, struct rr *rr)
{
	if (rb_net_dns_name_parse(msg, len, off, &rr->owner) < 0 || *off + 10 > len)
		return -EBADMSG;
	rr->type = get16(msg + *off);
	rr->class = get16(msg + *off + 2);
	rr->ttl = get32(msg + *off + 4);
	if (rr->ttl > 0x7fffffff) /* RFC 2181: the top bit set means 0 */
		rr->ttl = 0;
	rr->rdlen = get16(msg + *off + 8);
	rr->rdoff = *off + 10;
	if (rr->rdoff + rr->rdlen > len)
		return -EBADMSG;
	*off = rr->rdoff + rr->rdlen;
	return 0;
}

/* A name inside rdata at *off, which must not run past the rdata's end. */
static int rdata_name(const uint8_t *msg, const struct rr *rr, size_t *off,
		      struct rb_net_dns_name *out)
{
	if (rb_net_dns_name_parse(msg, rr->rdoff + rr->rdlen, off, out) < 0)
		return -EBADMSG;
	return 0;
}

static void w_rr_head(struct writer *w, const struct rr *rr, uint32_t ttl, size_t rdlen)
{
	uint8_t b[8];

	w_name(w, &rr->owner);
	put16(b, rr->type);
	put16(b + 2, rr->class);
	put32(b + 4, ttl);
	w_bytes(w, b, 8);
	w_16(w, (uint16_t)rdlen);
}

/* rdata whose names may be compressed (RFC 3597 §4: only RFC 1035's types), written out
 * uncompressed; other types are copied as they are. Returns -EBADMSG, or 1 to drop the type. */
static int w_rdata(struct writer *w, const uint8_t *msg, const struct rr *rr, uint32_t ttl)
{
	struct rb_net_dns_name a, b;
	size_t off = rr->rdoff, end = rr->rdoff + rr->rdlen;

	switch (rr->type) {
	case T_NS:
	case T_CNAME:
	case T_PTR:
		if (rdata_name(msg, rr, &off, &a) < 0 || off != end)
			return -EBADMSG;
		w_rr_head(w, rr, ttl, a.len);
		w_bytes(w, a.wire, a.len);
		return 0;
	case T_MX:
		off += 2;
		if (off > end || rdata_name(msg, rr, &off, &a) < 0 || off != end)
			return -EBADMSG;
		w_rr_head(w, rr, ttl, 2 + (size_t)a.len);
		w_bytes(w, msg + rr->rdoff, 2);
		w_bytes(w, a.wire, a.len);
		return 0;
	case T_SOA:
		if (rdata_name(msg, rr, &off, &a) < 0 || rdata_name(msg, rr, &off, &b) < 0 ||
		    off + 20 != end)
			return -EBADMSG;
		w_rr_head(w, rr, ttl, (size_t)a.len + b.len + 20);
		w_bytes(w, a.wire, a.len);
		w_bytes(w, b.wire, b.len);
		w_bytes(w, msg + off, 20);
		return 0;
	case 3: /* MD, MF, MB, MG, MR, MINFO: obsolete, compressed, dropped */
	case 4:
	case 7:
	case 8:
	case 9:
	case 14:
		return 1;
	default:
		w_rr_head(w, rr, ttl, rr->rdlen);
		w_bytes(w, msg + rr->rdoff, rr->rdlen);
		return 0;
	}
}

static size_t chain_find(const struct rb_net_dns_name *chain, size_t n,
			 const struct rb_net_dns_name *name)
{
	for (size_t i = 0; i < n; i++)
		if (name_eq(&chain[i], name))
			return i;
	return n;
}

static void w_header(struct writer *w, const struct rb_net_dns_query *q, uint16_t flags,
		     uint16_t an, uint16_t ns)
{
	uint8_t h[HDR];

	put16(h, q->id);
	put16(h + 2, flags);
	put16(h + 4, 1);
	put16(h + 6, an);
	put16(h + 8, ns);
	put16(h + 10, q->edns ? 1 : 0);
	w_bytes(w, h, HDR);
	w_name(w, &q->qname);
	w_16(w, q->qtype);
	w_16(w, q->qclass);
}

static void w_opt(struct writer *w, const struct rb_net_dns_query *q)
{
	static const uint8_t opt[11] = {0, 0, T_OPT, EDNS_PAYLOAD >> 8, EDNS_PAYLOAD & 0xff};

	if (q->edns)
		w_bytes(w, opt, sizeof(opt));
}

/* One answer record of the chain: an address checked, passed on, then written. */
static int keep_rr(struct rb_net_dns_rewrite *rw, struct writer *w, const uint8_t *msg,
		   const struct rr *rr)
{
	uint32_t ceil = rw->ttl_ceiling_s, ttl = rr->ttl < ceil ? rr->ttl : ceil;
	int family = rr->type == T_A ? AF_INET : AF_INET6;

	if (rr->type == T_A || rr->type == T_AAAA) {
		uint32_t set_ttl = ttl < rw->ttl_floor_s ? rw->ttl_floor_s : ttl;

		if (rr->rdlen != (rr->type == T_A ? 4u : 16u))
			return -EBADMSG;
		if (rb_net_dns_rules_addr_blocked(rw->rules, family, msg + rr->rdoff)) {
			rw->rebinding++;
			return 1;
		}
		if (rw->allow_addr &&
		    rw->allow_addr(rw->sandbox_ud, rw->rule, family, msg + rr->rdoff, set_ttl) < 0)
			return 1;
	}
	return w_rdata(w, msg, rr, ttl);
}

ssize_t rb_net_dns_rewrite_answer(struct rb_net_dns_rewrite *rw, uint16_t id, const uint8_t *msg,
				  size_t len, uint8_t *out, size_t cap)
{
	const struct rb_net_dns_query *q = rw->q;
	_cleanup_free_ struct rr *rr = NULL;
	struct rb_net_dns_name chain[MAX_CHAIN], qn;
	struct writer w = {.out = out, .cap = cap};
	size_t off = HDR, n_rr = 0, n_chain = 1, an_count, ns_count;
	uint16_t flags, an = 0, ns = 0;
	bool grew = true;

	if (len < HDR || get16(msg) != id)
		return -EAGAIN;
	flags = get16(msg + 2);
	if (!(flags & F_QR) || (flags >> 11 & 0xf) || get16(msg + 4) != 1)
		return -EAGAIN;
	if (rb_net_dns_name_parse(msg, len, &off, &qn) < 0 || off + 4 > len ||
	    !name_eq(&qn, &q->qname) || get16(msg + off) != q->qtype ||
	    get16(msg + off + 2) != q->qclass)
		return -EAGAIN;
	if (flags & F_TC)
		return -EMSGSIZE;
	off += 4;
	an_count = get16(msg + 6);
	ns_count = get16(msg + 8);
	rr = calloc(MAX_RR, sizeof(*rr));
	if (!rr)
		return -ENOMEM;
	/* the answer and authority sections: the first MAX_RR records of class IN, and of the
	 * authority only SOA (its TTL is the client's negative-caching time) */
	for (size_t i = 0; i < an_count + ns_count && n_rr < MAX_RR; i++) {
		struct rr *r = &rr[n_rr];

		if (skip_rr(msg, len, &off, r) < 0)
			return -EBADMSG;
		r->auth = i >= an_count;
		if (r->class == C_IN && (!r->auth || r->type == T_SOA))
			n_rr++;
	}
	/* the CNAME chain from the question's name, in whatever order the records come */
	chain[0] = q->qname;
	while (grew) {
		grew = false;
		for (size_t i = 0; i < n_rr; i++) {
			struct rb_net_dns_name t;
			size_t o = rr[i].rdoff;

			if (rr[i].auth || rr[i].type != T_CNAME ||
			    chain_find(chain, n_chain, &rr[i].owner) == n_chain)
				continue;
			if (rdata_name(msg, &rr[i], &o, &t) < 0)
				return -EBADMSG;
			if (chain_find(chain, n_chain, &t) == n_chain && n_chain < MAX_CHAIN) {
				chain[n_chain++] = t;
				grew = true;
			}
		}
	}
	w_header(&w, q, 0, 0, 0);
	for (size_t i = 0; i < n_rr; i++) {
		int r;

		if (!rr[i].auth && (chain_find(chain, n_chain, &rr[i].owner) == n_chain ||
				    (rr[i].type != T_CNAME && rr[i].type != q->qtype)))
			continue;
		r = keep_rr(rw, &w, msg, &rr[i]);
		if (r < 0)
			return r;
		if (r == 0 && rr[i].auth)
			ns++;
		else if (r == 0)
			an++;
	}
	w_opt(&w, q);
	if (w.full) {
		/* too big for the client's UDP limit: TC, and it asks again over TCP */
		w = (struct writer){.out = out, .cap = cap};
		w_header(&w, q, F_QR | F_TC | (q->flags & F_RD) | F_RA, 0, 0);
		w_opt(&w, q);
		return w.full ? -ENOSPC : (ssize_t)w.pos;
	}
	put16(out + 2, (uint16_t)(F_QR | (q->flags & F_RD) | F_RA | (flags & 0xf)));
	put16(out + 6, an);
	put16(out + 8, ns);
	return (ssize_t)w.pos;
}

size_t rb_net_dns_error_answer(const struct rb_net_dns_query *q, int rcode, uint8_t *out,
			       size_t cap)
{
	struct writer w = {.out = out, .cap = cap};

	w_header(&w, q, (uint16_t)(F_QR | (q->flags & F_RD) | F_RA | rcode), 0, 0);
	w_opt(&w, q);
	return w.full ? 0 : w.pos;
}

size_t rb_net_dns_header_answer(const uint8_t *msg, size_t len, int rcode, uint8_t *out, size_t cap)
{
	/* no question to echo: the header alone, with the client's ID, opcode and RD */
	if (len < 4 || cap < HDR)
		return 0;
	memset(out, 0, HDR);
	memcpy(out, msg, 2);
	put16(out + 2, (uint16_t)(F_QR | (get16(msg + 2) & (F_RD | 0x7800)) | F_RA | rcode));
	return HDR;
}
