/*
 * nftables over netlink: batches (one transaction each, applied whole or not at all) sent with
 * libmnl, objects and expressions built with libnftnl. Every message asks for an answer, so a
 * commit knows when the kernel is done with it and which error it hit first.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "common/cleanup.h"
#include "net-internal.h"

#define BATCH_SIZE (512u << 10)

int rb_nft_open(struct rb_net_ctx *ctx, struct rb_error *err)
{
	struct timeval tv = {.tv_sec = 5};
	int size = 4 << 20;

	if (ctx->nft)
		return 0;
	ctx->nft = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!ctx->nft)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR,
				    "open a netfilter netlink socket");
	if (mnl_socket_bind(ctx->nft, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;

		mnl_socket_close(ctx->nft);
		ctx->nft = NULL;
		return rb_error_sys(err, e, RB_INTERNAL_ERROR, "bind a netfilter netlink socket");
	}
	/* a kernel that never answers must not hang a create */
	setsockopt(mnl_socket_get_fd(ctx->nft), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(mnl_socket_get_fd(ctx->nft), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	ctx->nft_portid = mnl_socket_get_portid(ctx->nft);
	return 0;
}

int rb_nft_batch_start(struct rb_net_ctx *ctx, struct rb_nft_batch *b, struct rb_error *err)
{
	memset(b, 0, sizeof(*b));
	b->ctx = ctx;
	b->cap = BATCH_SIZE;
	b->buf = malloc(b->cap);
	if (!b->buf)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	/* room for the end message kept aside */
	b->b = mnl_nlmsg_batch_start(b->buf, b->cap - MNL_SOCKET_BUFFER_SIZE);
	nftnl_batch_begin(mnl_nlmsg_batch_current(b->b), ctx->seq++);
	mnl_nlmsg_batch_next(b->b);
	return 0;
}

void rb_nft_batch_free(struct rb_nft_batch *b)
{
	if (b->b)
		mnl_nlmsg_batch_stop(b->b);
	free(b->buf);
	b->b = NULL;
	b->buf = NULL;
}

static struct nlmsghdr *msg(struct rb_nft_batch *b, int type, uint16_t flags)
{
	b->n_msgs++;
	return nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b->b), (uint16_t)type, NFPROTO_INET,
				     flags | NLM_F_ACK, b->ctx->seq++);
}

static void next(struct rb_nft_batch *b)
{
	if (!mnl_nlmsg_batch_next(b->b))
		b->full = true;
}

static uint16_t new_flags(int type)
{
	return type == NFT_MSG_NEWRULE ? NLM_F_CREATE | NLM_F_APPEND
	       : type == NFT_MSG_NEWSET || type == NFT_MSG_NEWCHAIN || type == NFT_MSG_NEWTABLE
		   ? NLM_F_CREATE
		   : 0;
}

void rb_nft_put_table(struct rb_nft_batch *b, int type, struct nftnl_table *t)
{
	if (!b->full)
		nftnl_table_nlmsg_build_payload(msg(b, type, new_flags(type)), t), next(b);
	nftnl_table_free(t);
}

void rb_nft_put_chain(struct rb_nft_batch *b, int type, struct nftnl_chain *c)
{
	if (!b->full)
		nftnl_chain_nlmsg_build_payload(msg(b, type, new_flags(type)), c), next(b);
	nftnl_chain_free(c);
}

void rb_nft_put_rule(struct rb_nft_batch *b, int type, struct nftnl_rule *r)
{
	if (!b->full)
		nftnl_rule_nlmsg_build_payload(msg(b, type, new_flags(type)), r), next(b);
	nftnl_rule_free(r);
}

void rb_nft_put_set(struct rb_nft_batch *b, int type, struct nftnl_set *s)
{
	if (type == NFT_MSG_NEWSET) /* the kernel wants one, unique in the transaction */
		nftnl_set_set_u32(s, NFTNL_SET_ID, ++b->ctx->set_id);
	if (!b->full)
		nftnl_set_nlmsg_build_payload(msg(b, type, new_flags(type)), s), next(b);
	nftnl_set_free(s);
}

void rb_nft_put_elems(struct rb_nft_batch *b, int type, struct nftnl_set *s, bool excl)
{
	uint16_t f = type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0;

	if (!b->full)
		nftnl_set_elems_nlmsg_build_payload(msg(b, type, f | (excl ? NLM_F_EXCL : 0)), s),
		    next(b);
	nftnl_set_free(s);
}

/* Count the answers in buf; the first error into *first. */
static void read_answers(const char *buf, size_t len, unsigned *seen, int *first)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	int left = (int)len;

	while (mnl_nlmsg_ok(nlh, left)) {
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			(*seen)++;
			if (e->error < 0 && *first == 0)
				*first = -e->error;
		}
		nlh = mnl_nlmsg_next(nlh, &left);
	}
}

/* One read of nftables' answers into buf (MNL_SOCKET_BUFFER_SIZE * 4). On an error the socket
 * is closed (the next use opens another): answers that came later would confuse the next
 * request. */
static ssize_t nft_recv(struct rb_net_ctx *ctx, char *buf, const char *what, struct rb_error *err)
{
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(ctx->nft, buf, MNL_SOCKET_BUFFER_SIZE * 4);
		int e = errno;

		if (n >= 0)
			return n;
		if (e == EINTR)
			continue;
		mnl_socket_close(ctx->nft);
		ctx->nft = NULL;
		return rb_error_sys(err, e, RB_INTERNAL_ERROR, "read %s", what);
	}
}

int rb_nft_batch_commit(struct rb_nft_batch *b, struct rb_error *err)
{
	struct rb_net_ctx *ctx = b->ctx;
	_cleanup_free_ char *rbuf = malloc(MNL_SOCKET_BUFFER_SIZE * 4);
	unsigned seen = 0;
	int first = 0;

	if (!rbuf)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	if (b->full)
		return rb_error_set(err, E2BIG, RB_INVALID_CONFIG,
				    "the nftables batch is too large (too many rules)");
	nftnl_batch_end(mnl_nlmsg_batch_current(b->b), ctx->seq++);
	mnl_nlmsg_batch_next(b->b);
	if (mnl_socket_sendto(ctx->nft, mnl_nlmsg_batch_head(b->b), mnl_nlmsg_batch_size(b->b)) < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "send an nftables batch");
	while (seen < b->n_msgs) {
		ssize_t n = nft_recv(ctx, rbuf, "nftables' answer", err);

		if (n < 0)
			return (int)n;
		read_answers(rbuf, (size_t)n, &seen, &first);
	}
	if (first)
		return rb_error_sys(err, first, RB_INTERNAL_ERROR, "nftables");
	return 0;
}

/* ---- objects ---- */

struct nftnl_table *rb_nft_table(void)
{
	struct nftnl_table *t = nftnl_table_alloc();

	nftnl_table_set_str(t, NFTNL_TABLE_NAME, RB_NET_TABLE);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	return t;
}

struct nftnl_chain *rb_nft_chain(const char *name)
{
	struct nftnl_chain *c = nftnl_chain_alloc();

	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, RB_NET_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	return c;
}

struct nftnl_set *rb_nft_set(const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();

	nftnl_set_set_str(s, NFTNL_SET_TABLE, RB_NET_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	return s;
}

struct nftnl_rule *rb_nft_rule(const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, RB_NET_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	return r;
}

/* ---- expressions ---- */

void rb_nft_meta(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

void rb_nft_cmp(struct nftnl_rule *r, uint32_t op, uint32_t sreg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	nftnl_rule_add_expr(r, e);
}

void rb_nft_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

void rb_nft_bitwise(struct nftnl_rule *r, uint32_t reg, const void *mask, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
	static const uint8_t zero[16];

	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	nftnl_rule_add_expr(r, e);
}

void rb_nft_verdict(struct nftnl_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	nftnl_rule_add_expr(r, e);
}

void rb_nft_imm_data(struct nftnl_rule *r, uint32_t dreg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
	nftnl_rule_add_expr(r, e);
}

void rb_nft_reject(struct nftnl_rule *r, uint32_t type, uint8_t code)
{
	struct nftnl_expr *e = nftnl_expr_alloc("reject");

	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
	nftnl_rule_add_expr(r, e);
}

void rb_nft_lookup(struct nftnl_rule *r, const char *set, uint32_t sreg, int dreg, bool inv)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	if (dreg >= 0)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	if (inv)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	nftnl_rule_add_expr(r, e);
}

void rb_nft_counter_update(struct nftnl_rule *r, const char *set, uint32_t sreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("dynset");
	struct nftnl_expr *ctr = nftnl_expr_alloc("counter");

	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
	nftnl_expr_set(e, NFTNL_EXPR_DYNSET_EXPR, ctr, 0);
	nftnl_rule_add_expr(r, e);
}

void rb_nft_masq(struct nftnl_rule *r)
{
	nftnl_rule_add_expr(r, nftnl_expr_alloc("masq"));
}

/* ---- matchers ---- */

void rb_nft_match_nfproto(struct nftnl_rule *r, uint8_t proto)
{
	rb_nft_meta(r, NFT_META_NFPROTO, NFT_REG_1);
	rb_nft_cmp(r, NFT_CMP_EQ, NFT_REG_1, &proto, 1);
}

void rb_nft_match_l4(struct nftnl_rule *r, uint8_t proto, bool neq)
{
	rb_nft_meta(r, NFT_META_L4PROTO, NFT_REG_1);
	rb_nft_cmp(r, neq ? NFT_CMP_NEQ : NFT_CMP_EQ, NFT_REG_1, &proto, 1);
}

void rb_nft_match_ip4(struct nftnl_rule *r, bool is_src, uint32_t addr_be, unsigned bits, bool neq)
{
	uint32_t mask = bits ? htonl(~0u << (32 - bits)) : 0;

	rb_nft_match_nfproto(r, NFPROTO_IPV4);
	rb_nft_payload(r, NFT_PAYLOAD_NETWORK_HEADER, is_src ? 12 : 16, 4, NFT_REG_1);
	if (bits < 32)
		rb_nft_bitwise(r, NFT_REG_1, &mask, 4);
	addr_be &= mask;
	rb_nft_cmp(r, neq ? NFT_CMP_NEQ : NFT_CMP_EQ, NFT_REG_1, &addr_be, 4);
}

void rb_nft_match_dport(struct nftnl_rule *r, uint16_t port)
{
	uint16_t p = htons(port);

	rb_nft_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
	rb_nft_cmp(r, NFT_CMP_EQ, NFT_REG_1, &p, 2);
}

static void ct_state(struct nftnl_rule *r, uint32_t op)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");
	uint32_t mask = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED),
		 zero = 0;

	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
	rb_nft_bitwise(r, NFT_REG_1, &mask, 4);
	rb_nft_cmp(r, op, NFT_REG_1, &zero, 4);
}

void rb_nft_match_ct_est(struct nftnl_rule *r)
{
	ct_state(r, NFT_CMP_NEQ);
}

void rb_nft_match_ct_not_est(struct nftnl_rule *r)
{
	ct_state(r, NFT_CMP_EQ);
}

void rb_nft_match_iifname(struct nftnl_rule *r, const char *name, bool prefix)
{
	char buf[IFNAMSIZ] = {0};

	strncpy(buf, name, IFNAMSIZ - 1);
	rb_nft_meta(r, NFT_META_IIFNAME, NFT_REG_1);
	rb_nft_cmp(r, NFT_CMP_EQ, NFT_REG_1, buf, prefix ? (uint32_t)strlen(buf) : IFNAMSIZ);
}

/* ---- reading a set ---- */

struct dump_ctx {
	rb_nft_elem_fn fn;
	void *ud;
};

static int elem_counter(struct nftnl_expr *e, void *data)
{
	uint64_t *packets = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (name && !strcmp(name, "counter"))
		*packets += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
	return 0;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;

	if (!s)
		return MNL_CB_ERROR;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0) {
		nftnl_set_free(s);
		return MNL_CB_OK;
	}
	it = nftnl_set_elems_iter_create(s);
	for (e = it ? nftnl_set_elems_iter_next(it) : NULL; e; e = nftnl_set_elems_iter_next(it)) {
		uint32_t klen = 0;
		const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
		uint64_t packets = 0;

		nftnl_set_elem_expr_foreach(e, elem_counter, &packets);
		if (key)
			d->fn(key, klen, packets, d->ud);
	}
	if (it)
		nftnl_set_elems_iter_destroy(it);
	nftnl_set_free(s);
	return MNL_CB_OK;
}

/* Send a dump request (buf holds it) and run cb over every answer, until its end. */
static int dump(struct rb_net_ctx *ctx, char *buf, uint32_t seq, mnl_cb_t cb, void *data,
		const char *what, struct rb_error *err)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	int r;

	if (mnl_socket_sendto(ctx->nft, nlh, nlh->nlmsg_len) < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "ask nftables for %s", what);
	for (;;) {
		ssize_t n = nft_recv(ctx, buf, what, err);

		if (n < 0)
			return (int)n;
		r = mnl_cb_run(buf, (size_t)n, seq, ctx->nft_portid, cb, data);
		if (r < 0)
			return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "read %s", what);
		if (r == MNL_CB_STOP)
			return 0;
	}
}

int rb_nft_set_dump(struct rb_net_ctx *ctx, const char *set, rb_nft_elem_fn fn, void *ud,
		    struct rb_error *err)
{
	_cleanup_free_ char *buf = malloc(MNL_SOCKET_BUFFER_SIZE * 4);
	struct dump_ctx d = {fn, ud};
	struct nftnl_set *s = rb_nft_set(set);
	struct nlmsghdr *nlh;
	uint32_t seq = ctx->seq++;
	char what[64];

	if (!buf || !s) {
		if (s)
			nftnl_set_free(s);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP, seq);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	snprintf(what, sizeof(what), "set %s", set);
	return dump(ctx, buf, seq, dump_cb, &d, what, err);
}

/* ---- the table's chains and sets ---- */

struct name_ctx {
	int type;
	rb_nft_name_fn fn;
	void *ud;
};

static int name_cb(const struct nlmsghdr *nlh, void *data)
{
	struct name_ctx *d = data;
	const char *table = NULL, *name = NULL;
	struct nftnl_chain *c = NULL;
	struct nftnl_set *s = NULL;

	if (d->type == NFT_MSG_GETCHAIN) {
		c = nftnl_chain_alloc();
		if (c && nftnl_chain_nlmsg_parse(nlh, c) == 0) {
			table = nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE);
			name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
		}
	} else {
		s = nftnl_set_alloc();
		if (s && nftnl_set_nlmsg_parse(nlh, s) == 0) {
			table = nftnl_set_get_str(s, NFTNL_SET_TABLE);
			name = nftnl_set_get_str(s, NFTNL_SET_NAME);
		}
	}
	/* a kernel that does not filter the dump by table: ours only */
	if (table && name && !strcmp(table, RB_NET_TABLE))
		d->fn(name, d->ud);
	if (c)
		nftnl_chain_free(c);
	if (s)
		nftnl_set_free(s);
	return (c || s) ? MNL_CB_OK : MNL_CB_ERROR;
}

int rb_nft_list(struct rb_net_ctx *ctx, int type, rb_nft_name_fn fn, void *ud, struct rb_error *err)
{
	_cleanup_free_ char *buf = malloc(MNL_SOCKET_BUFFER_SIZE * 4);
	struct name_ctx d = {type, fn, ud};
	struct nlmsghdr *nlh;
	uint32_t seq = ctx->seq++;

	if (!buf)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	nlh = nftnl_nlmsg_build_hdr(buf, (uint16_t)type, NFPROTO_INET, NLM_F_DUMP, seq);
	if (type == NFT_MSG_GETCHAIN) {
		struct nftnl_chain *c = rb_nft_chain("");

		nftnl_chain_unset(c, NFTNL_CHAIN_NAME);
		nftnl_chain_nlmsg_build_payload(nlh, c);
		nftnl_chain_free(c);
	} else {
		struct nftnl_set *s = rb_nft_set("");

		nftnl_set_unset(s, NFTNL_SET_NAME);
		nftnl_set_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
	}
	return dump(ctx, buf, seq, name_cb, &d,
		    type == NFT_MSG_GETCHAIN ? "table " RB_NET_TABLE "'s chains"
					     : "table " RB_NET_TABLE "'s sets",
		    err);
}

/* The table's comment, as nft writes it (a TLV in its user data): the owner mark. */
static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	char *owner = data;
	uint8_t len = nftnl_udata_len(attr);
	const char *v = nftnl_udata_get(attr);

	if (nftnl_udata_type(attr) == NFTNL_UDATA_TABLE_COMMENT && len > 0 &&
	    len <= RB_NET_OWNER_MAX && v[len - 1] == '\0')
		memcpy(owner, v, len);
	return 0;
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_table *t = nftnl_table_alloc();
	const void *ud;
	uint32_t len = 0;

	if (!t)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0 &&
	    (ud = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &len)) && len > 0)
		nftnl_udata_parse(ud, len, comment_cb, data);
	nftnl_table_free(t);
	return MNL_CB_OK;
}

void rb_nft_table_mark(struct nftnl_table *t, const char *owner)
{
	struct nftnl_udata_buf *ud;

	if (!t || !owner[0] || !(ud = nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 2)))
		return;
	if (nftnl_udata_put_strz(ud, NFTNL_UDATA_TABLE_COMMENT, owner))
		nftnl_table_set_data(t, NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(ud),
				     nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
}

int rb_nft_table_exists(struct rb_net_ctx *ctx, bool *out, char *owner, struct rb_error *err)
{
	_cleanup_free_ char *buf = malloc(MNL_SOCKET_BUFFER_SIZE * 4);
	struct nftnl_table *t = rb_nft_table();
	struct nlmsghdr *nlh;
	uint32_t seq = ctx->seq++;
	struct rb_error e;
	int r;

	if (!buf || !t) {
		if (t)
			nftnl_table_free(t);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK, seq);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	/* the table, then an ack; or an error: ENOENT when there is none */
	owner[0] = '\0';
	r = dump(ctx, buf, seq, table_cb, owner, "table " RB_NET_TABLE, &e);
	*out = r == 0;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		*err = e;
	return r;
}
