/*
 * Network policy: each sandbox's network, set up from the daemon after the sandbox's agent runs.
 *
 * - mode none: the sandbox's own network namespace with only its loopback, up.
 * - mode private: a veth pair, "rbv<slot>" on the host and "eth0" in the sandbox, a /30 from the
 *   pool (the host end is the sandbox's gateway), a default route, NAT (masquerade) out of the
 *   host's default route, and egress filtering in runbox's own nftables table `inet runbox`, on
 *   the host side of the veth where nothing in the sandbox can change it.
 *
 * Whatever the policy, a sandbox never reaches the host's own addresses (but for the DNS
 * proxy's port on its gateway), link-local and metadata addresses, or other sandboxes; IPv6 is
 * closed. Denied connections are rejected (TCP reset, ICMP admin-prohibited) and counted per
 * destination. docs/network.md has the design; the mechanisms sit behind a table of operations.
 */
#ifndef RB_NETPOLICY_H
#define RB_NETPOLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "common/error.h"

enum rb_net_mode { RB_NET_NONE, RB_NET_PRIVATE };

#define RB_NET_MAX_DNS_UPSTREAMS 4

/* The daemon's network settings. */
struct rb_net_config {
	enum rb_net_mode default_mode;
	uint32_t pool;	    /* the pool's network address, host byte order */
	unsigned pool_bits; /* its prefix length, 8..29 */
	/* never write net.ipv4.ip_forward: private mode is refused while it is off */
	bool keep_ip_forward;
	/* the DNS proxy's upstream resolvers; none: the nameservers of /etc/resolv.conf */
	struct sockaddr_storage dns_upstream[RB_NET_MAX_DNS_UPSTREAMS];
	size_t n_dns_upstream;
	/* who this daemon is (its state directory), written on the nftables table it makes: a
	 * daemon of another state directory in the same network namespace leaves that table and
	 * its veths alone, and refuses private sandboxes. "": no mark, no check. */
	char owner[128];
};

/* cfg->owner from a state directory (a long path keeps its start and a hash of the whole). */
void rb_net_config_owner(struct rb_net_config *cfg, const char *state_dir);

/* private, 10.88.0.0/16, ip_forward enabled on first use */
void rb_net_config_default(struct rb_net_config *cfg);
int rb_net_mode_parse(const char *s, enum rb_net_mode *out);
const char *rb_net_mode_name(enum rb_net_mode mode);
/* "10.88.0.0/16": INVALID_CONFIG for anything else than an IPv4 network of /8 to /29. */
int rb_net_pool_parse(const char *cidr, struct rb_net_config *cfg, struct rb_error *err);
/* "10.0.0.53", "10.0.0.53:5353", "[fd00::53]:53": appended to cfg's DNS upstreams. */
int rb_net_dns_upstream_parse(const char *s, struct rb_net_config *cfg, struct rb_error *err);

/* A sandbox's addresses: a /30 per slot, host byte order. */
struct rb_net_addrs {
	uint32_t network, gateway, address;
	unsigned bits; /* 30 */
};
/* RESOURCE_EXHAUSTED when the pool has no /30 for this slot. */
int rb_net_pool_addrs(const struct rb_net_config *cfg, uint32_t slot, struct rb_net_addrs *out,
		      struct rb_error *err);

/* ---- policy ---- */

enum rb_net_entry_kind { RB_NET_ENTRY_CIDR, RB_NET_ENTRY_DOMAIN };

/* One network.egress.allow entry: "1.2.3.4", "10.0.0.0/8:443", "[2001:db8::1]:53",
 * "example.com", "*.example.com:443". */
struct rb_net_entry {
	enum rb_net_entry_kind kind;
	int family; /* CIDR: AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned bits;
	uint16_t port; /* 0: any */
	char domain[254];
};

struct rb_net_policy {
	enum rb_net_mode mode;
	bool default_allow;
	struct rb_net_entry *allow;
	size_t n_allow;
	uint16_t *ports; /* ingress.allowPorts */
	size_t n_ports;
};

#define RB_NET_MAX_ALLOW 256
#define RB_NET_MAX_PORTS 64 /* ingress.allowPorts, and ports exposed at once */

/* -EINVAL with a message naming what is wrong (the caller names the field). */
int rb_net_entry_parse(const char *s, struct rb_net_entry *out, struct rb_error *err);
/* Whether entry e covers the address (family AF_INET/AF_INET6, network order) and port. */
bool rb_net_entry_covers(const struct rb_net_entry *e, int family, const void *addr, uint16_t port);
/* A SandboxConfig's "network" (NULL or null: defaults); INVALID_CONFIG naming the field. */
int rb_net_policy_parse(const cJSON *network, enum rb_net_mode def, struct rb_net_policy *out,
			struct rb_error *err);
/* A PATCH body: {"egress": {...}} (or the egress object's members at the top); replaces the
 * egress part of p, keeping mode and ports. */
int rb_net_policy_parse_egress(const cJSON *body, struct rb_net_policy *p, struct rb_error *err);
void rb_net_policy_free(struct rb_net_policy *p);
/* {"mode","egress":{"allow","default"},"ingress":{"allowPorts"}} */
cJSON *rb_net_policy_json(const struct rb_net_policy *p);

/* ---- the daemon's context and each sandbox's network ---- */

struct rb_net_ctx;
struct rb_net_sandbox;
struct rb_net_port;

/* Starts the DNS proxy's thread (docs/network.md); nothing touches the kernel until the first
 * private sandbox. No upstream (none configured, none in /etc/resolv.conf) is no error: the
 * proxy is off, private sandboxes keep the host's resolv.conf and domain entries are refused. */
int rb_net_ctx_new(const struct rb_net_config *cfg, struct rb_net_ctx **out, struct rb_error *err);
/* network.denied: fn(id, address, port, count, ud) from a thread of its own, about every
 * second, for each destination a private sandbox (named with rb_net_sandbox_set_name) was
 * newly denied, or denied again (count: the total so far). */
typedef void (*rb_net_denied_fn)(const char *id, const char *address, uint16_t port, uint64_t count,
				 void *ud);
int rb_net_ctx_on_denied(struct rb_net_ctx *ctx, rb_net_denied_fn fn, void *ud,
			 struct rb_error *err);
/* Stops the proxy; removes runbox's nftables table if this daemon made it (or took it back),
 * unless a private sandbox was released to the next daemon (rb_net_sandbox_release). */
void rb_net_ctx_free(struct rb_net_ctx *ctx);
const struct rb_net_config *rb_net_ctx_config(const struct rb_net_ctx *ctx);
/* Why the DNS proxy is off, or NULL when it runs. */
const char *rb_net_ctx_dns_off(const struct rb_net_ctx *ctx);
/* Domain entries in a private policy need the proxy: INVALID_CONFIG naming the entry if off. */
int rb_net_dns_check(const struct rb_net_ctx *ctx, const struct rb_net_policy *p,
		     struct rb_error *err);
/* The resolv.conf a sandbox of that policy and slot gets: "nameserver <its gateway>" in mode
 * private with the proxy running; *out NULL otherwise (the host's applies). */
int rb_net_resolv_conf(const struct rb_net_ctx *ctx, const struct rb_net_policy *p, uint32_t slot,
		       char **out, struct rb_error *err);

/* After the sandbox's agent runs (its network namespace exists): build its network, and in
 * mode private register it with the DNS proxy on its gateway's port 53. Takes the policy
 * (*policy is emptied). On failure nothing is left behind (and *out is NULL). */
int rb_net_sandbox_setup(struct rb_net_ctx *ctx, struct rb_net_policy *policy, uint32_t slot,
			 pid_t pid, int pidfd, struct rb_net_sandbox **out, struct rb_error *err);
/* After a daemon restart: take back the network a previous daemon set up for a sandbox whose
 * agent still runs, from its record's policy (*policy is emptied), as it was: in mode private
 * its veth (made again if gone), its chains rebuilt in one transaction with their sets kept,
 * its DNS proxy registration; its allowPorts exposed again, each at its host port in prev if
 * that is still free (prev: its ports as they were; may be NULL). A veth that is not the
 * sandbox's is an error. On failure its veth and chains are removed (*out is NULL). */
int rb_net_sandbox_adopt(struct rb_net_ctx *ctx, struct rb_net_policy *policy, uint32_t slot,
			 pid_t pid, int pidfd, const struct rb_net_port *prev, size_t n_prev,
			 struct rb_net_sandbox **out, struct rb_error *err);
/* After the adoptions: delete the rbv<slot> links, chains, sets and map elements of every slot
 * keep does not hold (sandboxes no longer running or paused), the veths first; with none kept,
 * the whole table. Nothing is touched when nothing is there. */
int rb_net_ctx_sweep(struct rb_net_ctx *ctx, const uint32_t *keep, size_t n_keep,
		     struct rb_error *err);
/* The sandbox's id, for its network.denied events (and their watch starts). NULL is fine. */
void rb_net_sandbox_set_name(struct rb_net_sandbox *ns, const char *id);
/* Remove the DNS proxy's listeners, the veth, the nftables chains, sets and elements.
 * Idempotent; NULL is fine. */
void rb_net_sandbox_teardown(struct rb_net_sandbox *ns);
/* A daemon that stops leaving the sandbox running: its ports, watch and DNS proxy registration
 * go, its veth and chains stay (and with them the table) for the next daemon to adopt. */
void rb_net_sandbox_release(struct rb_net_sandbox *ns);
void rb_net_sandbox_free(struct rb_net_sandbox *ns);

/* Replace the egress policy of a running sandbox: one nftables batch, and the DNS proxy's
 * policy swapped in the same call (both or neither). */
int rb_net_sandbox_set_egress(struct rb_net_sandbox *ns, const cJSON *body, struct rb_error *err);
/* {mode, address, gateway, egress, ingress, denied:[{address, port, count}],
 *  dns:{allowed, refused, failed, rebinding, malformed, dropped} or null} */
int rb_net_sandbox_info(struct rb_net_sandbox *ns, cJSON **out, struct rb_error *err);
/* The policy as it is now, as rb_net_policy_json gives it. */
cJSON *rb_net_sandbox_policy_json(struct rb_net_sandbox *ns);
/* The sandbox's addresses; -ENOTCONN in mode none. */
int rb_net_sandbox_addrs(const struct rb_net_sandbox *ns, struct rb_net_addrs *out);

/* ---- ingress ports (ports.c): forwarded by the daemon from its loopback ---- */

struct rb_net_port {
	uint16_t port;	    /* in the sandbox */
	uint16_t host_port; /* on 127.0.0.1 in the daemon's namespace */
	long long exposed_ms;
};

/* Expose port (1..65535): the daemon listens on 127.0.0.1 at a port of its choosing and relays
 * each connection to the sandbox's port (its address in mode private, its loopback in mode
 * none). Already exposed: *out is that one and *created false. The port joins
 * ingress.allowPorts. RESOURCE_EXHAUSTED past RB_NET_MAX_PORTS. */
int rb_net_sandbox_port_expose(struct rb_net_sandbox *ns, uint16_t port, struct rb_net_port *out,
			       bool *created, struct rb_error *err);
/* Its listener and every connection closed; NOT_FOUND when not exposed. */
int rb_net_sandbox_port_close(struct rb_net_sandbox *ns, uint16_t port, struct rb_error *err);
/* The exposed ports, at most max, in the order they were exposed; returns how many there are. */
size_t rb_net_sandbox_ports(struct rb_net_sandbox *ns, struct rb_net_port *out, size_t max);
/* The API's Port: {port, url, exposedAt}. */
cJSON *rb_net_port_json(const struct rb_net_port *p);

/* For the DNS proxy: let the sandbox reach addr (4 or 16 bytes, network order) for ttl_s
 * seconds, on port (TCP and UDP; 0: any port), as an nftables set element with a timeout.
 * IPv6 is closed: an IPv6 address with a port adds nothing. */
int rb_net_allow_addr(struct rb_net_sandbox *ns, int family, const void *addr, uint16_t port,
		      uint32_t ttl_s, struct rb_error *err);
/* For the DNS proxy: open port (UDP and TCP) on the sandbox's gateway address, and close DNS
 * (53, 853) to every other server; port 0 closes it again. */
int rb_net_sandbox_set_dns_port(struct rb_net_sandbox *ns, uint16_t port, struct rb_error *err);

#endif
