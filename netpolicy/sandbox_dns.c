/*
 * The DNS proxy (dns.h) wired to the sandboxes: one proxy per daemon, started with the
 * context; each private sandbox's resolv.conf names its gateway, where the proxy listens on port
 * 53 with a policy made from network.egress (domain patterns, CIDRs, the default). Every address
 * an answer lets through goes into the sandbox's nftables sets (rb_net_allow_addr), on the ports
 * its entries name.
 *
 * Locks: the proxy's loop calls dns_allow, which takes ns->dns_lock and then ctx->lock (in
 * rb_net_allow_addr). rb_net_dns_add/set/remove wait for that loop, so they are never called
 * with either of those held; ns->lock is fine (the loop never takes it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "dns.h"
#include "net-internal.h"

_Static_assert(RB_NET_MAX_DNS_UPSTREAMS == RB_NET_DNS_MAX_UPSTREAMS, "upstream limits differ");

int rb_net_dns_upstream_parse(const char *s, struct rb_net_config *cfg, struct rb_error *err)
{
	struct sockaddr_storage *ss;
	struct rb_net_entry e;

	if (cfg->n_dns_upstream >= RB_NET_MAX_DNS_UPSTREAMS)
		return rb_error_set(err, E2BIG, RB_INVALID_CONFIG, "at most %d DNS upstreams",
				    RB_NET_MAX_DNS_UPSTREAMS);
	if (rb_net_entry_parse(s, &e, err) < 0 || e.kind != RB_NET_ENTRY_CIDR ||
	    e.bits != (e.family == AF_INET ? 32u : 128u))
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "DNS upstream \"%.100s\" is not an address with an optional "
				    "port (10.0.0.1, 10.0.0.1:5353, [fd00::1]:53)",
				    s ? s : "");
	ss = &cfg->dns_upstream[cfg->n_dns_upstream++];
	memset(ss, 0, sizeof(*ss));
	if (e.family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(e.port ? e.port : 53);
		memcpy(&a->sin_addr, e.addr, 4);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(e.port ? e.port : 53);
		memcpy(&a->sin6_addr, e.addr, 16);
	}
	return 0;
}

/* ---- the plan ---- */

void rb_net_dns_plan_free(struct rb_net_dns_plan *plan)
{
	if (!plan)
		return;
	free(plan->domains);
	free(plan->cidrs);
	free(plan->pat);
	free(plan->ports);
	free(plan);
}

/* Most specific first: exact names, then wildcards, longer before shorter; so the ports of the
 * most specific matching entry apply, whatever the order they were given in. */
static int specificity(const void *a, const void *b)
{
	const struct rb_net_entry *x = *(const struct rb_net_entry *const *)a;
	const struct rb_net_entry *y = *(const struct rb_net_entry *const *)b;
	bool wx = x->domain[0] == '*', wy = y->domain[0] == '*';
	size_t lx = strlen(x->domain), ly = strlen(y->domain);
	int c;

	if (wx != wy)
		return wx ? 1 : -1;
	if (lx != ly)
		return lx > ly ? -1 : 1;
	c = strcmp(x->domain, y->domain);
	return c ? c : (x < y ? -1 : x > y); /* the given order among equals */
}

int rb_net_dns_plan_new(const struct rb_net_policy *p, struct rb_net_dns_plan **out,
			struct rb_error *err)
{
	_cleanup_free_ const struct rb_net_entry **doms = calloc(p->n_allow + 1, sizeof(*doms));
	struct rb_net_dns_plan *plan = calloc(1, sizeof(*plan));
	size_t nd = 0, np = 0;

	*out = NULL;
	if (plan) {
		plan->domains = calloc(p->n_allow + 1, sizeof(*plan->domains));
		plan->cidrs = calloc(p->n_allow + 1, sizeof(*plan->cidrs));
		plan->pat = calloc(p->n_allow + 1, sizeof(*plan->pat));
		plan->ports = calloc(p->n_allow + 1, sizeof(*plan->ports));
	}
	if (!doms || !plan || !plan->domains || !plan->cidrs || !plan->pat || !plan->ports) {
		rb_net_dns_plan_free(plan);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	for (size_t i = 0; i < p->n_allow; i++) {
		const struct rb_net_entry *e = &p->allow[i];

		if (e->kind == RB_NET_ENTRY_DOMAIN) {
			doms[nd++] = e;
			continue;
		}
		/* a CIDR lets a private answer through (rebinding), whatever its port */
		plan->cidrs[plan->policy.n_cidrs].family = e->family;
		memcpy(plan->cidrs[plan->policy.n_cidrs].addr, e->addr, 16);
		plan->cidrs[plan->policy.n_cidrs++].prefix = (uint8_t)e->bits;
	}
	qsort(doms, nd, sizeof(*doms), specificity);
	for (size_t i = 0, n = 0; i < nd; i++) {
		bool same = n > 0 && !strcmp(plan->domains[n - 1], doms[i]->domain);

		if (!same) {
			plan->domains[n] = doms[i]->domain;
			plan->pat[n].first = np;
			n++;
		}
		/* "example.com" and "example.com:443": any port; two ports: both */
		if (!doms[i]->port)
			plan->pat[n - 1].any = true;
		else
			plan->ports[np++] = doms[i]->port, plan->pat[n - 1].n++;
		plan->policy.n_domains = n;
	}
	plan->policy.domains = plan->domains;
	plan->policy.cidrs = plan->cidrs;
	plan->policy.default_allow = p->default_allow;
	*out = plan;
	return 0;
}

/* ---- the daemon's proxy ---- */

static int dns_allow(void *ud, size_t rule, int family, const void *addr, uint32_t ttl_s);

int rb_net_ctx_dns_start(struct rb_net_ctx *ctx, struct rb_error *err)
{
	struct rb_net_dns_config cfg = {.allow_addr = dns_allow};
	struct rb_error why;
	int r;

	memcpy(cfg.upstream, ctx->cfg.dns_upstream, sizeof(cfg.upstream));
	cfg.n_upstream = ctx->cfg.n_dns_upstream;
	r = cfg.n_upstream ? 0
			   : rb_net_dns_upstreams_from_resolv_conf("/etc/resolv.conf", &cfg, &why);
	if (r < 0) {
		/* no resolver to ask: private sandboxes keep the host's resolv.conf, and domain
		 * entries are refused (rb_net_dns_check) */
		snprintf(ctx->dns_off, sizeof(ctx->dns_off), "%s", why.msg);
		return 0;
	}
	return rb_net_dns_new(&cfg, &ctx->dns, err);
}

void rb_net_ctx_dns_stop(struct rb_net_ctx *ctx)
{
	rb_net_dns_free(ctx->dns); /* not under ctx->lock: its loop may be waiting for it */
	ctx->dns = NULL;
}

const char *rb_net_ctx_dns_off(const struct rb_net_ctx *ctx)
{
	return ctx && !ctx->dns && ctx->dns_off[0] ? ctx->dns_off : NULL;
}

int rb_net_dns_check(const struct rb_net_ctx *ctx, const struct rb_net_policy *p,
		     struct rb_error *err)
{
	if (p->mode != RB_NET_PRIVATE || (ctx && ctx->dns))
		return 0;
	for (size_t i = 0; i < p->n_allow; i++)
		if (p->allow[i].kind == RB_NET_ENTRY_DOMAIN)
			return rb_error_set(
			    err, ENOTSUP, RB_INVALID_CONFIG,
			    "field \"network.egress.allow[%zu]\": a domain needs the "
			    "daemon's DNS proxy, which is off (%s; see serve "
			    "--dns-upstream)",
			    i, ctx && ctx->dns_off[0] ? ctx->dns_off : "no upstream");
	return 0;
}

int rb_net_resolv_conf(const struct rb_net_ctx *ctx, const struct rb_net_policy *p, uint32_t slot,
		       char **out, struct rb_error *err)
{
	struct rb_net_addrs a;
	uint32_t gw;
	char ip[INET_ADDRSTRLEN];
	int r;

	*out = NULL;
	if (p->mode != RB_NET_PRIVATE || !ctx || !ctx->dns)
		return 0;
	r = rb_net_pool_addrs(&ctx->cfg, slot, &a, err);
	if (r < 0)
		return r;
	gw = htonl(a.gateway);
	inet_ntop(AF_INET, &gw, ip, sizeof(ip));
	if (asprintf(out, "# runbox: the DNS proxy on this sandbox's gateway\nnameserver %s\n",
		     ip) < 0) {
		*out = NULL;
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	return 0;
}

/* ---- a sandbox's part ---- */

/* The loop thread: an answer let addr through for the question's pattern `rule`. */
static int dns_allow(void *ud, size_t rule, int family, const void *addr, uint32_t ttl_s)
{
	struct rb_net_sandbox *ns = ud;
	uint16_t ports[RB_NET_MAX_ALLOW];
	size_t n = 0;
	bool any = false;
	struct rb_error err;
	int r = 0;

	/* a name resolved under default allow: the default already lets it through */
	if (rule == RB_NET_DNS_RULE_DEFAULT)
		return 0;
	pthread_mutex_lock(&ns->dns_lock);
	if (ns->dns_swapping || !ns->dns_plan || rule >= ns->dns_plan->policy.n_domains) {
		/* a policy swap under way: which policy judged this is not known, so the
		 * address is dropped from the answer rather than let in on the wrong ports */
		r = -EAGAIN;
	} else {
		any = ns->dns_plan->pat[rule].any;
		n = ns->dns_plan->pat[rule].n;
		memcpy(ports, ns->dns_plan->ports + ns->dns_plan->pat[rule].first,
		       n * sizeof(*ports));
	}
	pthread_mutex_unlock(&ns->dns_lock);
	if (r < 0)
		return r;
	if (any)
		return rb_net_allow_addr(ns, family, addr, 0, ttl_s, &err);
	for (size_t i = 0; i < n && r == 0; i++)
		r = rb_net_allow_addr(ns, family, addr, ports[i], ttl_s, &err);
	return r;
}

int rb_net_sb_dns_add(struct rb_net_sandbox *ns, struct rb_error *err)
{
	struct sockaddr_in gw = {.sin_family = AF_INET, .sin_port = htons(ns->dns_port)};
	struct rb_net_dns_plan *plan;
	int r;

	r = rb_net_dns_plan_new(&ns->policy, &plan, err);
	if (r < 0)
		return r;
	gw.sin_addr.s_addr = htonl(ns->addrs.gateway);
	pthread_mutex_lock(&ns->dns_lock);
	ns->dns_plan = plan;
	pthread_mutex_unlock(&ns->dns_lock);
	r = rb_net_dns_add_sandbox(ns->ctx->dns, (const struct sockaddr *)&gw, &plan->policy, ns,
				   &ns->dns, err);
	if (r < 0)
		return rb_error_wrap(err, "starting the sandbox's DNS proxy");
	return 0;
}

void rb_net_sb_dns_remove(struct rb_net_sandbox *ns)
{
	rb_net_dns_remove_sandbox(ns->dns); /* after it, dns_allow never sees ns again */
	ns->dns = NULL;
	pthread_mutex_lock(&ns->dns_lock);
	rb_net_dns_plan_free(ns->dns_plan);
	ns->dns_plan = NULL;
	pthread_mutex_unlock(&ns->dns_lock);
}

void rb_net_sb_dns_hold(struct rb_net_sandbox *ns, bool hold)
{
	pthread_mutex_lock(&ns->dns_lock);
	ns->dns_swapping = hold;
	pthread_mutex_unlock(&ns->dns_lock);
}

int rb_net_sb_dns_swap(struct rb_net_sandbox *ns, struct rb_net_dns_plan *plan,
		       struct rb_error *err)
{
	struct rb_net_dns_plan *old;
	int r = rb_net_dns_set_policy(ns->dns, &plan->policy, err);

	if (r < 0)
		return rb_error_wrap(err, "the sandbox's DNS proxy");
	pthread_mutex_lock(&ns->dns_lock);
	old = ns->dns_plan;
	ns->dns_plan = plan;
	pthread_mutex_unlock(&ns->dns_lock);
	rb_net_dns_plan_free(old);
	return 0;
}

cJSON *rb_net_sb_dns_stats_json(const struct rb_net_sandbox *ns)
{
	struct rb_net_dns_stats st;
	cJSON *o;

	if (!ns->dns)
		return cJSON_CreateNull();
	rb_net_dns_stats(ns->dns, &st);
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "allowed", (double)st.allowed);
	cJSON_AddNumberToObject(o, "refused", (double)st.refused);
	cJSON_AddNumberToObject(o, "failed", (double)st.failed);
	cJSON_AddNumberToObject(o, "rebinding", (double)st.rebinding);
	cJSON_AddNumberToObject(o, "malformed", (double)st.malformed);
	cJSON_AddNumberToObject(o, "dropped", (double)st.dropped);
	return o;
}
