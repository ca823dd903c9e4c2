/*
 * The DNS proxy's loop (dns.h): one thread, one epoll over the sandboxes' listeners, their TCP
 * clients and the upstream sockets of the queries in flight. Everything here runs in that
 * thread; the API (dns.c) reaches it only through commands (do_cmd). Objects a batch of events
 * may still name (a query, a connection, a sandbox) are only marked dead while the batch runs
 * and freed after it (collect).
 */
#include "dns-internal.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"

#define UDP_QUERY_MAX	  4096 /* a larger datagram is not a query */
#define CONN_IN		  4096 /* nor a larger message over TCP: the connection is closed */
#define CONN_OUT_MAX	  (256 * 1024)
#define CONN_IDLE_MS	  10000
#define CONN_MAX_INFLIGHT 16
#define BATCH		  64
#define RCODE_FORMERR	  1
#define RCODE_SERVFAIL	  2
#define RCODE_NOTIMP	  4
#define RCODE_REFUSED	  5

struct conn {
	struct watch w;
	struct rb_net_dns_sandbox *sb;
	int fd;
	bool dead, eof, want_out;
	unsigned inflight;
	uint64_t idle_at;
	size_t in_len, out_len, out_off;
	uint8_t *out;
	uint8_t in[2 + CONN_IN];
	struct conn *prev, *next, *gc_next;
};

struct query {
	struct watch w;
	struct rb_net_dns_sandbox *sb;
	struct conn *conn; /* NULL: the answer goes back over UDP to from */
	struct sockaddr_storage from;
	socklen_t from_len;
	struct rb_net_dns_query q;
	size_t rule, upstream;
	int fd;
	bool dead, tcp;
	uint16_t up_id;
	uint64_t deadline, attempt_at;
	size_t req_len, sent, resp_len, resp_got;
	uint8_t req[2 + 320]; /* length prefix (TCP), then the query: name <= 255 */
	uint8_t lenb[2];
	uint8_t *resp;
	struct query *prev, *next, *gc_next;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void due(struct rb_net_dns *dns, uint64_t at)
{
	if (at < dns->next_due)
		dns->next_due = at;
}

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* --- connections from sandboxes over TCP ------------------------------------------------ */

static void conn_close(struct rb_net_dns *dns, struct conn *c);
static void query_end(struct rb_net_dns *dns, struct query *q);

static void conn_events(struct rb_net_dns *dns, struct conn *c)
{
	struct epoll_event ev = {.events = (c->eof ? 0 : EPOLLIN) | (c->want_out ? EPOLLOUT : 0),
				 .data.ptr = &c->w};

	epoll_ctl(dns->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_maybe_done(struct rb_net_dns *dns, struct conn *c)
{
	if (!c->dead && c->eof && !c->inflight && c->out_off == c->out_len)
		conn_close(dns, c);
}

static void conn_flush(struct rb_net_dns *dns, struct conn *c)
{
	bool was = c->want_out;

	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			c->want_out = errno == EAGAIN;
			if (c->want_out != was)
				conn_events(dns, c);
			return;
		}
		if (n < 0) {
			conn_close(dns, c);
			return;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	c->want_out = false;
	if (was)
		conn_events(dns, c);
	conn_maybe_done(dns, c);
}

static void conn_send(struct rb_net_dns *dns, struct conn *c, const uint8_t *msg, size_t len)
{
	uint8_t *p;

	if (c->dead)
		return;
	if (c->out_len - c->out_off + 2 + len > CONN_OUT_MAX) {
		conn_close(dns, c); /* a client that does not read its answers */
		return;
	}
	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	p = realloc(c->out, c->out_len + 2 + len);
	if (!p) {
		conn_close(dns, c);
		return;
	}
	c->out = p;
	p[c->out_len] = (uint8_t)(len >> 8);
	p[c->out_len + 1] = (uint8_t)len;
	memcpy(p + c->out_len + 2, msg, len);
	c->out_len += 2 + len;
	conn_flush(dns, c);
}

static void conn_close(struct rb_net_dns *dns, struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	for (struct query *q = dns->queries; q; q = q->next)
		if (q->conn == c)
			query_end(dns, q);
	close(c->fd);
	c->fd = -1;
	c->sb->n_conn--;
	if (c->prev)
		c->prev->next = c->next;
	else
		dns->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->gc_next = dns->gc_c;
	dns->gc_c = c;
}

/* --- queries in flight ------------------------------------------------------------------ */

static void reply(struct rb_net_dns *dns, struct rb_net_dns_sandbox *sb, struct conn *c,
		  const struct sockaddr_storage *from, socklen_t from_len, const uint8_t *msg,
		  size_t len)
{
	if (!len)
		return;
	if (c)
		conn_send(dns, c, msg, len);
	else
		sendto(sb->udp_fd, msg, len, MSG_DONTWAIT, (const struct sockaddr *)from, from_len);
}

static void query_end(struct rb_net_dns *dns, struct query *q)
{
	if (q->dead)
		return;
	q->dead = true;
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	q->sb->inflight--;
	if (q->prev)
		q->prev->next = q->next;
	else
		dns->queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->gc_next = dns->gc_q;
	dns->gc_q = q;
	if (q->conn) {
		q->conn->inflight--;
		conn_maybe_done(dns, q->conn);
	}
}

static void query_answer(struct rb_net_dns *dns, struct query *q, const uint8_t *msg, size_t len)
{
	reply(dns, q->sb, q->conn, &q->from, q->from_len, msg, len);
	query_end(dns, q);
}

static void query_fail(struct rb_net_dns *dns, struct query *q, int rcode)
{
	size_t n = rb_net_dns_error_answer(&q->q, rcode, dns->out, sizeof(dns->out));

	if (rcode == RCODE_SERVFAIL)
		q->sb->failed++;
	query_answer(dns, q, dns->out, n);
}

static void build_request(struct query *q)
{
	static const uint8_t opt[11] = {0, 0, 41, 1232 >> 8, 1232 & 0xff};
	uint8_t *m = q->req + 2;
	size_t n = 12;

	if (getrandom(&q->up_id, sizeof(q->up_id), GRND_NONBLOCK) != sizeof(q->up_id))
		q->up_id = (uint16_t)(q->up_id * 31421u + 6927u + (uint16_t)now_ms());
	memset(m, 0, 12);
	m[0] = (uint8_t)(q->up_id >> 8);
	m[1] = (uint8_t)q->up_id;
	m[2] = (uint8_t)((q->q.flags & 0x0100) >> 8); /* RD as the client asked */
	m[5] = 1;				      /* one question */
	m[11] = 1;				      /* EDNS */
	memcpy(m + n, q->q.qname.wire, q->q.qname.len);
	n += q->q.qname.len;
	m[n++] = (uint8_t)(q->q.qtype >> 8);
	m[n++] = (uint8_t)q->q.qtype;
	m[n++] = (uint8_t)(q->q.qclass >> 8);
	m[n++] = (uint8_t)q->q.qclass;
	memcpy(m + n, opt, sizeof(opt));
	n += sizeof(opt);
	q->req[0] = (uint8_t)(n >> 8);
	q->req[1] = (uint8_t)n;
	q->req_len = n;
}

static int open_upstream(struct rb_net_dns *dns, struct query *q)
{
	const struct sockaddr_storage *ua = &dns->cfg.upstream[q->upstream];
	_cleanup_close_ int fd = socket(
	    ua->ss_family, (q->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct epoll_event ev = {.events = q->tcp ? EPOLLOUT : EPOLLIN, .data.ptr = &q->w};

	if (fd < 0)
		return -errno;
	build_request(q);
	/* a new socket per query: the kernel picks a random source port for each */
	if (connect(fd, (const struct sockaddr *)ua, sa_len(ua)) < 0 &&
	    !(q->tcp && errno == EINPROGRESS))
		return -errno;
	if (!q->tcp && send(fd, q->req + 2, q->req_len, 0) < 0)
		return -errno;
	if (epoll_ctl(dns->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	q->fd = TAKE_FD(fd);
	return 0;
}

/* Ask the current upstream (then the next ones) over UDP or TCP; SERVFAIL when none is left. */
static void attempt(struct rb_net_dns *dns, struct query *q)
{
	uint64_t now = now_ms(), slice = dns->cfg.timeout_ms / dns->cfg.n_upstream;

	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	free(q->resp);
	q->resp = NULL;
	q->sent = q->resp_got = q->resp_len = 0;
	for (; q->upstream < dns->cfg.n_upstream && now < q->deadline;
	     q->upstream++, q->tcp = false)
		if (open_upstream(dns, q) == 0) {
			q->attempt_at = now + slice < q->deadline ? now + slice : q->deadline;
			due(dns, q->attempt_at);
			return;
		}
	query_fail(dns, q, RCODE_SERVFAIL);
}

static void next_upstream(struct rb_net_dns *dns, struct query *q)
{
	q->upstream++;
	q->tcp = false;
	attempt(dns, q);
}

/* An answer from upstream: -EAGAIN when it is not this query's. */
static int deliver(struct rb_net_dns *dns, struct query *q, const uint8_t *msg, size_t len)
{
	struct rb_net_dns_sandbox *sb = q->sb;
	struct rb_net_dns_rewrite rw = {
	    .q = &q->q,
	    .rules = sb->rules,
	    .ttl_floor_s = dns->cfg.ttl_floor_s,
	    .ttl_ceiling_s = dns->cfg.ttl_ceiling_s,
	    .allow_addr = dns->cfg.allow_addr,
	    .sandbox_ud = sb->ud,
	};
	ssize_t n;

	/* the policy may have changed while the query was out: judge it again */
	if (rb_net_dns_rules_verdict(sb->rules, &q->q, &rw.rule) != RB_NET_DNS_FORWARD) {
		query_fail(dns, q, RCODE_REFUSED);
		return 0;
	}
	n = rb_net_dns_rewrite_answer(&rw, q->up_id, msg, len, dns->out,
				      q->conn ? sizeof(dns->out) : q->q.udp_size);
	sb->rebinding += rw.rebinding;
	if (n == -EAGAIN)
		return -EAGAIN;
	if (n == -EMSGSIZE && !q->tcp) {
		q->tcp = true;
		attempt(dns, q);
	} else if (n < 0) {
		next_upstream(dns, q);
	} else {
		query_answer(dns, q, dns->out, (size_t)n);
	}
	return 0;
}

static void on_upstream_udp(struct rb_net_dns *dns, struct query *q)
{
	for (int i = 0; i < BATCH && !q->dead && !q->tcp; i++) {
		ssize_t n = recv(q->fd, dns->buf, sizeof(dns->buf), 0);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			next_upstream(dns, q); /* ECONNREFUSED: nobody listens there */
		if (n < 0 || deliver(dns, q, dns->buf, (size_t)n) != -EAGAIN)
			return;
	}
}

static void on_upstream_tcp(struct rb_net_dns *dns, struct query *q, uint32_t events)
{
	ssize_t n;

	if (q->sent < q->req_len + 2) {
		int e = 0;
		socklen_t el = sizeof(e);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &q->w};

		if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e) {
			next_upstream(dns, q);
			return;
		}
		n = send(q->fd, q->req + q->sent, q->req_len + 2 - q->sent, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			next_upstream(dns, q);
		if (n < 0)
			return;
		q->sent += (size_t)n;
		if (q->sent == q->req_len + 2)
			epoll_ctl(dns->epfd, EPOLL_CTL_MOD, q->fd, &ev);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	if (q->resp_got < 2) {
		n = recv(q->fd, q->lenb + q->resp_got, 2 - q->resp_got, 0);
	} else {
		n = recv(q->fd, q->resp + q->resp_got - 2, q->resp_len - (q->resp_got - 2), 0);
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		next_upstream(dns, q);
		return;
	}
	q->resp_got += (size_t)n;
	if (q->resp_got == 2) {
		q->resp_len = (size_t)q->lenb[0] << 8 | q->lenb[1];
		q->resp = malloc(q->resp_len ? q->resp_len : 1);
		if (!q->resp || !q->resp_len) {
			next_upstream(dns, q);
			return;
		}
	}
	if (q->resp_got >= 2 && q->resp_got - 2 == q->resp_len &&
	    deliver(dns, q, q->resp, q->resp_len) == -EAGAIN)
		next_upstream(dns, q);
}

/* --- queries from sandboxes ------------------------------------------------------------- */

static void handle_query(struct rb_net_dns *dns, struct rb_net_dns_sandbox *sb, struct conn *c,
			 const struct sockaddr_storage *from, socklen_t from_len,
			 const uint8_t *msg, size_t len)
{
	struct rb_net_dns_query pq;
	struct query *q;
	size_t rule, n;
	int r = rb_net_dns_query_parse(msg, len, &pq);

	if (r == -EBADMSG) {
		sb->malformed++;
		return;
	}
	if (r < 0) {
		sb->malformed++;
		n = rb_net_dns_header_answer(msg, len,
					     r == -EOPNOTSUPP ? RCODE_NOTIMP : RCODE_FORMERR,
					     dns->out, sizeof(dns->out));
		reply(dns, sb, c, from, from_len, dns->out, n);
		return;
	}
	if (rb_net_dns_rules_verdict(sb->rules, &pq, &rule) != RB_NET_DNS_FORWARD) {
		sb->refused++;
		n = rb_net_dns_error_answer(&pq, RCODE_REFUSED, dns->out, sizeof(dns->out));
		reply(dns, sb, c, from, from_len, dns->out, n);
		return;
	}
	if (sb->inflight >= dns->cfg.max_inflight || (c && c->inflight >= CONN_MAX_INFLIGHT)) {
		sb->dropped++;
		return;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		sb->dropped++;
		return;
	}
	*q = (struct query){.w = {K_UP, q}, .sb = sb, .conn = c, .q = pq, .rule = rule, .fd = -1};
	if (from)
		memcpy(&q->from, from, from_len);
	q->from_len = from_len;
	q->deadline = now_ms() + dns->cfg.timeout_ms;
	q->next = dns->queries;
	if (q->next)
		q->next->prev = q;
	dns->queries = q;
	sb->inflight++;
	if (c)
		c->inflight++;
	sb->allowed++;
	attempt(dns, q);
}

static void on_udp(struct rb_net_dns *dns, struct rb_net_dns_sandbox *sb)
{
	for (int i = 0; i < BATCH && !sb->dead; i++) {
		struct sockaddr_storage from;
		socklen_t from_len = sizeof(from);
		ssize_t n = recvfrom(sb->udp_fd, dns->buf, UDP_QUERY_MAX + 1, MSG_TRUNC,
				     (struct sockaddr *)&from, &from_len);

		if (n < 0)
			return;
		if (n > UDP_QUERY_MAX) {
			sb->malformed++;
			continue;
		}
		handle_query(dns, sb, NULL, &from, from_len, dns->buf, (size_t)n);
	}
}

static void on_accept(struct rb_net_dns *dns, struct rb_net_dns_sandbox *sb)
{
	for (int i = 0; i < BATCH; i++) {
		_cleanup_close_ int fd =
		    accept4(sb->tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;
		struct epoll_event ev = {.events = EPOLLIN};

		if (fd < 0)
			return;
		if (sb->n_conn >= dns->cfg.max_tcp) {
			sb->dropped++;
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c)
			continue;
		c->w = (struct watch){K_CONN, c};
		c->sb = sb;
		ev.data.ptr = &c->w;
		if (epoll_ctl(dns->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			free(c);
			continue;
		}
		c->fd = TAKE_FD(fd);
		c->idle_at = now_ms() + CONN_IDLE_MS;
		due(dns, c->idle_at);
		sb->n_conn++;
		c->next = dns->conns;
		if (c->next)
			c->next->prev = c;
		dns->conns = c;
	}
}

static void on_conn(struct rb_net_dns *dns, struct conn *c, uint32_t events)
{
	ssize_t n;

	if (events & EPOLLOUT)
		conn_flush(dns, c);
	if (c->dead || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	if (events & (EPOLLHUP | EPOLLERR)) {
		conn_close(dns, c);
		return;
	}
	n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(dns, c);
		return;
	}
	if (n == 0) { /* half closed: answer what was asked, then close */
		c->eof = true;
		conn_events(dns, c);
		conn_maybe_done(dns, c);
		return;
	}
	c->in_len += (size_t)n;
	c->idle_at = now_ms() + CONN_IDLE_MS;
	due(dns, c->idle_at);
	while (c->in_len >= 2) {
		size_t mlen = (size_t)c->in[0] << 8 | c->in[1];

		if (mlen > CONN_IN) {
			c->sb->malformed++;
			conn_close(dns, c);
			return;
		}
		if (c->in_len < 2 + mlen)
			return;
		handle_query(dns, c->sb, c, NULL, 0, c->in + 2, mlen);
		if (c->dead)
			return;
		c->in_len -= 2 + mlen;
		memmove(c->in, c->in + 2 + mlen, c->in_len);
	}
}

/* --- the loop ---------------------------------------------------------------------------- */

static void sandbox_close(struct rb_net_dns *dns, struct rb_net_dns_sandbox *sb)
{
	struct rb_net_dns_sandbox **pp = &dns->sandboxes;

	sb->dead = true;
	for (struct query *q = dns->queries; q; q = q->next)
		if (q->sb == sb)
			query_end(dns, q);
	for (struct conn *c = dns->conns; c; c = c->next)
		if (c->sb == sb)
			conn_close(dns, c);
	close(sb->udp_fd);
	close(sb->tcp_fd);
	sb->udp_fd = sb->tcp_fd = -1;
	while (*pp && *pp != sb)
		pp = &(*pp)->next;
	if (*pp)
		*pp = sb->next;
	sb->gc_next = dns->gc_sb;
	dns->gc_sb = sb;
}

static void do_cmd(struct rb_net_dns *dns, struct cmd *cmd)
{
	struct rb_net_dns_sandbox *sb = cmd->sb;
	struct rb_net_dns_rules *old;
	struct epoll_event ev = {.events = EPOLLIN};

	switch (cmd->op) {
	case CMD_ADD:
		ev.data.ptr = &sb->w_udp;
		if (epoll_ctl(dns->epfd, EPOLL_CTL_ADD, sb->udp_fd, &ev) < 0) {
			cmd->msg.result = -errno;
			return;
		}
		ev.data.ptr = &sb->w_tcp;
		if (epoll_ctl(dns->epfd, EPOLL_CTL_ADD, sb->tcp_fd, &ev) < 0) {
			cmd->msg.result = -errno;
			epoll_ctl(dns->epfd, EPOLL_CTL_DEL, sb->udp_fd, NULL);
			return;
		}
		sb->next = dns->sandboxes;
		dns->sandboxes = sb;
		return;
	case CMD_SET:
		old = sb->rules;
		sb->rules = cmd->rules;
		cmd->rules = old; /* freed by the caller */
		return;
	case CMD_REMOVE:
		sandbox_close(dns, sb);
		return;
	case CMD_STOP:
		dns->stop = true;
		return;
	}
}

static void on_wake(struct rb_net_dns *dns)
{
	struct rb_net_msg *list = rb_net_mailbox_take(&dns->mb);

	for (struct rb_net_msg *m = list; m; m = m->next)
		do_cmd(dns, (struct cmd *)m);
	rb_net_mailbox_done(&dns->mb, list);
}

static void expire(struct rb_net_dns *dns)
{
	uint64_t now = now_ms();
	struct query *qn;
	struct conn *cn;

	if (now < dns->next_due)
		return;
	dns->next_due = UINT64_MAX;
	for (struct query *q = dns->queries; q; q = qn) {
		qn = q->next;
		if (q->attempt_at <= now)
			next_upstream(dns, q);
		else
			due(dns, q->attempt_at);
	}
	for (struct conn *c = dns->conns; c; c = cn) {
		cn = c->next;
		if (c->inflight)
			continue;
		if (c->idle_at <= now)
			conn_close(dns, c);
		else
			due(dns, c->idle_at);
	}
}

static void collect(struct rb_net_dns *dns)
{
	while (dns->gc_q) {
		struct query *q = dns->gc_q;

		dns->gc_q = q->gc_next;
		free(q->resp);
		free(q);
	}
	while (dns->gc_c) {
		struct conn *c = dns->gc_c;

		dns->gc_c = c->gc_next;
		free(c->out);
		free(c);
	}
	while (dns->gc_sb) {
		struct rb_net_dns_sandbox *sb = dns->gc_sb;

		dns->gc_sb = sb->gc_next;
		rb_net_dns_rules_free(sb->rules);
		free(sb);
	}
}

void *rb_net_dns_loop(void *arg)
{
	struct rb_net_dns *dns = arg;
	struct epoll_event ev[BATCH];

	while (!dns->stop) {
		uint64_t now = now_ms();
		int timeout = -1, n;

		if (dns->next_due != UINT64_MAX)
			timeout = dns->next_due <= now		  ? 0
				  : dns->next_due - now > INT_MAX ? INT_MAX
								  : (int)(dns->next_due - now + 1);
		n = epoll_wait(dns->epfd, ev, BATCH, timeout);
		for (int i = 0; i < n; i++) {
			struct watch *w = ev[i].data.ptr;

			switch (w->kind) {
			case K_WAKE:
				on_wake(dns);
				break;
			case K_UDP:
				if (!((struct rb_net_dns_sandbox *)w->obj)->dead)
					on_udp(dns, w->obj);
				break;
			case K_LISTEN:
				if (!((struct rb_net_dns_sandbox *)w->obj)->dead)
					on_accept(dns, w->obj);
				break;
			case K_CONN:
				if (!((struct conn *)w->obj)->dead)
					on_conn(dns, w->obj, ev[i].events);
				break;
			case K_UP: {
				struct query *q = w->obj;

				if (!q->dead && q->tcp)
					on_upstream_tcp(dns, q, ev[i].events);
				else if (!q->dead)
					on_upstream_udp(dns, q);
				break;
			}
			}
		}
		expire(dns);
		collect(dns);
	}
	return NULL;
}

void rb_net_dns_close_all(struct rb_net_dns *dns)
{
	while (dns->sandboxes)
		sandbox_close(dns, dns->sandboxes);
	collect(dns);
}
