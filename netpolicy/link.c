/*
 * Links, addresses and routes over rtnetlink (libnl-route). The host end is configured from the
 * daemon's own namespace; the sandbox's end from a short-lived thread that joins the sandbox's
 * network namespace, so no other thread of the daemon ever changes namespace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "common/cleanup.h"
#include "net-internal.h"

static int nl_errno(int nlerr)
{
	switch (-nlerr) {
	case NLE_EXIST:
		return EEXIST;
	case NLE_NOMEM:
		return ENOMEM;
	case NLE_PERM:
		return EPERM;
	case NLE_NODEV:
	case NLE_OBJ_NOTFOUND:
		return ENODEV;
	case NLE_BUSY:
		return EBUSY;
	case NLE_INVAL:
		return EINVAL;
	case NLE_OPNOTSUPP:
		return EOPNOTSUPP;
	default:
		return EIO;
	}
}

static int nl_fail(struct rb_error *err, int nlerr, const char *what, const char *name)
{
	return rb_error_set(err, nl_errno(nlerr), RB_INTERNAL_ERROR, "%s %s: %s", what, name,
			    nl_geterror(nlerr));
}

static int route_socket(struct nl_sock **out, struct rb_error *err)
{
	struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (!sk)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(sk);
		return nl_fail(err, r, "connect to", "rtnetlink");
	}
	*out = sk;
	return 0;
}

int rb_net_route_open(struct rb_net_ctx *ctx, struct rb_error *err)
{
	return ctx->route ? 0 : route_socket(&ctx->route, err);
}

int rb_net_netns_open(pid_t pid, int pidfd, int *out, struct rb_error *err)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "open %s", path);
	/* the pid could have been reused between the spawn and the open: the pidfd says */
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0) {
		int e = errno;

		close(fd);
		return rb_error_sys(err, e, RB_INTERNAL_ERROR,
				    "the sandbox's first process is gone");
	}
	*out = fd;
	return 0;
}

static int link_up(struct nl_sock *sk, const char *name, int *ifindex, struct rb_error *err)
{
	struct rtnl_link *link = NULL, *change;
	int r = rtnl_link_get_kernel(sk, 0, name, &link);

	if (r < 0)
		return nl_fail(err, r, "find link", name);
	if (ifindex)
		*ifindex = rtnl_link_get_ifindex(link);
	change = rtnl_link_alloc();
	if (!change) {
		rtnl_link_put(link);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	rtnl_link_set_flags(change, IFF_UP);
	r = rtnl_link_change(sk, link, change, 0);
	rtnl_link_put(change);
	rtnl_link_put(link);
	return r < 0 ? nl_fail(err, r, "bring up", name) : 0;
}

static struct nl_addr *ip4(uint32_t addr, unsigned bits)
{
	uint32_t be = htonl(addr);
	struct nl_addr *a = nl_addr_build(AF_INET, &be, 4);

	if (a)
		nl_addr_set_prefixlen(a, (int)bits);
	return a;
}

static int add_addr(struct nl_sock *sk, int ifindex, uint32_t addr, unsigned bits, const char *name,
		    struct rb_error *err)
{
	struct rtnl_addr *a = rtnl_addr_alloc();
	struct nl_addr *local = ip4(addr, bits);
	int r = -NLE_NOMEM;

	if (a && local) {
		rtnl_addr_set_ifindex(a, ifindex);
		rtnl_addr_set_family(a, AF_INET);
		r = rtnl_addr_set_local(a, local);
		if (r == 0)
			r = rtnl_addr_add(sk, a, 0);
	}
	if (local)
		nl_addr_put(local);
	if (a)
		rtnl_addr_put(a);
	return r < 0 ? nl_fail(err, r, "add an address to", name) : 0;
}

static int add_default_route(struct nl_sock *sk, int ifindex, uint32_t gateway,
			     struct rb_error *err)
{
	struct rtnl_route *rt = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *dst = ip4(0, 0), *gw = ip4(gateway, 32);
	int r = -NLE_NOMEM;

	if (rt && nh && dst && gw) {
		rtnl_route_set_family(rt, AF_INET);
		rtnl_route_set_table(rt, RT_TABLE_MAIN);
		rtnl_route_set_protocol(rt, RTPROT_STATIC);
		rtnl_route_set_scope(rt, RT_SCOPE_UNIVERSE);
		rtnl_route_set_type(rt, RTN_UNICAST);
		r = rtnl_route_set_dst(rt, dst);
		rtnl_route_nh_set_ifindex(nh, ifindex);
		rtnl_route_nh_set_gateway(nh, gw);
		rtnl_route_add_nexthop(rt, nh);
		nh = NULL; /* the route owns it */
		if (r == 0)
			r = rtnl_route_add(sk, rt, NLM_F_CREATE | NLM_F_EXCL);
	}
	if (nh)
		rtnl_route_nh_free(nh);
	if (dst)
		nl_addr_put(dst);
	if (gw)
		nl_addr_put(gw);
	if (rt)
		rtnl_route_put(rt);
	return r < 0 ? nl_fail(err, r, "add the default route via", "eth0") : 0;
}

struct ns_job {
	int netns_fd;
	const struct rb_net_addrs *addrs;
	struct rb_error *err;
	int result;
	int *sock; /* not NULL: make a TCP socket there instead of configuring */
};

static void *ns_thread(void *arg)
{
	struct ns_job *j = arg;
	struct nl_sock *sk = NULL;
	int ifindex = 0, r;

	/* a thread of its own, never given back: it ends here */
	if (setns(j->netns_fd, CLONE_NEWNET) < 0) {
		j->result = rb_error_sys(j->err, errno, RB_INTERNAL_ERROR,
					 "join the sandbox's network namespace");
		return NULL;
	}
	if (j->sock) {
		/* a socket belongs to the namespace it was made in, whichever thread uses it */
		*j->sock = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		j->result = *j->sock < 0 ? rb_error_sys(j->err, errno, RB_INTERNAL_ERROR,
							"a socket in the sandbox's namespace")
					 : 0;
		return NULL;
	}
	r = route_socket(&sk, j->err);
	if (r == 0)
		r = link_up(sk, "lo", NULL, j->err);
	if (r == 0 && j->addrs) {
		r = link_up(sk, "eth0", &ifindex, j->err);
		if (r == 0)
			r = add_addr(sk, ifindex, j->addrs->address, j->addrs->bits, "eth0",
				     j->err);
		if (r == 0)
			r = add_default_route(sk, ifindex, j->addrs->gateway, j->err);
	}
	if (sk)
		nl_socket_free(sk);
	j->result = r;
	return NULL;
}

static int ns_run(struct ns_job *j)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	/* no signal of the daemon's is ever handled in the sandbox's namespace */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&t, &attr, ns_thread, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r != 0)
		return rb_error_set(j->err, r, RB_RESOURCE_EXHAUSTED, "start a thread: %s",
				    strerror(r));
	pthread_join(t, NULL);
	return j->result;
}

int rb_net_netns_configure(int netns_fd, const struct rb_net_addrs *addrs, struct rb_error *err)
{
	struct ns_job j = {netns_fd, addrs, err, 0, NULL};

	return ns_run(&j);
}

int rb_net_netns_socket(int netns_fd, int *out, struct rb_error *err)
{
	struct ns_job j = {netns_fd, NULL, err, 0, out};

	*out = -1;
	return ns_run(&j);
}

int rb_net_veth_create(struct rb_net_ctx *ctx, const char *ifname, int netns_fd,
		       const struct rb_net_addrs *addrs, struct rb_error *err)
{
	struct rtnl_link *veth = rtnl_link_veth_alloc(), *peer;
	int ifindex = 0, r;

	if (!veth)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	peer = rtnl_link_veth_get_peer(veth);
	rtnl_link_set_name(veth, ifname);
	rtnl_link_set_name(peer, "eth0");
	rtnl_link_set_ns_fd(peer, netns_fd);
	r = rtnl_link_add(ctx->route, veth, NLM_F_CREATE | NLM_F_EXCL);
	if (r == -NLE_EXIST) {
		/* a stale host end of ours (its sandbox gone with a daemon that died) */
		struct rb_error ignored;

		rb_net_veth_delete(ctx, ifname, &ignored);
		r = rtnl_link_add(ctx->route, veth, NLM_F_CREATE | NLM_F_EXCL);
	}
	rtnl_link_veth_release(veth);
	if (r < 0)
		return nl_fail(err, r, "create the veth pair", ifname);
	r = link_up(ctx->route, ifname, &ifindex, err);
	if (r == 0)
		r = add_addr(ctx->route, ifindex, addrs->gateway, addrs->bits, ifname, err);
	if (r < 0) {
		struct rb_error ignored;

		rb_net_veth_delete(ctx, ifname, &ignored);
	}
	return r;
}

int rb_net_veth_delete(struct rb_net_ctx *ctx, const char *ifname, struct rb_error *err)
{
	struct rtnl_link *link = rtnl_link_alloc();
	int r;

	if (!link)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	rtnl_link_set_name(link, ifname);
	r = rtnl_link_delete(ctx->route, link);
	rtnl_link_put(link);
	if (r < 0 && r != -NLE_NODEV && r != -NLE_OBJ_NOTFOUND)
		return nl_fail(err, r, "delete link", ifname);
	return 0;
}

/* ---- after a restart ---- */

/* The id the daemon's namespace gives the namespace of netns_fd (RTM_GETNSID). */
static int netns_id(int netns_fd, int32_t *out, struct rb_error *err)
{
	struct rtgenmsg g = {.rtgen_family = AF_UNSPEC};
	struct nlattr *tb[NETNSA_MAX + 1];
	struct sockaddr_nl peer;
	struct nl_sock *sk = NULL;
	struct nl_msg *msg = NULL;
	unsigned char *buf = NULL;
	struct nlmsghdr *hdr;
	int n, r = route_socket(&sk, err);

	if (r < 0)
		return r;
	nl_socket_disable_auto_ack(sk);
	msg = nlmsg_alloc_simple(RTM_GETNSID, NLM_F_REQUEST);
	r = !msg ? -NLE_NOMEM : nlmsg_append(msg, &g, sizeof(g), NLMSG_ALIGNTO);
	if (r == 0)
		r = nla_put_u32(msg, NETNSA_FD, (uint32_t)netns_fd);
	if (r == 0)
		r = nl_send_auto(sk, msg);
	n = r < 0 ? r : nl_recv(sk, &peer, &buf, NULL);
	hdr = (struct nlmsghdr *)buf;
	if (n < 0) {
		r = nl_fail(err, n, "ask for the id of", "the sandbox's network namespace");
	} else if (!nlmsg_ok(hdr, n) || hdr->nlmsg_type != RTM_NEWNSID ||
		   nlmsg_parse(hdr, sizeof(g), tb, NETNSA_MAX, NULL) < 0 || !tb[NETNSA_NSID]) {
		r = rb_error_set(err, EPROTO, RB_INTERNAL_ERROR,
				 "no id for the sandbox's network namespace");
	} else {
		*out = (int32_t)nla_get_u32(tb[NETNSA_NSID]);
		r = 0;
	}
	free(buf);
	nlmsg_free(msg);
	nl_socket_free(sk);
	return r;
}

/* The namespace's addresses are read once for all the sandboxes a restart takes back. */
static int has_addr(struct rb_net_ctx *ctx, int ifindex, uint32_t addr, bool *out,
		    struct rb_error *err)
{
	uint32_t be = htonl(addr);
	int r = ctx->addr_cache ? 0 : rtnl_addr_alloc_cache(ctx->route, &ctx->addr_cache);

	*out = false;
	if (r < 0)
		return nl_fail(err, r, "list the addresses of", "the daemon's namespace");
	for (struct nl_object *o = nl_cache_get_first(ctx->addr_cache); o && !*out;
	     o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(a);

		*out = rtnl_addr_get_ifindex(a) == ifindex && rtnl_addr_get_family(a) == AF_INET &&
		       local && nl_addr_get_len(local) == 4 &&
		       !memcmp(nl_addr_get_binary_addr(local), &be, 4);
	}
	return 0;
}

int rb_net_veth_find(struct rb_net_ctx *ctx, const char *ifname, int netns_fd,
		     const struct rb_net_addrs *addrs, bool *found, struct rb_error *err)
{
	struct rtnl_link *link = NULL;
	const char *type;
	int32_t peer_ns = -1, sb_ns = -1;
	bool gw = false;
	int r = rtnl_link_get_kernel(ctx->route, 0, ifname, &link);

	*found = false;
	if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
		return 0;
	if (r < 0)
		return nl_fail(err, r, "find link", ifname);
	type = rtnl_link_get_type(link);
	/* the peer's namespace as this one numbers it; asking for the link gave it a number */
	if (!type || strcmp(type, "veth") != 0 || rtnl_link_get_link_netnsid(link, &peer_ns) < 0)
		r = rb_error_set(err, EEXIST, RB_NETWORK_ERROR,
				 "%s is not a veth whose other end is in another namespace",
				 ifname);
	if (r == 0)
		r = netns_id(netns_fd, &sb_ns, err);
	if (r == 0 && (sb_ns < 0 || peer_ns != sb_ns))
		r = rb_error_set(err, EEXIST, RB_NETWORK_ERROR,
				 "the other end of %s is not in the sandbox's namespace", ifname);
	if (r == 0)
		r = has_addr(ctx, rtnl_link_get_ifindex(link), addrs->gateway, &gw, err);
	if (r == 0 && !gw)
		r = rb_error_set(err, EEXIST, RB_NETWORK_ERROR,
				 "%s does not have the sandbox's gateway address (was the "
				 "pool changed?)",
				 ifname);
	rtnl_link_put(link);
	*found = r == 0;
	return r;
}

int rb_net_links_sweep(struct rb_net_ctx *ctx, const uint32_t *keep, size_t n_keep,
		       struct rb_error *err)
{
	struct nl_cache *cache = NULL;
	int r = rtnl_link_alloc_cache(ctx->route, AF_UNSPEC, &cache);

	if (r < 0)
		return nl_fail(err, r, "list the links of", "the daemon's namespace");
	for (struct nl_object *o = nl_cache_get_first(cache); o && r == 0;
	     o = nl_cache_get_next(o)) {
		const char *name = rtnl_link_get_name((struct rtnl_link *)o);
		size_t len = strlen(RB_NET_IFPREFIX);
		char *end;
		unsigned long slot;
		bool kept = false;

		if (!name || strncmp(name, RB_NET_IFPREFIX, len) != 0 || name[len] < '0' ||
		    name[len] > '9')
			continue;
		slot = strtoul(name + len, &end, 10);
		if (*end)
			continue;
		for (size_t i = 0; i < n_keep && !kept; i++)
			kept = keep[i] == slot;
		if (!kept)
			r = rb_net_veth_delete(ctx, name, err);
	}
	nl_cache_free(cache);
	return r;
}
