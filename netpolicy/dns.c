/*
 * The DNS proxy's API (dns.h): configuration, sandboxes in and out, policy swaps. The loop
 * (dns-loop.c) owns everything once it runs; these calls hand it a command through a queue and
 * an eventfd and wait until it is done, so a swap or a removal is complete when they return.
 */
#include "dns-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/cleanup.h"

static const char *sa_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, ntohs(a6->sin6_port));
	} else {
		inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, ntohs(a4->sin_port));
	}
	return buf;
}

static int run_cmd(struct rb_net_dns *dns, struct cmd *cmd)
{
	return rb_net_mailbox_send(&dns->mb, &cmd->msg);
}

/* --- the API ---------------------------------------------------------------------------- */

int rb_net_dns_upstreams_from_resolv_conf(const char *path, struct rb_net_dns_config *cfg,
					  struct rb_error *err)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[512];

	if (!f)
		return rb_error_sys(err, errno, RB_INVALID_CONFIG, "dns proxy: %s", path);
	cfg->n_upstream = 0;
	while (cfg->n_upstream < RB_NET_DNS_MAX_UPSTREAMS && fgets(line, sizeof(line), f)) {
		struct sockaddr_storage *ss = &cfg->upstream[cfg->n_upstream];
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		char *s = line + strspn(line, " \t"), *scope;

		if (strncmp(s, "nameserver", 10) || (s[10] != ' ' && s[10] != '\t'))
			continue;
		s += 10;
		s += strspn(s, " \t");
		s[strcspn(s, " \t\r\n#;")] = '\0';
		scope = strchr(s, '%');
		if (scope)
			*scope++ = '\0';
		memset(ss, 0, sizeof(*ss));
		if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
			a4->sin_family = AF_INET;
			a4->sin_port = htons(53);
			cfg->n_upstream++;
		} else if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
			a6->sin6_family = AF_INET6;
			a6->sin6_port = htons(53);
			a6->sin6_scope_id = scope ? if_nametoindex(scope) : 0;
			if (scope && !a6->sin6_scope_id)
				a6->sin6_scope_id = (uint32_t)strtoul(scope, NULL, 10);
			cfg->n_upstream++;
		}
	}
	if (!cfg->n_upstream)
		return rb_error_set(err, ENOENT, RB_INVALID_CONFIG,
				    "dns proxy: no nameserver in %s", path);
	return 0;
}

int rb_net_dns_new(const struct rb_net_dns_config *cfg, struct rb_net_dns **out,
		   struct rb_error *err)
{
	_cleanup_free_ struct rb_net_dns *dns = calloc(1, sizeof(*dns));
	struct epoll_event ev = {.events = EPOLLIN};
	sigset_t all, old;
	int r;

	if (!dns)
		return rb_error_sys(err, ENOMEM, RB_INTERNAL_ERROR, "dns proxy");
	dns->cfg = *cfg;
	if (!dns->cfg.n_upstream &&
	    (r = rb_net_dns_upstreams_from_resolv_conf("/etc/resolv.conf", &dns->cfg, err)) < 0)
		return r;
	if (dns->cfg.n_upstream > RB_NET_DNS_MAX_UPSTREAMS)
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "dns proxy: too many upstreams");
	for (size_t i = 0; i < dns->cfg.n_upstream; i++)
		if (dns->cfg.upstream[i].ss_family != AF_INET &&
		    dns->cfg.upstream[i].ss_family != AF_INET6)
			return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
					    "dns proxy: upstream %zu is not IPv4 or IPv6", i);
	if (!dns->cfg.ttl_floor_s)
		dns->cfg.ttl_floor_s = 30;
	if (!dns->cfg.ttl_ceiling_s)
		dns->cfg.ttl_ceiling_s = 3600;
	if (dns->cfg.ttl_ceiling_s < dns->cfg.ttl_floor_s)
		dns->cfg.ttl_ceiling_s = dns->cfg.ttl_floor_s;
	if (!dns->cfg.timeout_ms)
		dns->cfg.timeout_ms = 2000;
	if (!dns->cfg.max_inflight)
		dns->cfg.max_inflight = 64;
	if (!dns->cfg.max_tcp)
		dns->cfg.max_tcp = 16;
	dns->next_due = UINT64_MAX;
	dns->epfd = epoll_create1(EPOLL_CLOEXEC);
	r = rb_net_mailbox_init(&dns->mb);
	if (dns->epfd < 0 || r < 0) {
		r = rb_error_sys(err, r < 0 ? -r : errno, RB_INTERNAL_ERROR, "dns proxy: epoll");
		rb_net_dns_free(TAKE_PTR(dns));
		return r;
	}
	dns->w_wake = (struct watch){K_WAKE, dns};
	ev.data.ptr = &dns->w_wake;
	epoll_ctl(dns->epfd, EPOLL_CTL_ADD, dns->mb.evfd, &ev);
	/* signals stay with the daemon's own threads */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&dns->thread, NULL, rb_net_dns_loop, dns);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		rb_net_dns_free(TAKE_PTR(dns));
		return rb_error_sys(err, r, RB_INTERNAL_ERROR, "dns proxy: thread");
	}
	dns->started = true;
	*out = TAKE_PTR(dns);
	return 0;
}

void rb_net_dns_free(struct rb_net_dns *dns)
{
	if (!dns)
		return;
	if (dns->started) {
		struct cmd stop = {.op = CMD_STOP};

		run_cmd(dns, &stop);
		pthread_join(dns->thread, NULL);
		rb_net_dns_close_all(dns);
	}
	if (dns->epfd >= 0)
		close(dns->epfd);
	rb_net_mailbox_destroy(&dns->mb);
	free(dns);
}

static int open_listeners(struct rb_net_dns_sandbox *sb, const struct sockaddr *addr,
			  struct rb_error *err)
{
	struct sockaddr_storage want = {0};
	socklen_t len =
	    addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	char name[INET6_ADDRSTRLEN + 8];
	int one = 1;

	if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)
		return rb_error_set(err, EAFNOSUPPORT, RB_INVALID_CONFIG,
				    "dns proxy: listen address is not IPv4 or IPv6");
	memcpy(&want, addr, len);
	sa_str(&want, name, sizeof(name));
	/* port 0: UDP picks one, TCP takes the same (again, if it is taken for TCP) */
	for (int tries = 0;; tries++) {
		_cleanup_close_ int u =
		    socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		_cleanup_close_ int t =
		    socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		socklen_t got = sizeof(sb->addr);

		if (u < 0 || t < 0)
			return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "dns proxy: socket");
		if (addr->sa_family == AF_INET6) {
			setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
			setsockopt(t, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		}
		setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(u, (const struct sockaddr *)&want, len) < 0)
			return rb_error_sys(err, errno, RB_NETWORK_ERROR,
					    "dns proxy: bind %s (udp)", name);
		getsockname(u, (struct sockaddr *)&sb->addr, &got);
		if (bind(t, (const struct sockaddr *)&sb->addr, len) < 0) {
			if (errno == EADDRINUSE && tries < 8 &&
			    ((const struct sockaddr_in *)addr)->sin_port == 0)
				continue;
			return rb_error_sys(err, errno, RB_NETWORK_ERROR,
					    "dns proxy: bind %s (tcp)", name);
		}
		if (listen(t, 64) < 0)
			return rb_error_sys(err, errno, RB_NETWORK_ERROR, "dns proxy: listen %s",
					    name);
		sb->udp_fd = TAKE_FD(u);
		sb->tcp_fd = TAKE_FD(t);
		return 0;
	}
}

int rb_net_dns_add_sandbox(struct rb_net_dns *dns, const struct sockaddr *listen_addr,
			   const struct rb_net_dns_policy *policy, void *sandbox_ud,
			   struct rb_net_dns_sandbox **out, struct rb_error *err)
{
	_cleanup_free_ struct rb_net_dns_sandbox *sb = calloc(1, sizeof(*sb));
	struct cmd add = {.op = CMD_ADD};
	int r;

	if (!sb)
		return rb_error_sys(err, ENOMEM, RB_INTERNAL_ERROR, "dns proxy");
	sb->dns = dns;
	sb->ud = sandbox_ud;
	sb->w_udp = (struct watch){K_UDP, sb};
	sb->w_tcp = (struct watch){K_LISTEN, sb};
	sb->udp_fd = sb->tcp_fd = -1;
	r = rb_net_dns_rules_new(policy, &sb->rules, err);
	if (r < 0)
		return r;
	r = open_listeners(sb, listen_addr, err);
	if (r == 0) {
		add.sb = sb;
		r = run_cmd(dns, &add);
		if (r < 0) {
			close(sb->udp_fd);
			close(sb->tcp_fd);
			rb_error_sys(err, -r, RB_INTERNAL_ERROR, "dns proxy: epoll");
		}
	}
	if (r < 0) {
		rb_net_dns_rules_free(sb->rules);
		return r;
	}
	*out = TAKE_PTR(sb);
	return 0;
}

int rb_net_dns_set_policy(struct rb_net_dns_sandbox *sb, const struct rb_net_dns_policy *policy,
			  struct rb_error *err)
{
	struct cmd set = {.op = CMD_SET, .sb = sb};
	int r = rb_net_dns_rules_new(policy, &set.rules, err);

	if (r < 0)
		return r;
	run_cmd(sb->dns, &set);
	rb_net_dns_rules_free(set.rules); /* the old ones */
	return 0;
}

void rb_net_dns_remove_sandbox(struct rb_net_dns_sandbox *sb)
{
	struct cmd rm = {.op = CMD_REMOVE, .sb = sb};

	if (sb)
		run_cmd(sb->dns, &rm);
}

void rb_net_dns_stats(const struct rb_net_dns_sandbox *sb, struct rb_net_dns_stats *out)
{
	out->allowed = sb->allowed;
	out->refused = sb->refused;
	out->failed = sb->failed;
	out->malformed = sb->malformed;
	out->dropped = sb->dropped;
	out->rebinding = sb->rebinding;
}

void rb_net_dns_sandbox_addr(const struct rb_net_dns_sandbox *sb, struct sockaddr_storage *out)
{
	*out = sb->addr;
}
