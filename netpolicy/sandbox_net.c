/*
 * A sandbox's network from setup (or its adoption by a daemon that restarted) to teardown (or
 * its release to the next daemon), and the daemon-wide context. Two mechanisms sit behind
 * struct rb_net_ops: none (loopback only) and private (veth, NAT, nftables). Kernel state is
 * made in an order that never lets traffic through unfiltered: the nftables chains (keyed by the
 * interface's name) exist before the veth does, and the veth goes before the chains do. With the
 * DNS proxy, the chains are made with its port open on the gateway and DNS to anyone else
 * closed; the proxy binds once the veth gives the gateway its address, and stops listening
 * before the veth goes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>

#include "common/cleanup.h"
#include "net-internal.h"

int rb_net_ctx_new(const struct rb_net_config *cfg, struct rb_net_ctx **out, struct rb_error *err)
{
	struct rb_net_ctx *ctx = calloc(1, sizeof(*ctx));
	int r;

	if (!ctx)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	ctx->cfg = *cfg;
	ctx->seq = (uint32_t)getpid() << 16;
	pthread_mutex_init(&ctx->lock, NULL);
	r = rb_net_ctx_dns_start(ctx, err);
	if (r < 0) {
		rb_net_ctx_free(ctx);
		return rb_error_wrap(err, "starting the DNS proxy");
	}
	*out = ctx;
	return 0;
}

void rb_net_ctx_free(struct rb_net_ctx *ctx)
{
	if (!ctx)
		return;
	rb_net_denied_stop(ctx);
	rb_net_fwd_free(ctx->fwd); /* every port's listener and connection */
	rb_net_ctx_dns_stop(ctx);
	pthread_mutex_lock(&ctx->lock);
	if (!ctx->keep_table)
		rb_net_table_remove(ctx);
	if (ctx->nft)
		mnl_socket_close(ctx->nft);
	if (ctx->addr_cache)
		nl_cache_free(ctx->addr_cache);
	if (ctx->route)
		nl_socket_free(ctx->route);
	pthread_mutex_unlock(&ctx->lock);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx->watched);
	free(ctx);
}

const struct rb_net_config *rb_net_ctx_config(const struct rb_net_ctx *ctx)
{
	static struct rb_net_config defaults;

	if (ctx)
		return &ctx->cfg;
	if (!defaults.pool)
		rb_net_config_default(&defaults);
	return &defaults;
}

static bool policy_private(const struct rb_net_sandbox *ns)
{
	return ns->ops == &rb_net_ops_private;
}

/* ---- mode none: the namespace's loopback, nothing else ---- */

static int none_setup(struct rb_net_sandbox *ns, struct rb_error *err)
{
	return 0; /* the sandbox's first process brings its loopback up (isolation/spawn.c) */
}

static int none_adopt(struct rb_net_sandbox *ns, struct rb_error *err)
{
	return 0;
}

static void none_teardown(struct rb_net_sandbox *ns)
{
}

static int none_apply(struct rb_net_sandbox *ns, struct rb_error *err)
{
	return 0; /* nothing leaves the sandbox whatever the policy says */
}

static int none_denied(struct rb_net_sandbox *ns, cJSON *list, struct rb_error *err)
{
	return 0;
}

static int none_allow_addr(struct rb_net_sandbox *ns, int family, const void *addr, uint16_t port,
			   uint32_t ttl_s, struct rb_error *err)
{
	return rb_error_set(err, ENOTCONN, RB_INVALID_STATE, "the sandbox has no network");
}

const struct rb_net_ops rb_net_ops_none = {
    .name = "none",
    .setup = none_setup,
    .adopt = none_adopt,
    .teardown = none_teardown,
    .apply = none_apply,
    .denied = none_denied,
    .allow_addr = none_allow_addr,
};

/* ---- mode private ---- */

/*
 * Set up (adopt false) or take back what a previous daemon made (adopt true). Taken back, it
 * stays as it is: the table (its base chains' rules rebuilt in one transaction), the sandbox's
 * chains (their rules replaced from the record's policy in one transaction, so they are never
 * absent while the veth is there), its sets with their elements (addresses the proxy let in,
 * denied counts) and its veth. A veth that is not there is made, after the chains.
 */
static int private_start(struct rb_net_sandbox *ns, bool adopt, struct rb_error *err)
{
	struct rb_net_ctx *ctx = ns->ctx;
	bool found = false;
	int r;

	r = rb_net_pool_addrs(&ctx->cfg, ns->slot, &ns->addrs, err);
	if (r < 0)
		return r;
	snprintf(ns->ifname, sizeof(ns->ifname), RB_NET_IFPREFIX "%u", ns->slot);
	if (ctx->dns)
		ns->dns_port = 53; /* the chains are born with it open, and other DNS closed */
	pthread_mutex_lock(&ctx->lock);
	r = rb_net_table_ensure(ctx, adopt, err);
	if (r == 0)
		r = rb_net_route_open(ctx, err);
	if (r == 0 && adopt)
		r = rb_net_veth_find(ctx, ns->ifname, ns->netns_fd, &ns->addrs, &found, err);
	if (r == 0) {
		r = rb_net_rules_add(ns, adopt, err);
		if (r < 0)
			rb_error_wrap(err, "%s the sandbox's nftables chains",
				      adopt ? "rebuilding" : "adding");
	}
	ns->nft_made = r == 0;
	ns->link_made = r == 0 && found;
	if (r == 0 && !found) {
		r = rb_net_veth_create(ctx, ns->ifname, ns->netns_fd, &ns->addrs, err);
		ns->link_made = r == 0;
	}
	pthread_mutex_unlock(&ctx->lock);
	if (r == 0 && !found)
		r = rb_net_netns_configure(ns->netns_fd, &ns->addrs, err);
	if (r == 0 && ctx->dns)
		r = rb_net_sb_dns_add(ns, err);
	return r;
}

static int private_setup(struct rb_net_sandbox *ns, struct rb_error *err)
{
	return private_start(ns, false, err);
}

static int private_adopt(struct rb_net_sandbox *ns, struct rb_error *err)
{
	return private_start(ns, true, err);
}

static void private_teardown(struct rb_net_sandbox *ns)
{
	struct rb_net_ctx *ctx = ns->ctx;
	struct rb_error ignored;

	rb_net_sb_dns_remove(ns);
	pthread_mutex_lock(&ctx->lock);
	if (ns->link_made && rb_net_veth_delete(ctx, ns->ifname, &ignored) == 0)
		ns->link_made = false;
	if (ns->nft_made && rb_nft_open(ctx, &ignored) == 0 &&
	    rb_net_rules_remove(ns, &ignored) == 0)
		ns->nft_made = false;
	pthread_mutex_unlock(&ctx->lock);
}

static int private_apply(struct rb_net_sandbox *ns, struct rb_error *err)
{
	int r;

	pthread_mutex_lock(&ns->ctx->lock);
	r = rb_nft_open(ns->ctx, err);
	if (r == 0)
		r = rb_net_rules_replace(ns, err);
	pthread_mutex_unlock(&ns->ctx->lock);
	return r;
}

static int private_denied(struct rb_net_sandbox *ns, cJSON *list, struct rb_error *err)
{
	int r;

	pthread_mutex_lock(&ns->ctx->lock);
	r = rb_nft_open(ns->ctx, err);
	if (r == 0)
		r = rb_net_rules_denied(ns, list, err);
	pthread_mutex_unlock(&ns->ctx->lock);
	return r;
}

static int private_allow_addr(struct rb_net_sandbox *ns, int family, const void *addr,
			      uint16_t port, uint32_t ttl_s, struct rb_error *err)
{
	int r;

	pthread_mutex_lock(&ns->ctx->lock);
	r = rb_nft_open(ns->ctx, err);
	if (r == 0)
		r = rb_net_rules_allow_addr(ns, family, addr, port, ttl_s, err);
	pthread_mutex_unlock(&ns->ctx->lock);
	return r;
}

const struct rb_net_ops rb_net_ops_private = {
    .name = "private",
    .setup = private_setup,
    .adopt = private_adopt,
    .teardown = private_teardown,
    .apply = private_apply,
    .denied = private_denied,
    .allow_addr = private_allow_addr,
};

/* ---- the public face ---- */

/* Set up (adopt false) or take back a sandbox's network; prev: its ports before a restart. */
static int start(struct rb_net_ctx *ctx, struct rb_net_policy *policy, uint32_t slot, pid_t pid,
		 int pidfd, bool adopt, const struct rb_net_port *prev, size_t n_prev,
		 struct rb_net_sandbox **out, struct rb_error *err)
{
	struct rb_net_sandbox *ns = calloc(1, sizeof(*ns));
	int r;

	*out = NULL;
	if (!ns)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	if (!ctx && policy->mode == RB_NET_PRIVATE) {
		free(ns);
		return rb_error_set(err, ENOTSUP, RB_INVALID_CONFIG,
				    "network.mode private: this daemon has no networking");
	}
	pthread_mutex_init(&ns->lock, NULL);
	pthread_mutex_init(&ns->dns_lock, NULL);
	ns->ctx = ctx;
	ns->ops = policy->mode == RB_NET_PRIVATE ? &rb_net_ops_private : &rb_net_ops_none;
	ns->policy = *policy;
	memset(policy, 0, sizeof(*policy));
	ns->slot = slot;
	ns->pid = pid;
	ns->pidfd = pidfd;
	ns->netns_fd = -1;
	/* taken back, its past denials were reported by the daemon before */
	ns->denied_quiet = adopt;
	/* a policy already in force is taken back as it is, whether this daemon's proxy is on
	 * or not: without it, names do not resolve (DNS to other servers stays closed) */
	r = adopt ? 0 : rb_net_dns_check(ctx, &ns->policy, err);
	/* mode none needs nothing of the namespace: entering it costs a thread and a setns */
	if (r == 0 && policy_private(ns))
		r = rb_net_netns_open(pid, pidfd, &ns->netns_fd, err);
	if (r == 0)
		r = adopt ? ns->ops->adopt(ns, err) : ns->ops->setup(ns, err);
	if (r == 0) {
		pthread_mutex_lock(&ns->lock);
		r = rb_net_ports_open_policy(ns, prev, n_prev, err);
		pthread_mutex_unlock(&ns->lock);
		/* taken back, a running sandbox is not lost for a port it cannot have again: the
		 * port is missing from its list, and said so */
		if (r < 0 && adopt) {
			fprintf(stderr, "runbox: warning: taking back slot %u: %s\n", slot,
				err->msg);
			r = 0;
		}
	}
	if (r < 0) {
		rb_error_wrap(err, "%s network", ns->ops->name);
		rb_net_sandbox_teardown(ns);
		rb_net_sandbox_free(ns);
		return r;
	}
	*out = ns;
	return 0;
}

int rb_net_sandbox_setup(struct rb_net_ctx *ctx, struct rb_net_policy *policy, uint32_t slot,
			 pid_t pid, int pidfd, struct rb_net_sandbox **out, struct rb_error *err)
{
	return start(ctx, policy, slot, pid, pidfd, false, NULL, 0, out, err);
}

int rb_net_sandbox_adopt(struct rb_net_ctx *ctx, struct rb_net_policy *policy, uint32_t slot,
			 pid_t pid, int pidfd, const struct rb_net_port *prev, size_t n_prev,
			 struct rb_net_sandbox **out, struct rb_error *err)
{
	return start(ctx, policy, slot, pid, pidfd, true, prev, n_prev, out, err);
}

void rb_net_sandbox_teardown(struct rb_net_sandbox *ns)
{
	if (!ns)
		return;
	rb_net_denied_watch(ns, false);
	pthread_mutex_lock(&ns->lock);
	ns->torn_down = true;
	rb_net_ports_close_all(ns); /* no connection outlives the sandbox's network */
	ns->ops->teardown(ns);
	if (ns->netns_fd >= 0)
		close(ns->netns_fd);
	ns->netns_fd = -1;
	pthread_mutex_unlock(&ns->lock);
}

void rb_net_sandbox_release(struct rb_net_sandbox *ns)
{
	if (!ns)
		return;
	pthread_mutex_lock(&ns->lock);
	if (ns->link_made || ns->nft_made) {
		pthread_mutex_lock(&ns->ctx->lock);
		ns->ctx->keep_table = true;
		pthread_mutex_unlock(&ns->ctx->lock);
	}
	/* the veth and the chains stay for the next daemon; its ports and its DNS proxy
	 * registration are this daemon's, and go */
	ns->link_made = ns->nft_made = false;
	pthread_mutex_unlock(&ns->lock);
	rb_net_sandbox_teardown(ns);
}

int rb_net_ctx_sweep(struct rb_net_ctx *ctx, const uint32_t *keep, size_t n_keep,
		     struct rb_error *err)
{
	char owner[RB_NET_OWNER_MAX] = "";
	bool exists = false;
	int r;

	if (!ctx)
		return 0;
	pthread_mutex_lock(&ctx->lock);
	if (ctx->addr_cache) /* the adoptions are over: what they read is old */
		nl_cache_free(ctx->addr_cache);
	ctx->addr_cache = NULL;
	r = rb_nft_open(ctx, err);
	if (r == 0)
		r = rb_nft_table_exists(ctx, &exists, owner, err);
	/* another daemon's table, and the veths it filters, are left alone */
	if (r == 0 && exists && owner[0] && ctx->cfg.owner[0] && strcmp(owner, ctx->cfg.owner)) {
		pthread_mutex_unlock(&ctx->lock);
		return 0;
	}
	/* the veths first: no moment where one is there without its chains */
	if (r == 0)
		r = rb_net_route_open(ctx, err);
	if (r == 0)
		r = rb_net_links_sweep(ctx, keep, n_keep, err);
	if (r == 0 && exists && n_keep == 0) {
		ctx->table_ready = true; /* so that it goes, made by this daemon or not */
		rb_net_table_remove(ctx);
	} else if (r == 0 && exists) {
		r = rb_net_rules_sweep(ctx, keep, n_keep, err);
	}
	pthread_mutex_unlock(&ctx->lock);
	if (r < 0)
		return rb_error_wrap(err, "removing what earlier daemons left of their sandboxes' "
					  "networks");
	return 0;
}

void rb_net_sandbox_free(struct rb_net_sandbox *ns)
{
	if (!ns)
		return;
	rb_net_sandbox_teardown(ns);
	rb_net_policy_free(&ns->policy);
	free(ns->denied_seen);
	pthread_mutex_destroy(&ns->dns_lock);
	pthread_mutex_destroy(&ns->lock);
	free(ns);
}

static int gone(struct rb_error *err)
{
	return rb_error_set(err, ENOTCONN, RB_INVALID_STATE, "the sandbox's network is gone");
}

static void restore_egress(struct rb_net_sandbox *ns, struct rb_net_policy *old)
{
	free(ns->policy.allow);
	ns->policy.allow = old->allow;
	ns->policy.n_allow = old->n_allow;
	ns->policy.default_allow = old->default_allow;
	old->allow = NULL;
}

/*
 * The new policy in nftables and in the DNS proxy, or neither. While the two change, the
 * proxy drops addresses from its answers (rb_net_sb_dns_hold): one judged by the old policy
 * would enter the sets the batch has just flushed, and its ports would be read from the wrong
 * entries. ns->lock held.
 */
static int apply_egress(struct rb_net_sandbox *ns, struct rb_net_policy *old, struct rb_error *err)
{
	struct rb_net_dns_plan *plan = NULL;
	struct rb_error ignored;
	int r = rb_net_dns_check(ns->ctx, &ns->policy, err);

	if (r == 0 && ns->dns)
		r = rb_net_dns_plan_new(&ns->policy, &plan, err);
	if (r < 0)
		return r;
	rb_net_sb_dns_hold(ns, true);
	r = ns->ops->apply(ns, err);
	if (r == 0 && plan) {
		r = rb_net_sb_dns_swap(ns, plan, err);
		if (r == 0) {
			plan = NULL;
		} else { /* the proxy kept the old policy: so do the chains */
			restore_egress(ns, old);
			ns->ops->apply(ns, &ignored);
		}
	}
	rb_net_sb_dns_hold(ns, false);
	rb_net_dns_plan_free(plan);
	return r;
}

int rb_net_sandbox_set_egress(struct rb_net_sandbox *ns, const cJSON *body, struct rb_error *err)
{
	struct rb_net_policy old;
	int r;

	pthread_mutex_lock(&ns->lock);
	if (ns->torn_down) {
		pthread_mutex_unlock(&ns->lock);
		return gone(err);
	}
	old = ns->policy;
	old.allow = malloc((ns->policy.n_allow + 1) * sizeof(*old.allow));
	if (!old.allow) {
		pthread_mutex_unlock(&ns->lock);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	memcpy(old.allow, ns->policy.allow, ns->policy.n_allow * sizeof(*old.allow));
	r = rb_net_policy_parse_egress(body, &ns->policy, err);
	if (r == 0) {
		r = apply_egress(ns, &old, err);
		if (r < 0 && old.allow) /* all or nothing: the old policy still holds */
			restore_egress(ns, &old);
	}
	free(old.allow);
	pthread_mutex_unlock(&ns->lock);
	return r;
}

int rb_net_sandbox_set_dns_port(struct rb_net_sandbox *ns, uint16_t port, struct rb_error *err)
{
	uint16_t old;
	int r;

	pthread_mutex_lock(&ns->lock);
	if (ns->torn_down) {
		pthread_mutex_unlock(&ns->lock);
		return gone(err);
	}
	old = ns->dns_port;
	ns->dns_port = port;
	r = ns->ops->apply(ns, err);
	if (r < 0)
		ns->dns_port = old;
	pthread_mutex_unlock(&ns->lock);
	return r;
}

cJSON *rb_net_sandbox_policy_json(struct rb_net_sandbox *ns)
{
	cJSON *o;

	pthread_mutex_lock(&ns->lock);
	o = rb_net_policy_json(&ns->policy);
	pthread_mutex_unlock(&ns->lock);
	return o;
}

int rb_net_sandbox_addrs(const struct rb_net_sandbox *ns, struct rb_net_addrs *out)
{
	if (ns->ops != &rb_net_ops_private)
		return -ENOTCONN;
	*out = ns->addrs;
	return 0;
}

static void add_ip(cJSON *o, const char *key, uint32_t addr, bool have)
{
	char text[INET_ADDRSTRLEN];
	uint32_t be = htonl(addr);

	if (!have) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	inet_ntop(AF_INET, &be, text, sizeof(text));
	cJSON_AddStringToObject(o, key, text);
}

int rb_net_sandbox_info(struct rb_net_sandbox *ns, cJSON **out, struct rb_error *err)
{
	bool priv = ns->ops == &rb_net_ops_private;
	cJSON *o, *pol, *denied;
	int r = 0;

	pthread_mutex_lock(&ns->lock);
	pol = rb_net_policy_json(&ns->policy);
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "mode", cJSON_DetachItemFromObject(pol, "mode"));
	add_ip(o, "address", ns->addrs.address, priv);
	add_ip(o, "gateway", ns->addrs.gateway, priv);
	if (priv)
		cJSON_AddStringToObject(o, "interface", ns->ifname);
	cJSON_AddItemToObject(o, "egress", cJSON_DetachItemFromObject(pol, "egress"));
	cJSON_AddItemToObject(o, "ingress", cJSON_DetachItemFromObject(pol, "ingress"));
	denied = cJSON_AddArrayToObject(o, "denied");
	if (!ns->torn_down)
		r = ns->ops->denied(ns, denied, err);
	cJSON_AddItemToObject(o, "dns", rb_net_sb_dns_stats_json(ns));
	pthread_mutex_unlock(&ns->lock);
	cJSON_Delete(pol);
	if (r < 0) {
		cJSON_Delete(o);
		return r;
	}
	*out = o;
	return 0;
}

int rb_net_allow_addr(struct rb_net_sandbox *ns, int family, const void *addr, uint16_t port,
		      uint32_t ttl_s, struct rb_error *err)
{
	if (family != AF_INET && family != AF_INET6)
		return rb_error_set(err, EAFNOSUPPORT, RB_INTERNAL_ERROR,
				    "allow an address: family %d is not IPv4 or IPv6", family);
	if (__atomic_load_n(&ns->torn_down, __ATOMIC_ACQUIRE))
		return gone(err);
	/* not under ns->lock: a PATCH holds it while it waits for the same kernel lock, and the
	 * DNS proxy calls this from its loop; a late element after teardown fails on the set */
	return ns->ops->allow_addr(ns, family, addr, port, ttl_s, err);
}
