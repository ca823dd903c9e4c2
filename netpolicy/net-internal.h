/* Shared between netpolicy's own files (and its unit tests); nothing else includes this. */
#ifndef RB_NET_INTERNAL_H
#define RB_NET_INTERNAL_H

#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dns.h"
#include "netpolicy.h"

struct mnl_socket;
struct nl_cache;
struct nl_sock;
struct nftnl_rule;
struct nftnl_set;
struct nftnl_chain;
struct nftnl_table;
struct mnl_nlmsg_batch;

#define RB_NET_TABLE	"runbox"
#define RB_NET_IFPREFIX "rbv" /* host ends: rbv<slot> */

struct rb_net_ctx {
	struct rb_net_config cfg;
	pthread_mutex_t lock; /* the sockets below and the table's state */
	struct mnl_socket *nft;
	uint32_t nft_portid, seq, set_id;
	struct nl_sock *route; /* rtnetlink in the daemon's own namespace */
	/* its addresses, read once while a restart takes sandboxes back (rb_net_veth_find) */
	struct nl_cache *addr_cache;
	bool table_ready;	/* runbox's table is made (or taken back) by this daemon */
	bool keep_table;	/* a private sandbox is left to the next daemon: the table stays */
	struct rb_net_dns *dns; /* the DNS proxy; NULL when off (dns_off says why) */
	char dns_off[256];
	struct rb_net_fwd *fwd; /* the port forwarder, from the first exposed port */
	/* network.denied (denied.c): its thread reads the watched sandboxes' sets (this lock) */
	rb_net_denied_fn denied_fn;
	void *denied_ud;
	pthread_t denied_thread;
	pthread_cond_t denied_wake;
	bool denied_stop;
	struct rb_net_sandbox **watched;
	size_t n_watched;
};

struct rb_net_sandbox;
struct rb_net_seen;

/* A mechanism: private (veth + nftables) or none (loopback only). */
struct rb_net_ops {
	const char *name;
	int (*setup)(struct rb_net_sandbox *ns, struct rb_error *err);
	/* what a previous daemon set up for it, taken back (rebuilt where missing) */
	int (*adopt)(struct rb_net_sandbox *ns, struct rb_error *err);
	void (*teardown)(struct rb_net_sandbox *ns);
	/* the policy in ns changed: apply it (the caller holds ns->lock) */
	int (*apply)(struct rb_net_sandbox *ns, struct rb_error *err);
	int (*denied)(struct rb_net_sandbox *ns, cJSON *list, struct rb_error *err);
	int (*allow_addr)(struct rb_net_sandbox *ns, int family, const void *addr, uint16_t port,
			  uint32_t ttl_s, struct rb_error *err);
};

struct rb_net_sandbox {
	struct rb_net_ctx *ctx;
	const struct rb_net_ops *ops;
	pthread_mutex_t lock; /* policy, dns_port, the state flags */
	struct rb_net_policy policy;
	struct rb_net_addrs addrs;
	uint32_t slot;
	uint16_t dns_port;
	pid_t pid;
	int pidfd, netns_fd;
	char ifname[IFNAMSIZ];
	bool link_made, nft_made, torn_down;
	struct rb_net_dns_sandbox *dns; /* its registration with the DNS proxy */
	/* what the proxy's rule indexes mean; taken by the proxy's loop (sandbox_dns.c) */
	pthread_mutex_t dns_lock;
	struct rb_net_dns_plan *dns_plan;
	bool dns_swapping;
	/* its exposed ports (ns->lock); policy.ingress.allowPorts lists the same */
	struct rb_net_port exposed[RB_NET_MAX_PORTS];
	size_t n_exposed;
	char name[32]; /* the sandbox's id, for its events */
	/* what denied<N> held at the last look (denied.c's thread, under ctx->lock) */
	struct rb_net_seen *denied_seen;
	size_t n_denied_seen;
	bool denied_quiet; /* adopted: the next look only learns, it reports nothing */
};

extern const struct rb_net_ops rb_net_ops_none, rb_net_ops_private;

/* ---- link.c: links, addresses and routes (libnl-route) ---- */

/* Open the sandbox's network namespace (checking the pid is still the sandbox's). */
int rb_net_netns_open(pid_t pid, int pidfd, int *out, struct rb_error *err);
/* Inside the namespace: lo up; with addrs, eth0 up with its address and a default route. */
int rb_net_netns_configure(int netns_fd, const struct rb_net_addrs *addrs, struct rb_error *err);
/* The veth pair: ifname here (up, with the gateway address), "eth0" in the namespace. */
int rb_net_veth_create(struct rb_net_ctx *ctx, const char *ifname, int netns_fd,
		       const struct rb_net_addrs *addrs, struct rb_error *err);
int rb_net_veth_delete(struct rb_net_ctx *ctx, const char *ifname, struct rb_error *err);
/* A veth a previous daemon made: *found false when there is no ifname; an error when it is not
 * a veth whose peer is in the namespace of netns_fd with the gateway's address on it. */
int rb_net_veth_find(struct rb_net_ctx *ctx, const char *ifname, int netns_fd,
		     const struct rb_net_addrs *addrs, bool *found, struct rb_error *err);
/* Delete every rbv<slot> link whose slot keep does not hold. ctx->lock held. */
int rb_net_links_sweep(struct rb_net_ctx *ctx, const uint32_t *keep, size_t n_keep,
		       struct rb_error *err);
int rb_net_route_open(struct rb_net_ctx *ctx, struct rb_error *err); /* ctx->lock held */
/* A non-blocking TCP socket made inside the namespace (it stays in it, whoever uses it). */
int rb_net_netns_socket(int netns_fd, int *out, struct rb_error *err);

/* ---- forward.c: the port forwarder, one thread relaying every connection ---- */

struct rb_net_fwd;
struct sockaddr_in;
int rb_net_fwd_new(struct rb_net_fwd **out, struct rb_error *err);
void rb_net_fwd_free(struct rb_net_fwd *f); /* every listener and connection closed */
/* Listen on 127.0.0.1 at *host_port if not 0 and free, else at a port the kernel picks (into
 * *host_port), and relay each connection to target's address at port, or, with netns_fd >= 0
 * (duplicated), to 127.0.0.1:port from a socket made in that namespace. owner and port name it
 * for the close. */
int rb_net_fwd_open(struct rb_net_fwd *f, const void *owner, uint16_t port,
		    const struct sockaddr_in *target, int netns_fd, uint16_t *host_port,
		    struct rb_error *err);
/* The listener and its connections closed when this returns; -ENOENT when unknown. */
int rb_net_fwd_close(struct rb_net_fwd *f, const void *owner, uint16_t port);
void rb_net_fwd_close_all(struct rb_net_fwd *f, const void *owner);

/* ---- denied.c: network.denied ---- */

void rb_net_denied_stop(struct rb_net_ctx *ctx);
/* Watch ns's denied set (on) or stop (off); mode private only. */
void rb_net_denied_watch(struct rb_net_sandbox *ns, bool on);

/* ---- ports.c: a sandbox's exposed ports ---- */

/* Expose the policy's allowPorts (setup, adopt: prev says how they were exposed before, for
 * their host ports and times); ns->lock held. */
int rb_net_ports_open_policy(struct rb_net_sandbox *ns, const struct rb_net_port *prev,
			     size_t n_prev, struct rb_error *err);
/* Close every port of ns (teardown); ns->lock held. */
void rb_net_ports_close_all(struct rb_net_sandbox *ns);

/* ---- nft.c: batches over libmnl, expressions (libnftnl) ---- */

struct rb_nft_batch {
	char *buf;
	size_t cap;
	struct mnl_nlmsg_batch *b;
	struct rb_net_ctx *ctx;
	unsigned n_msgs;
	bool full;
};

int rb_nft_open(struct rb_net_ctx *ctx, struct rb_error *err); /* ctx->lock held */
int rb_nft_batch_start(struct rb_net_ctx *ctx, struct rb_nft_batch *b, struct rb_error *err);
void rb_nft_batch_free(struct rb_nft_batch *b);
/* Each takes and frees the object; type is NFT_MSG_NEW* / NFT_MSG_DEL*. */
void rb_nft_put_table(struct rb_nft_batch *b, int type, struct nftnl_table *t);
void rb_nft_put_chain(struct rb_nft_batch *b, int type, struct nftnl_chain *c);
void rb_nft_put_rule(struct rb_nft_batch *b, int type, struct nftnl_rule *r);
void rb_nft_put_set(struct rb_nft_batch *b, int type, struct nftnl_set *s);
void rb_nft_put_elems(struct rb_nft_batch *b, int type, struct nftnl_set *s, bool excl);
/* Send it and wait for every message's answer; the first error wins. ctx->lock held. */
int rb_nft_batch_commit(struct rb_nft_batch *b, struct rb_error *err);

struct nftnl_table *rb_nft_table(void);
struct nftnl_chain *rb_nft_chain(const char *name);
struct nftnl_set *rb_nft_set(const char *name);
struct nftnl_rule *rb_nft_rule(const char *chain);
void rb_nft_meta(struct nftnl_rule *r, uint32_t key, uint32_t dreg);
void rb_nft_cmp(struct nftnl_rule *r, uint32_t op, uint32_t sreg, const void *data, uint32_t len);
void rb_nft_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg);
void rb_nft_bitwise(struct nftnl_rule *r, uint32_t reg, const void *mask, uint32_t len);
void rb_nft_verdict(struct nftnl_rule *r, int verdict, const char *chain);
void rb_nft_reject(struct nftnl_rule *r, uint32_t type, uint8_t code);
void rb_nft_lookup(struct nftnl_rule *r, const char *set, uint32_t sreg, int dreg, bool inv);
void rb_nft_counter_update(struct nftnl_rule *r, const char *set, uint32_t sreg);
void rb_nft_imm_data(struct nftnl_rule *r, uint32_t dreg, const void *data, uint32_t len);
void rb_nft_masq(struct nftnl_rule *r);
/* matchers */
void rb_nft_match_nfproto(struct nftnl_rule *r, uint8_t proto);
void rb_nft_match_l4(struct nftnl_rule *r, uint8_t proto, bool neq);
/* ip saddr/daddr (is_src) within addr/bits (network order); neq: not within */
void rb_nft_match_ip4(struct nftnl_rule *r, bool is_src, uint32_t addr_be, unsigned bits, bool neq);
void rb_nft_match_dport(struct nftnl_rule *r, uint16_t port);
void rb_nft_match_ct_est(struct nftnl_rule *r); /* ct state established,related */
void rb_nft_match_ct_not_est(struct nftnl_rule *r);
/* iifname: exact, or a prefix when prefix is true */
void rb_nft_match_iifname(struct nftnl_rule *r, const char *name, bool prefix);

/* Dump set's elements: fn(key, key_len, packets, ud) for each. ctx->lock held. */
typedef void (*rb_nft_elem_fn)(const void *key, uint32_t key_len, uint64_t packets, void *ud);
int rb_nft_set_dump(struct rb_net_ctx *ctx, const char *set, rb_nft_elem_fn fn, void *ud,
		    struct rb_error *err);
/* Whether runbox's table exists, and its owner mark (RB_NET_OWNER_MAX bytes; "" for none).
 * ctx->lock held. */
#define RB_NET_OWNER_MAX sizeof(((struct rb_net_config *)0)->owner)
int rb_nft_table_exists(struct rb_net_ctx *ctx, bool *out, char *owner, struct rb_error *err);
/* The owner mark on a table about to be made: its comment, as `nft list tables` shows it. */
void rb_nft_table_mark(struct nftnl_table *t, const char *owner);
/* 0 when the table is absent, unmarked or this daemon's; else an error naming its owner. */
int rb_net_table_check_owner(struct rb_net_ctx *ctx, struct rb_error *err);
/* The names of the table's chains (NFT_MSG_GETCHAIN) or sets (NFT_MSG_GETSET): fn(name, ud)
 * for each. ctx->lock held. */
typedef void (*rb_nft_name_fn)(const char *name, void *ud);
int rb_nft_list(struct rb_net_ctx *ctx, int type, rb_nft_name_fn fn, void *ud,
		struct rb_error *err);

/* ---- nft_rules.c: runbox's table and each sandbox's chains ---- */

/* Make runbox's table and turn forwarding on. One left by an earlier daemon is replaced, or
 * with keep (sandboxes to take back) kept as it is but for its own chains' rules, rebuilt in
 * the same transaction. ctx->lock held. */
int rb_net_table_ensure(struct rb_net_ctx *ctx, bool keep, struct rb_error *err);
void rb_net_table_remove(struct rb_net_ctx *ctx);
/* The sandbox's chains, sets and map elements, in one batch. With keep, those that exist stay
 * (sets with their elements) and its chains' rules are replaced in that batch. ctx->lock held. */
int rb_net_rules_add(struct rb_net_sandbox *ns, bool keep, struct rb_error *err);
/* Its filter chains rebuilt from ns->policy in one batch (the DNS sets flushed). */
int rb_net_rules_replace(struct rb_net_sandbox *ns, struct rb_error *err);
int rb_net_rules_remove(struct rb_net_sandbox *ns, struct rb_error *err);
/* Remove the chains, sets and map elements of every slot keep does not hold, in one batch.
 * ctx->lock held. */
int rb_net_rules_sweep(struct rb_net_ctx *ctx, const uint32_t *keep, size_t n_keep,
		       struct rb_error *err);
int rb_net_rules_allow_addr(struct rb_net_sandbox *ns, int family, const void *addr, uint16_t port,
			    uint32_t ttl_s, struct rb_error *err);
int rb_net_rules_denied(struct rb_net_sandbox *ns, cJSON *list, struct rb_error *err);

/* ---- sandbox_dns.c: the DNS proxy wired to the sandboxes ---- */

/* A policy compiled for the proxy, and what each of its patterns (the proxy's rule index) lets
 * through: any port, or the ports of the entries that named it. */
struct rb_net_dns_plan {
	struct rb_net_dns_policy policy;
	const char **domains;
	struct rb_net_dns_cidr *cidrs;
	struct {
		bool any;
		size_t first, n; /* ports[first .. first + n) */
	} * pat;
	uint16_t *ports;
};

/* Start the daemon's proxy (ctx->dns); with no upstream it stays off and says why. */
int rb_net_ctx_dns_start(struct rb_net_ctx *ctx, struct rb_error *err);
void rb_net_ctx_dns_stop(struct rb_net_ctx *ctx);
/* The proxy's policy from a network policy: its domains (most specific first, duplicates
 * merged), CIDRs and default, and for each pattern the ports its entries allow. */
int rb_net_dns_plan_new(const struct rb_net_policy *p, struct rb_net_dns_plan **out,
			struct rb_error *err);
void rb_net_dns_plan_free(struct rb_net_dns_plan *plan);
/* Register the sandbox at gateway:dns_port with its policy (neither ns->dns_lock nor
 * ctx->lock held, here and below). */
int rb_net_sb_dns_add(struct rb_net_sandbox *ns, struct rb_error *err);
void rb_net_sb_dns_remove(struct rb_net_sandbox *ns);
/* While held, addresses in answers are dropped (a swap: which policy judged them is unknown). */
void rb_net_sb_dns_hold(struct rb_net_sandbox *ns, bool hold);
/* Swap the proxy's policy; on success the plan is the sandbox's. */
int rb_net_sb_dns_swap(struct rb_net_sandbox *ns, struct rb_net_dns_plan *plan,
		       struct rb_error *err);
/* {allowed, refused, failed, rebinding, malformed, dropped}, or null without the proxy */
cJSON *rb_net_sb_dns_stats_json(const struct rb_net_sandbox *ns);

#endif
