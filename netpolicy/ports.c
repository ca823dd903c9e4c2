/*
 * A sandbox's ingress ports: each exposed port is a listener of the daemon's forwarder
 * (forward.c) on the host's loopback. ingress.allowPorts in the policy always lists the ports
 * exposed, so the Sandbox object shows them and a daemon that adopts the sandbox opens them
 * again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "net-internal.h"

static int fwd_of(struct rb_net_ctx *ctx, struct rb_net_fwd **out, struct rb_error *err)
{
	int r = 0;

	if (!ctx)
		return rb_error_set(err, ENOTSUP, RB_INVALID_STATE,
				    "this daemon has no networking: ports cannot be exposed");
	pthread_mutex_lock(&ctx->lock);
	if (!ctx->fwd)
		r = rb_net_fwd_new(&ctx->fwd, err);
	*out = ctx->fwd;
	pthread_mutex_unlock(&ctx->lock);
	return r;
}

/* policy.ports := the exposed ports */
static int sync_policy(struct rb_net_sandbox *ns, struct rb_error *err)
{
	uint16_t *ports = realloc(ns->policy.ports, (RB_NET_MAX_PORTS + 1) * sizeof(*ports));

	if (!ports)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	for (size_t i = 0; i < ns->n_exposed; i++)
		ports[i] = ns->exposed[i].port;
	ns->policy.ports = ports;
	ns->policy.n_ports = ns->n_exposed;
	return 0;
}

static struct rb_net_port *find(struct rb_net_sandbox *ns, uint16_t port)
{
	for (size_t i = 0; i < ns->n_exposed; i++)
		if (ns->exposed[i].port == port)
			return &ns->exposed[i];
	return NULL;
}

/* ns->lock held. prev: how it was exposed before a restart (its host port is asked for again,
 * its time kept), or NULL. */
static int expose(struct rb_net_sandbox *ns, uint16_t port, const struct rb_net_port *prev,
		  struct rb_net_port *out, bool *created, struct rb_error *err)
{
	struct sockaddr_in target = {.sin_family = AF_INET};
	struct rb_net_port *p = find(ns, port);
	struct rb_net_fwd *fwd = NULL;
	int netns_fd = -1, r;

	*created = false;
	if (p) {
		*out = *p;
		return 0;
	}
	if (port == 0)
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "field \"port\" must be a number from 1 to 65535");
	if (ns->torn_down)
		return rb_error_set(err, ENOTCONN, RB_INVALID_STATE,
				    "the sandbox's network is gone");
	if (ns->n_exposed >= RB_NET_MAX_PORTS)
		return rb_error_set(err, ENOSPC, RB_RESOURCE_EXHAUSTED,
				    "a sandbox exposes at most %d ports", RB_NET_MAX_PORTS);
	r = fwd_of(ns->ctx, &fwd, err);
	if (r < 0)
		return r;
	if (ns->ops == &rb_net_ops_private) {
		target.sin_addr.s_addr = htonl(ns->addrs.address);
	} else {
		/* no route in: connections start inside its namespace */
		if (ns->netns_fd < 0) {
			r = rb_net_netns_open(ns->pid, ns->pidfd, &ns->netns_fd, err);
			if (r < 0)
				return r;
		}
		netns_fd = ns->netns_fd;
	}
	p = &ns->exposed[ns->n_exposed];
	p->port = port;
	p->host_port = prev ? prev->host_port : 0;
	p->exposed_ms = prev ? prev->exposed_ms : rb_now_ms();
	r = rb_net_fwd_open(fwd, ns, port, &target, netns_fd, &p->host_port, err);
	if (r < 0)
		return r;
	ns->n_exposed++;
	r = sync_policy(ns, err);
	if (r < 0) {
		rb_net_fwd_close(fwd, ns, port);
		ns->n_exposed--;
		return r;
	}
	*out = *p;
	*created = true;
	return 0;
}

int rb_net_ports_open_policy(struct rb_net_sandbox *ns, const struct rb_net_port *prev,
			     size_t n_prev, struct rb_error *err)
{
	size_t n = ns->policy.n_ports;
	_cleanup_free_ uint16_t *want = malloc((n + 1) * sizeof(*want));
	struct rb_net_port p;
	bool created;

	if (!want)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	memcpy(want, ns->policy.ports, n * sizeof(*want));
	for (size_t i = 0; i < n; i++) {
		const struct rb_net_port *was = NULL;
		int r;

		for (size_t j = 0; j < n_prev; j++)
			if (prev[j].port == want[i])
				was = &prev[j];
		r = expose(ns, want[i], was, &p, &created, err);

		if (r < 0)
			return rb_error_wrap(err, "network.ingress.allowPorts[%zu]", i);
	}
	return sync_policy(ns, err);
}

void rb_net_ports_close_all(struct rb_net_sandbox *ns)
{
	if (ns->n_exposed && ns->ctx)
		rb_net_fwd_close_all(ns->ctx->fwd, ns);
	ns->n_exposed = 0;
}

int rb_net_sandbox_port_expose(struct rb_net_sandbox *ns, uint16_t port, struct rb_net_port *out,
			       bool *created, struct rb_error *err)
{
	int r;

	pthread_mutex_lock(&ns->lock);
	r = expose(ns, port, NULL, out, created, err);
	pthread_mutex_unlock(&ns->lock);
	return r;
}

int rb_net_sandbox_port_close(struct rb_net_sandbox *ns, uint16_t port, struct rb_error *err)
{
	struct rb_net_port *p;
	int r = 0;

	pthread_mutex_lock(&ns->lock);
	p = find(ns, port);
	if (!p) {
		pthread_mutex_unlock(&ns->lock);
		return rb_error_set(err, ENOENT, RB_NOT_FOUND, "port %u is not exposed", port);
	}
	rb_net_fwd_close(ns->ctx->fwd, ns, port);
	memmove(p, p + 1, (size_t)(&ns->exposed[ns->n_exposed] - (p + 1)) * sizeof(*p));
	ns->n_exposed--;
	r = sync_policy(ns, err);
	pthread_mutex_unlock(&ns->lock);
	return r;
}

size_t rb_net_sandbox_ports(struct rb_net_sandbox *ns, struct rb_net_port *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&ns->lock);
	n = ns->n_exposed;
	memcpy(out, ns->exposed, (n < max ? n : max) * sizeof(*out));
	pthread_mutex_unlock(&ns->lock);
	return n;
}

cJSON *rb_net_port_json(const struct rb_net_port *p)
{
	cJSON *o = cJSON_CreateObject();
	char url[64], when[32];

	snprintf(url, sizeof(url), "http://127.0.0.1:%u", p->host_port);
	rb_format_time(p->exposed_ms, when);
	cJSON_AddNumberToObject(o, "port", p->port);
	cJSON_AddStringToObject(o, "url", url);
	cJSON_AddStringToObject(o, "exposedAt", when);
	return o;
}
