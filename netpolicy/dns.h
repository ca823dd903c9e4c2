/*
 * The DNS proxy that enforces domain allowlists (network.egress.allow, issue 5).
 *
 * One struct rb_net_dns serves every sandbox. It owns one thread that runs an epoll loop over
 * all listening sockets (UDP and TCP, per sandbox, normally port 53 on the sandbox's gateway
 * address) and all upstream sockets; the API threads never wait on the network, only (briefly)
 * for the loop to take a sandbox in or out or to swap its policy.
 *
 *   rb_net_dns_new(cfg, &dns, err)            start the loop thread
 *   rb_net_dns_add_sandbox(dns, addr, policy, ud, &sb, err)
 *   rb_net_dns_set_policy(sb, policy, err)    atomic swap (PATCH .../network)
 *   rb_net_dns_stats(sb, &stats)              counters for GET .../network
 *   rb_net_dns_remove_sandbox(sb)             after it returns, allow_addr is never called
 *                                             again with that sandbox's ud
 *   rb_net_dns_free(dns)
 *
 * Per query (all in the loop thread):
 * - the message is parsed strictly: a QUERY with one question, no answer or authority records,
 *   at most one additional record (EDNS OPT); names with compression pointers that only point
 *   backwards, at most 255 bytes, labels of at most 63. Anything else is FORMERR (or dropped
 *   when not even the header can be read), another opcode NOTIMP.
 * - the name is matched against the policy's patterns: "example.com" matches exactly that name,
 *   "*.example.com" any name below it (a.example.com, a.b.example.com) but not example.com
 *   itself; case-insensitive, a trailing dot on either side ignored. With default deny only
 *   matching names are resolved; with default allow every name is. A name not resolved, a class
 *   other than IN, and the meta types ANY, AXFR, IXFR, MAILA, MAILB are answered REFUSED
 *   without asking upstream.
 * - a resolved name is asked upstream in a query the proxy builds itself (its own random ID,
 *   a new socket and so a new source port, EDNS with a 1232-byte buffer and no options), over
 *   UDP, over TCP when the answer is truncated; an answer counts only when its ID and question
 *   match. No answer within the timeout: the next upstream, then SERVFAIL.
 * - the answer is rebuilt from the records kept: the CNAME chain from the question's name, and
 *   the records of the asked type at the end of it; A/AAAA records whose address is private,
 *   loopback, link-local, unique-local, unspecified, multicast or reserved (IPv4-mapped and
 *   NAT64 forms checked as IPv4) are dropped unless one of the policy's CIDRs covers them
 *   (DNS rebinding). Every address kept is passed to allow_addr, with its TTL raised to the
 *   floor and lowered to the ceiling, before the answer is sent: the connection that follows
 *   is already allowed. TTLs in the answer are capped at the ceiling, so a client never caches
 *   an address longer than the nftables set holds it.
 * - per sandbox at most max_inflight queries wait upstream and max_tcp TCP connections are
 *   open; beyond, queries are dropped (and counted), so memory is bounded.
 */
#ifndef RB_NET_DNS_H
#define RB_NET_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common/error.h"

#define RB_NET_DNS_MAX_UPSTREAMS 4
/* allow_addr's rule for a name that matched no pattern, resolved under default allow */
#define RB_NET_DNS_RULE_DEFAULT ((size_t)-1)

/*
 * Called in the loop thread for every address an answer lets through, before the answer is
 * sent. rule is the index of the first pattern in policy.domains the question matched (or
 * RB_NET_DNS_RULE_DEFAULT), so a "domain:port" entry can be applied to its port. family is
 * AF_INET or AF_INET6, addr 4 or 16 bytes in network order. A negative return drops the
 * address from the answer. It must not call back into rb_net_dns_*.
 */
typedef int (*rb_net_dns_allow_fn)(void *sandbox_ud, size_t rule, int family, const void *addr,
				   uint32_t ttl_s);

struct rb_net_dns_config {
	struct sockaddr_storage upstream[RB_NET_DNS_MAX_UPSTREAMS];
	size_t n_upstream;	/* 0: the nameservers of /etc/resolv.conf */
	uint32_t ttl_floor_s;	/* 0: 30 */
	uint32_t ttl_ceiling_s; /* 0: 3600 (raised to the floor if below it) */
	unsigned timeout_ms;	/* per query, over all upstreams; 0: 2000 */
	unsigned max_inflight;	/* per sandbox; 0: 64 */
	unsigned max_tcp;	/* TCP connections per sandbox; 0: 16 */
	rb_net_dns_allow_fn allow_addr;
};

struct rb_net_dns_cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t prefix;
};

struct rb_net_dns_policy {
	const char *const *domains; /* "example.com" or "*.example.com", no port */
	size_t n_domains;
	const struct rb_net_dns_cidr *cidrs; /* allowed CIDRs: private ranges named here resolve */
	size_t n_cidrs;
	bool default_allow;
};

struct rb_net_dns_stats {
	uint64_t allowed;   /* queries forwarded upstream */
	uint64_t refused;   /* answered REFUSED by the policy */
	uint64_t failed;    /* SERVFAIL: upstream timeout or error */
	uint64_t malformed; /* FORMERR, NOTIMP or unreadable */
	uint64_t dropped;   /* over the in-flight or connection limit */
	uint64_t rebinding; /* addresses dropped from answers */
};

struct rb_net_dns;
struct rb_net_dns_sandbox;

/* Fill cfg->upstream from the "nameserver" lines of a resolv.conf (port 53). -ENOENT if none. */
int rb_net_dns_upstreams_from_resolv_conf(const char *path, struct rb_net_dns_config *cfg,
					  struct rb_error *err);

int rb_net_dns_new(const struct rb_net_dns_config *cfg, struct rb_net_dns **out,
		   struct rb_error *err);
/* Stops the loop, closes every socket; sandboxes still registered are removed. */
void rb_net_dns_free(struct rb_net_dns *dns);

/* Listen on UDP and TCP at listen_addr (port 0: one the kernel picks, the same for both). */
int rb_net_dns_add_sandbox(struct rb_net_dns *dns, const struct sockaddr *listen_addr,
			   const struct rb_net_dns_policy *policy, void *sandbox_ud,
			   struct rb_net_dns_sandbox **out, struct rb_error *err);
/* The policy is copied; queries after the return see the new one. */
int rb_net_dns_set_policy(struct rb_net_dns_sandbox *sb, const struct rb_net_dns_policy *policy,
			  struct rb_error *err);
void rb_net_dns_remove_sandbox(struct rb_net_dns_sandbox *sb);
void rb_net_dns_stats(const struct rb_net_dns_sandbox *sb, struct rb_net_dns_stats *out);
/* The address the sandbox's listeners are bound to (with the port chosen). */
void rb_net_dns_sandbox_addr(const struct rb_net_dns_sandbox *sb, struct sockaddr_storage *out);

/* --- internals, for the unit tests and the fuzzer ------------------------------------------ */

/* A name in uncompressed wire form: labels, then the root's zero byte. */
struct rb_net_dns_name {
	uint8_t len; /* bytes used in wire, 1..255 */
	uint8_t wire[255];
};

struct rb_net_dns_query {
	uint16_t id, flags, qtype, qclass;
	struct rb_net_dns_name qname;
	size_t question_end; /* offset just after the question */
	bool edns;
	uint16_t udp_size; /* the client's limit for answers over UDP: 512, or its EDNS size */
};

enum rb_net_dns_verdict {
	RB_NET_DNS_FORWARD,
	RB_NET_DNS_REFUSE,
};

/* A policy compiled: patterns in wire form, CIDRs. */
struct rb_net_dns_rules;

/* Read a name at *off (following pointers), advance *off past it in the message. */
int rb_net_dns_name_parse(const uint8_t *msg, size_t len, size_t *off, struct rb_net_dns_name *out);
/* "Example.COM." → wire form, lowercased; -EINVAL for an empty label, > 63, > 255. */
int rb_net_dns_name_from_text(const char *text, struct rb_net_dns_name *out);
/* A query from a client; -EINVAL (FORMERR), -EOPNOTSUPP (NOTIMP), -EBADMSG (no header). */
int rb_net_dns_query_parse(const uint8_t *msg, size_t len, struct rb_net_dns_query *q);

int rb_net_dns_rules_new(const struct rb_net_dns_policy *policy, struct rb_net_dns_rules **out,
			 struct rb_error *err);
void rb_net_dns_rules_free(struct rb_net_dns_rules *rules);
/* Whether the name matches a pattern; *rule is the first matching index. */
bool rb_net_dns_rules_match(const struct rb_net_dns_rules *rules,
			    const struct rb_net_dns_name *name, size_t *rule);
enum rb_net_dns_verdict rb_net_dns_rules_verdict(const struct rb_net_dns_rules *rules,
						 const struct rb_net_dns_query *q, size_t *rule);
/* Whether an answer's address must be dropped (special range not covered by a CIDR). */
bool rb_net_dns_rules_addr_blocked(const struct rb_net_dns_rules *rules, int family,
				   const uint8_t *addr);

/* What rebuilding an upstream answer needs besides the message. */
struct rb_net_dns_rewrite {
	const struct rb_net_dns_query *q; /* the client's query */
	const uint8_t *question;	  /* the client's question bytes, echoed */
	size_t question_len;
	const struct rb_net_dns_rules *rules;
	size_t rule;
	uint32_t ttl_floor_s, ttl_ceiling_s;
	rb_net_dns_allow_fn allow_addr;
	void *sandbox_ud;
	unsigned rebinding; /* out: addresses dropped */
};

/*
 * Check an upstream answer (ID `id`, question equal to q's) and rebuild it for the client into
 * out (the client's ID, only the records kept). Returns the length, -EAGAIN for an answer that
 * is not ours (wrong ID or question: keep waiting), -EMSGSIZE when truncated (TC: retry over
 * TCP), -EBADMSG when malformed.
 */
ssize_t rb_net_dns_rewrite_answer(struct rb_net_dns_rewrite *rw, uint16_t id, const uint8_t *msg,
				  size_t len, uint8_t *out, size_t cap);
/* An answer without records (REFUSED, SERVFAIL, ...) to a query: its question echoed. */
size_t rb_net_dns_error_answer(const struct rb_net_dns_query *q, int rcode, uint8_t *out,
			       size_t cap);
/* The same to a query that could not be parsed: the header alone, with the client's ID. */
size_t rb_net_dns_header_answer(const uint8_t *msg, size_t len, int rcode, uint8_t *out,
				size_t cap);

#endif
