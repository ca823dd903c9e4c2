/*
 * runbox's nftables table, `inet runbox`, and each sandbox's part of it. Nothing outside this
 * table is ever touched.
 *
 *   map fwd_map, in_map     ifname : verdict   "rbv<N>" : jump sb<N> / in<N>
 *   chain forward           hook forward:  iifname vmap @fwd_map; iifname "rbv*" drop;
 *                                          new connections into the pool dropped
 *   chain input             hook input:    iifname vmap @in_map; iifname "rbv*" drop
 *   chain postrouting       nat:           ip saddr <pool> ip daddr != <pool> masquerade
 *   chain sb<N>   the sandbox's egress: IPv6 and spoofed sources out, replies in, [DNS to other
 *                 servers out], the policy's entries, the ranges always closed, the DNS
 *                 proxy's addresses (set dns4_<N>: any port; set dnsp4_<N>: daddr . dport,
 *                 for "domain:port" entries), then the default
 *   chain in<N>   what the sandbox may ask of the host: replies, and the DNS proxy's port
 *   chain deny<N> count (set denied<N>: daddr . dport with a counter), then reject
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "common/cleanup.h"
#include "net-internal.h"

/* nftables' type ids (nft's datatype.h), for sets the nft tool can print */
#define TYPE_VERDICT	  1
#define TYPE_IPADDR	  7
#define TYPE_IP6ADDR	  8
#define TYPE_INET_SERVICE 13
#define TYPE_IFNAME	  41

struct names {
	char sb[16], in[16], deny[16], dns4[16], dns6[16], dnsp4[16], denied[16];
};

static void names_of(uint32_t slot, struct names *n)
{
	snprintf(n->sb, sizeof(n->sb), "sb%u", slot);
	snprintf(n->in, sizeof(n->in), "in%u", slot);
	snprintf(n->deny, sizeof(n->deny), "deny%u", slot);
	snprintf(n->dns4, sizeof(n->dns4), "dns4_%u", slot);
	snprintf(n->dns6, sizeof(n->dns6), "dns6_%u", slot);
	snprintf(n->dnsp4, sizeof(n->dnsp4), "dnsp4_%u", slot);
	snprintf(n->denied, sizeof(n->denied), "denied%u", slot);
}

/* ---- the table ---- */

static void flush_chain(struct rb_nft_batch *b, const char *chain)
{
	rb_nft_put_rule(b, NFT_MSG_DELRULE, rb_nft_rule(chain));
}

static struct nftnl_chain *base_chain(const char *name, const char *type, uint32_t hook,
				      int32_t prio)
{
	struct nftnl_chain *c = rb_nft_chain(name);

	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	return c;
}

static struct nftnl_set *vmap(const char *name)
{
	struct nftnl_set *s = rb_nft_set(name);

	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, TYPE_IFNAME);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, IFNAMSIZ);
	nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 0);
	/* so that `nft list` prints the names: an ifname key is in host byte order */
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);

	if (ud) {
		nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 1 /* host endian */);
		nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
				   nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	return s;
}

/* iifname vmap @map; iifname "rbv*" drop: an interface of ours that the map does not know
 * (a sandbox on its way in or out) gets nothing through */
static void dispatch(struct rb_nft_batch *b, const char *chain, const char *map)
{
	struct nftnl_rule *r = rb_nft_rule(chain);

	rb_nft_meta(r, NFT_META_IIFNAME, NFT_REG_1);
	rb_nft_lookup(r, map, NFT_REG_1, NFT_REG_VERDICT, false);
	rb_nft_put_rule(b, NFT_MSG_NEWRULE, r);
	r = rb_nft_rule(chain);
	rb_nft_match_iifname(r, RB_NET_IFPREFIX, true);
	rb_nft_verdict(r, NF_DROP, NULL);
	rb_nft_put_rule(b, NFT_MSG_NEWRULE, r);
}

static int ip_forward(struct rb_net_ctx *ctx, struct rb_error *err)
{
	static const char path[] = "/proc/sys/net/ipv4/ip_forward";
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
	char c = 0;

	if (fd < 0 || pread(fd, &c, 1, 0) != 1)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "read %s", path);
	if (c == '1')
		return 0;
	if (ctx->cfg.keep_ip_forward)
		return rb_error_set(
		    err, ENETDOWN, RB_INVALID_CONFIG,
		    "private networking needs net.ipv4.ip_forward=1 in the daemon's "
		    "network namespace, and the daemon was told not to set it");
	if (pwrite(fd, "1\n", 2, 0) != 2)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "enable %s", path);
	return 0;
}

int rb_net_table_check_owner(struct rb_net_ctx *ctx, struct rb_error *err)
{
	char owner[RB_NET_OWNER_MAX] = "";
	bool exists = false;
	int r = rb_nft_open(ctx, err);

	if (r == 0)
		r = rb_nft_table_exists(ctx, &exists, owner, err);
	if (r < 0 || !exists || !owner[0] || !ctx->cfg.owner[0] || !strcmp(owner, ctx->cfg.owner))
		return r;
	return rb_error_set(err, EBUSY, RB_NETWORK_ERROR,
			    "private networking is taken in this network namespace: nftables "
			    "table inet " RB_NET_TABLE " belongs to the runbox daemon of %s (one "
			    "daemon per network namespace; stop that one, or use mode none)",
			    owner);
}

/* A new table, marked with this daemon's owner mark. */
static struct nftnl_table *own_table(struct rb_net_ctx *ctx)
{
	struct nftnl_table *t = rb_nft_table();

	rb_nft_table_mark(t, ctx->cfg.owner);
	return t;
}

int rb_net_table_ensure(struct rb_net_ctx *ctx, bool keep, struct rb_error *err)
{
	struct rb_nft_batch b;
	struct nftnl_rule *r;
	uint32_t pool = htonl(ctx->cfg.pool), mask = htonl(~0u << (32 - ctx->cfg.pool_bits));
	int ret;

	if (ctx->table_ready)
		return 0;
	/* another daemon's table (another state directory) is never replaced nor changed */
	ret = rb_net_table_check_owner(ctx, err);
	if (ret < 0)
		return ret;
	ret = rb_nft_batch_start(ctx, &b, err);
	if (ret < 0)
		return ret;
	/* a table left by a daemon that died goes first: add (so the delete finds it), delete,
	 * add again, all in one transaction. Kept (its sandboxes are taken back): what exists
	 * stays, the maps with their elements, and the base chains' rules are replaced */
	rb_nft_put_table(&b, NFT_MSG_NEWTABLE, own_table(ctx));
	if (!keep) {
		rb_nft_put_table(&b, NFT_MSG_DELTABLE, rb_nft_table());
		rb_nft_put_table(&b, NFT_MSG_NEWTABLE, own_table(ctx));
	}
	rb_nft_put_set(&b, NFT_MSG_NEWSET, vmap("fwd_map"));
	rb_nft_put_set(&b, NFT_MSG_NEWSET, vmap("in_map"));
	rb_nft_put_chain(&b, NFT_MSG_NEWCHAIN, base_chain("forward", "filter", NF_INET_FORWARD, 0));
	rb_nft_put_chain(&b, NFT_MSG_NEWCHAIN, base_chain("input", "filter", NF_INET_LOCAL_IN, 0));
	rb_nft_put_chain(&b, NFT_MSG_NEWCHAIN,
			 base_chain("postrouting", "nat", NF_INET_POST_ROUTING, 100));
	if (keep) {
		flush_chain(&b, "forward");
		flush_chain(&b, "input");
		flush_chain(&b, "postrouting");
	}
	dispatch(&b, "forward", "fwd_map");
	/* nothing from outside opens a connection into a sandbox (ports are forwarded by the
	 * daemon, not routed) */
	r = rb_nft_rule("forward");
	rb_nft_match_ip4(r, false, pool, ctx->cfg.pool_bits, false);
	rb_nft_match_ct_not_est(r);
	rb_nft_verdict(r, NF_DROP, NULL);
	rb_nft_put_rule(&b, NFT_MSG_NEWRULE, r);
	dispatch(&b, "input", "in_map");
	r = rb_nft_rule("postrouting");
	rb_nft_match_ip4(r, true, pool, ctx->cfg.pool_bits, false);
	rb_nft_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG_1);
	rb_nft_bitwise(r, NFT_REG_1, &mask, 4);
	rb_nft_cmp(r, NFT_CMP_NEQ, NFT_REG_1, &pool, 4);
	rb_nft_masq(r);
	rb_nft_put_rule(&b, NFT_MSG_NEWRULE, r);
	ret = rb_nft_batch_commit(&b, err);
	rb_nft_batch_free(&b);
	if (ret < 0) {
		if (ret == -EPROTONOSUPPORT || ret == -ENOENT || ret == -EOPNOTSUPP)
			err->code = RB_NETWORK_ERROR;
		return rb_error_wrap(err, "private networking is not available (making nftables "
					  "table inet " RB_NET_TABLE ")");
	}
	ctx->table_ready = true;
	ret = ip_forward(ctx, err);
	if (ret < 0) {
		/* kept, it still filters the veths of the sandboxes it was kept for, which go
		 * first (rb_net_ctx_sweep) */
		if (keep)
			ctx->table_ready = false;
		else
			rb_net_table_remove(ctx);
		return ret;
	}
	return 0;
}

void rb_net_table_remove(struct rb_net_ctx *ctx)
{
	struct rb_nft_batch b;
	struct rb_error err;

	if (!ctx->table_ready || rb_nft_open(ctx, &err) < 0 ||
	    rb_nft_batch_start(ctx, &b, &err) < 0)
		return;
	rb_nft_put_table(&b, NFT_MSG_DELTABLE, rb_nft_table());
	rb_nft_batch_commit(&b, &err);
	rb_nft_batch_free(&b);
	ctx->table_ready = false;
}

/* ---- a sandbox's chains ---- */

static struct nftnl_set *addr_set(const char *name, uint32_t type, uint32_t len, uint32_t flags)
{
	struct nftnl_set *s = rb_nft_set(name);

	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, len);
	return s;
}

static void rule_goto(struct rb_nft_batch *b, struct nftnl_rule *r, const char *chain)
{
	rb_nft_verdict(r, NFT_GOTO, chain);
	rb_nft_put_rule(b, NFT_MSG_NEWRULE, r);
}

static void rule_verdict(struct rb_nft_batch *b, struct nftnl_rule *r, int verdict)
{
	rb_nft_verdict(r, verdict, NULL);
	rb_nft_put_rule(b, NFT_MSG_NEWRULE, r);
}

static void deny_rules(struct rb_nft_batch *b, const struct names *n)
{
	static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP};
	static const uint16_t noport;
	struct nftnl_rule *r;

	/* count: IPv4 destination . port (0 for what has no ports) */
	for (size_t i = 0; i < 2; i++) {
		r = rb_nft_rule(n->deny);
		rb_nft_match_nfproto(r, NFPROTO_IPV4);
		rb_nft_match_l4(r, protos[i], false);
		rb_nft_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG_1);
		rb_nft_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01);
		rb_nft_counter_update(r, n->denied, NFT_REG_1);
		rb_nft_put_rule(b, NFT_MSG_NEWRULE, r);
	}
	r = rb_nft_rule(n->deny);
	rb_nft_match_nfproto(r, NFPROTO_IPV4);
	rb_nft_match_l4(r, IPPROTO_TCP, true);
	rb_nft_match_l4(r, IPPROTO_UDP, true);
	rb_nft_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG_1);
	rb_nft_imm_data(r, NFT_REG32_01, &noport, 2);
	rb_nft_counter_update(r, n->denied, NFT_REG_1);
	rb_nft_put_rule(b, NFT_MSG_NEWRULE, r);
	/* fail fast: a reset for TCP, admin-prohibited for the rest */
	r = rb_nft_rule(n->deny);
	rb_nft_match_l4(r, IPPROTO_TCP, false);
	rb_nft_reject(r, NFT_REJECT_TCP_RST, 0);
	rb_nft_put_rule(b, NFT_MSG_NEWRULE, r);
	r = rb_nft_rule(n->deny);
	rb_nft_reject(r, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
	rb_nft_put_rule(b, NFT_MSG_NEWRULE, r);
}

static void in_rules(struct rb_nft_batch *b, const struct rb_net_sandbox *ns, const struct names *n)
{
	struct nftnl_rule *r = rb_nft_rule(n->in);

	rb_nft_match_ct_est(r);
	rule_verdict(b, r, NF_ACCEPT);
	for (int tcp = 0; ns->dns_port && tcp < 2; tcp++) {
		r = rb_nft_rule(n->in);
		rb_nft_match_ip4(r, true, htonl(ns->addrs.address), 32, false);
		rb_nft_match_ip4(r, false, htonl(ns->addrs.gateway), 32, false);
		rb_nft_match_l4(r, tcp ? IPPROTO_TCP : IPPROTO_UDP, false);
		rb_nft_match_dport(r, ns->dns_port);
		rule_verdict(b, r, NF_ACCEPT);
	}
	rule_goto(b, rb_nft_rule(n->in), n->deny);
}

/* The ranges a sandbox never reaches unless its policy names them: "this network", loopback,
 * link-local (cloud metadata lives at 169.254.169.254), multicast and reserved, and the pool
 * (other sandboxes). The host's own addresses are the input chain's. */
static const struct {
	uint32_t addr;
	unsigned bits;
} closed4[] = {{0x00000000u, 8}, {0x7f000000u, 8}, {0xa9fe0000u, 16}, {0xe0000000u, 3}};

static void sb_rules(struct rb_nft_batch *b, const struct rb_net_sandbox *ns, const struct names *n)
{
	const struct rb_net_policy *p = &ns->policy;
	struct nftnl_rule *r;

	/* IPv6 is closed: the sandbox has no IPv6 address or route, and nothing passes here */
	r = rb_nft_rule(n->sb);
	rb_nft_match_nfproto(r, NFPROTO_IPV6);
	rule_goto(b, r, n->deny);
	/* its own address only: root in a sandbox must not pass as another */
	r = rb_nft_rule(n->sb);
	rb_nft_match_ip4(r, true, htonl(ns->addrs.address), 32, true);
	rule_verdict(b, r, NF_DROP);
	r = rb_nft_rule(n->sb);
	rb_nft_match_ct_est(r);
	rule_verdict(b, r, NF_ACCEPT);
	/* with the DNS proxy in place, DNS and DNS-over-TLS to anyone else are closed */
	for (int i = 0; ns->dns_port && i < 3; i++) {
		r = rb_nft_rule(n->sb);
		rb_nft_match_l4(r, i == 1 ? IPPROTO_UDP : IPPROTO_TCP, false);
		rb_nft_match_dport(r, i == 2 ? 853 : 53);
		rule_goto(b, r, n->deny);
	}
	for (size_t i = 0; i < p->n_allow; i++) {
		const struct rb_net_entry *e = &p->allow[i];
		uint32_t a;

		if (e->kind != RB_NET_ENTRY_CIDR || e->family != AF_INET)
			continue; /* domains: the DNS proxy's; IPv6: closed */
		memcpy(&a, e->addr, 4);
		for (int tcp = 0; tcp < (e->port ? 2 : 1); tcp++) {
			r = rb_nft_rule(n->sb);
			rb_nft_match_ip4(r, false, a, e->bits, false);
			if (e->port) {
				rb_nft_match_l4(r, tcp ? IPPROTO_TCP : IPPROTO_UDP, false);
				rb_nft_match_dport(r, e->port);
			}
			rule_verdict(b, r, NF_ACCEPT);
		}
	}
	for (size_t i = 0; i <= RB_ARRAY_SIZE(closed4); i++) {
		bool pool = i == RB_ARRAY_SIZE(closed4);

		r = rb_nft_rule(n->sb);
		rb_nft_match_ip4(r, false, htonl(pool ? ns->ctx->cfg.pool : closed4[i].addr),
				 pool ? ns->ctx->cfg.pool_bits : closed4[i].bits, false);
		rule_goto(b, r, n->deny);
	}
	r = rb_nft_rule(n->sb);
	rb_nft_match_nfproto(r, NFPROTO_IPV4);
	rb_nft_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG_1);
	rb_nft_lookup(r, n->dns4, NFT_REG_1, -1, false);
	rule_verdict(b, r, NF_ACCEPT);
	for (int tcp = 0; tcp < 2; tcp++) { /* ip daddr . th dport @dnsp4, TCP and UDP */
		r = rb_nft_rule(n->sb);
		rb_nft_match_nfproto(r, NFPROTO_IPV4);
		rb_nft_match_l4(r, tcp ? IPPROTO_TCP : IPPROTO_UDP, false);
		rb_nft_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG_1);
		rb_nft_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01);
		rb_nft_lookup(r, n->dnsp4, NFT_REG_1, -1, false);
		rule_verdict(b, r, NF_ACCEPT);
	}
	r = rb_nft_rule(n->sb);
	if (p->default_allow)
		rule_verdict(b, r, NF_ACCEPT);
	else
		rule_goto(b, r, n->deny);
}

static void map_elem(struct rb_nft_batch *b, int type, const char *map, const char *ifname,
		     const char *chain)
{
	struct nftnl_set *s = rb_nft_set(map);
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	char key[IFNAMSIZ] = {0};

	strncpy(key, ifname, IFNAMSIZ - 1);
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, IFNAMSIZ);
	if (type == NFT_MSG_NEWSETELEM) {
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_JUMP);
		nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
	}
	nftnl_set_elem_add(s, e);
	rb_nft_put_elems(b, type, s, false);
}

static int commit(struct rb_nft_batch *b, struct rb_error *err)
{
	int r = rb_nft_batch_commit(b, err);

	rb_nft_batch_free(b);
	return r;
}

int rb_net_rules_add(struct rb_net_sandbox *ns, bool keep, struct rb_error *err)
{
	struct rb_nft_batch b;
	struct names n = {0};
	struct nftnl_set *denied;
	int r = rb_nft_batch_start(ns->ctx, &b, err);

	if (r < 0)
		return r;
	names_of(ns->slot, &n);
	rb_nft_put_set(&b, NFT_MSG_NEWSET, addr_set(n.dns4, TYPE_IPADDR, 4, NFT_SET_TIMEOUT));
	rb_nft_put_set(&b, NFT_MSG_NEWSET, addr_set(n.dns6, TYPE_IP6ADDR, 16, NFT_SET_TIMEOUT));
	rb_nft_put_set(&b, NFT_MSG_NEWSET,
		       addr_set(n.dnsp4, TYPE_IPADDR << 6 | TYPE_INET_SERVICE, 8, NFT_SET_TIMEOUT));
	denied = addr_set(n.denied, TYPE_IPADDR << 6 | TYPE_INET_SERVICE, 8, NFT_SET_EVAL);
	nftnl_set_set_u32(denied, NFTNL_SET_DESC_SIZE, 4096);
	rb_nft_put_set(&b, NFT_MSG_NEWSET, denied);
	rb_nft_put_chain(&b, NFT_MSG_NEWCHAIN, rb_nft_chain(n.deny));
	rb_nft_put_chain(&b, NFT_MSG_NEWCHAIN, rb_nft_chain(n.in));
	rb_nft_put_chain(&b, NFT_MSG_NEWCHAIN, rb_nft_chain(n.sb));
	if (keep) { /* taken back: its old rules go in the transaction that brings the new */
		flush_chain(&b, n.deny);
		flush_chain(&b, n.in);
		flush_chain(&b, n.sb);
	}
	deny_rules(&b, &n);
	in_rules(&b, ns, &n);
	sb_rules(&b, ns, &n);
	map_elem(&b, NFT_MSG_NEWSETELEM, "fwd_map", ns->ifname, n.sb);
	map_elem(&b, NFT_MSG_NEWSETELEM, "in_map", ns->ifname, n.in);
	return commit(&b, err);
}

int rb_net_rules_replace(struct rb_net_sandbox *ns, struct rb_error *err)
{
	struct rb_nft_batch b;
	struct names n = {0};
	int r = rb_nft_batch_start(ns->ctx, &b, err);

	if (r < 0)
		return r;
	names_of(ns->slot, &n);
	flush_chain(&b, n.in);
	in_rules(&b, ns, &n);
	flush_chain(&b, n.sb);
	sb_rules(&b, ns, &n);
	/* addresses the proxy let in under the old policy go with it */
	rb_nft_put_elems(&b, NFT_MSG_DELSETELEM, rb_nft_set(n.dns4), false);
	rb_nft_put_elems(&b, NFT_MSG_DELSETELEM, rb_nft_set(n.dns6), false);
	rb_nft_put_elems(&b, NFT_MSG_DELSETELEM, rb_nft_set(n.dnsp4), false);
	return commit(&b, err);
}

int rb_net_rules_remove(struct rb_net_sandbox *ns, struct rb_error *err)
{
	const char *chains[3], *sets[4];
	struct rb_nft_batch b;
	struct names n = {0};
	int r = rb_nft_batch_start(ns->ctx, &b, err);

	if (r < 0)
		return r;
	names_of(ns->slot, &n);
	chains[0] = n.sb, chains[1] = n.in, chains[2] = n.deny;
	sets[0] = n.dns4, sets[1] = n.dns6, sets[2] = n.dnsp4, sets[3] = n.denied;
	map_elem(&b, NFT_MSG_DELSETELEM, "fwd_map", ns->ifname, NULL);
	map_elem(&b, NFT_MSG_DELSETELEM, "in_map", ns->ifname, NULL);
	for (size_t i = 0; i < 3; i++)
		flush_chain(&b, chains[i]);
	for (size_t i = 0; i < 3; i++)
		rb_nft_put_chain(&b, NFT_MSG_DELCHAIN, rb_nft_chain(chains[i]));
	for (size_t i = 0; i < RB_ARRAY_SIZE(sets); i++)
		rb_nft_put_set(&b, NFT_MSG_DELSET, rb_nft_set(sets[i]));
	return commit(&b, err);
}

/* ---- what earlier daemons left ---- */

/* The slot a chain or set of a sandbox is named for ("sb12", "dnsp4_12"); false for the
 * table's own (forward, input, fwd_map...). */
static bool slot_of(const char *name, uint32_t *slot)
{
	static const char *const prefixes[] = {"dnsp4_", "dns4_", "dns6_", "denied",
					       "deny",	 "sb",	  "in",	   RB_NET_IFPREFIX};
	char *end;

	for (size_t i = 0; i < RB_ARRAY_SIZE(prefixes); i++) {
		size_t len = strlen(prefixes[i]);
		unsigned long v;

		if (strncmp(name, prefixes[i], len) != 0 || name[len] < '0' || name[len] > '9')
			continue;
		v = strtoul(name + len, &end, 10);
		if (*end || v > UINT32_MAX)
			return false;
		*slot = (uint32_t)v;
		return true;
	}
	return false;
}

struct sweep {
	const uint32_t *keep;
	size_t n_keep;
	char (*names)[IFNAMSIZ * 2];
	size_t n, cap;
	bool oom;
};

static void sweep_add(const char *name, void *ud)
{
	struct sweep *w = ud;
	uint32_t slot;

	if (!slot_of(name, &slot))
		return;
	for (size_t i = 0; i < w->n_keep; i++)
		if (w->keep[i] == slot)
			return;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 32;
		void *v = realloc(w->names, cap * sizeof(*w->names));

		if (!v) {
			w->oom = true;
			return;
		}
		w->names = v;
		w->cap = cap;
	}
	snprintf(w->names[w->n++], sizeof(*w->names), "%s", name);
}

static void sweep_key(const void *key, uint32_t key_len, uint64_t packets, void *ud)
{
	char name[IFNAMSIZ] = {0};

	memcpy(name, key, key_len < IFNAMSIZ ? key_len : IFNAMSIZ - 1);
	sweep_add(name, ud);
}

/* What is listed from start on, of one kind: a map's keys, chains, or sets. */
static int sweep_list(struct rb_net_ctx *ctx, struct sweep *w, const char *map, int type,
		      struct rb_error *err)
{
	int r = map ? rb_nft_set_dump(ctx, map, sweep_key, w, err)
		    : rb_nft_list(ctx, type, sweep_add, w, err);

	if (r == 0 && w->oom)
		r = rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	return r;
}

int rb_net_rules_sweep(struct rb_net_ctx *ctx, const uint32_t *keep, size_t n_keep,
		       struct rb_error *err)
{
	static const char *const maps[] = {"fwd_map", "in_map"};
	struct sweep w = {.keep = keep, .n_keep = n_keep};
	size_t chains, sets, n_maps[2] = {0};
	struct rb_nft_batch b;
	int r = 0;

	/* the maps' elements first (they jump to the chains), then the chains' rules (they go to
	 * deny<N> and look up the sets), the chains, the sets: one transaction */
	for (size_t i = 0; i < 2 && r == 0; i++) {
		size_t before = w.n;

		r = sweep_list(ctx, &w, maps[i], 0, err);
		n_maps[i] = w.n - before;
	}
	chains = w.n;
	if (r == 0)
		r = sweep_list(ctx, &w, NULL, NFT_MSG_GETCHAIN, err);
	sets = w.n;
	if (r == 0)
		r = sweep_list(ctx, &w, NULL, NFT_MSG_GETSET, err);
	if (r == 0 && w.n > 0)
		r = rb_nft_batch_start(ctx, &b, err);
	if (r < 0 || w.n == 0) {
		free(w.names);
		return r;
	}
	for (size_t i = 0, k = 0; i < 2; i++)
		for (size_t j = 0; j < n_maps[i]; j++, k++)
			map_elem(&b, NFT_MSG_DELSETELEM, maps[i], w.names[k], NULL);
	for (size_t i = chains; i < sets; i++)
		flush_chain(&b, w.names[i]);
	for (size_t i = chains; i < sets; i++)
		rb_nft_put_chain(&b, NFT_MSG_DELCHAIN, rb_nft_chain(w.names[i]));
	for (size_t i = sets; i < w.n; i++)
		rb_nft_put_set(&b, NFT_MSG_DELSET, rb_nft_set(w.names[i]));
	free(w.names);
	return commit(&b, err);
}

static int put_addr(struct rb_net_sandbox *ns, const char *set, int type, const void *addr,
		    uint32_t len, uint32_t ttl_s, bool excl, struct rb_error *err)
{
	struct rb_nft_batch b;
	int r = rb_nft_batch_start(ns->ctx, &b, err);

	if (r < 0)
		return r;
	/* delete and add again: the kernel keeps an element's first timeout on a plain add */
	for (int pass = excl ? 1 : 0; pass < 2; pass++) {
		struct nftnl_set *s = rb_nft_set(set);
		struct nftnl_set_elem *e = nftnl_set_elem_alloc();

		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, addr, len);
		if (pass == 1)
			nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, (uint64_t)ttl_s * 1000);
		nftnl_set_elem_add(s, e);
		rb_nft_put_elems(&b, pass == 0 ? NFT_MSG_DELSETELEM : type, s, excl);
	}
	return commit(&b, err);
}

int rb_net_rules_allow_addr(struct rb_net_sandbox *ns, int family, const void *addr, uint16_t port,
			    uint32_t ttl_s, struct rb_error *err)
{
	struct names n = {0};
	uint8_t key[8] = {0}; /* daddr . dport: 4 bytes, then 2 padded to 4 */
	uint16_t be = htons(port);
	const char *set;
	uint32_t len = family == AF_INET ? 4 : 16;
	int r;

	if (family == AF_INET6 && port)
		return 0; /* IPv6 is closed: no set lets it out on a port */
	names_of(ns->slot, &n);
	set = family == AF_INET ? n.dns4 : n.dns6;
	if (port) {
		memcpy(key, addr, 4);
		memcpy(key + 4, &be, 2);
		set = n.dnsp4;
		addr = key;
		len = sizeof(key);
	}
	r = put_addr(ns, set, NFT_MSG_NEWSETELEM, addr, len, ttl_s, true, err);
	if (r == -EEXIST)
		r = put_addr(ns, set, NFT_MSG_NEWSETELEM, addr, len, ttl_s, false, err);
	return r;
}

struct denied_ctx {
	cJSON *list;
};

static void denied_elem(const void *key, uint32_t key_len, uint64_t packets, void *ud)
{
	struct denied_ctx *d = ud;
	const uint8_t *k = key;
	char a[INET_ADDRSTRLEN];
	cJSON *o;
	uint16_t port;

	if (key_len < 6)
		return;
	inet_ntop(AF_INET, k, a, sizeof(a));
	memcpy(&port, k + 4, 2);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "address", a);
	cJSON_AddNumberToObject(o, "port", ntohs(port));
	cJSON_AddNumberToObject(o, "count", (double)packets);
	cJSON_AddItemToArray(d->list, o);
}

int rb_net_rules_denied(struct rb_net_sandbox *ns, cJSON *list, struct rb_error *err)
{
	struct denied_ctx d = {list};
	struct names n = {0};

	names_of(ns->slot, &n);
	return rb_nft_set_dump(ns->ctx, n.denied, denied_elem, &d, err);
}
