/*
 * Ingress ports, forwarded by the daemon: a listener on the host's loopback per exposed port,
 * and one thread relaying every connection with epoll (bounded buffers, a cap on connections).
 * A private sandbox is reached at its address; a sandbox without a network from a socket made
 * inside its namespace (link.c's short-lived thread), at 127.0.0.1. No DNAT, no route_localnet.
 * The loop owns every socket; the API reaches it only through commands it waits on, as the DNS
 * proxy does, so a closed port has no listener and no connection left when the call returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "mailbox.h"
#include "net-internal.h"

#define FWD_BUF		   (32u << 10) /* per direction and connection */
#define FWD_MAX_CONNS	   512	       /* over every port */
#define FWD_MAX_PORT_CONNS 128

enum tag_kind { TAG_WAKE, TAG_LISTENER, TAG_CLIENT, TAG_SERVER };

struct tag {
	enum tag_kind kind;
	void *obj;
};

struct listener {
	struct tag tag;
	const void *owner;
	uint16_t port;
	int fd;
	int netns_fd; /* >= 0: connect from inside it to 127.0.0.1; else to target */
	struct sockaddr_in target;
	unsigned n_conns;
	struct listener *next;
};

struct half { /* bytes read from one side, waiting to go to the other */
	char *buf;
	size_t off, len;
	bool eof, shut;
};

struct conn {
	struct tag ctag, stag;
	struct listener *l;
	int cfd, sfd;
	bool connecting, hup_c, hup_s, dead;
	struct half c2s, s2c;
	struct conn *prev, *next;
};

enum cmd_op { CMD_OPEN, CMD_CLOSE, CMD_CLOSE_ALL, CMD_STOP };

struct cmd {
	struct rb_net_msg msg; /* first: the mailbox's */
	enum cmd_op op;
	struct listener *l; /* CMD_OPEN: handed to the loop */
	const void *owner;
	uint16_t port;
};

struct rb_net_fwd {
	pthread_t thread;
	struct rb_net_mailbox mb; /* the API's requests to the loop */
	int epfd;
	struct tag wake;
	/* the loop's own */
	struct listener *listeners;
	struct conn *conns, *dead; /* dead: closed, freed after the batch of events naming it */
	unsigned n_conns;
};

static void conn_close(struct rb_net_fwd *f, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		f->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	close(c->cfd); /* closing drops them from the epoll set */
	if (c->sfd >= 0)
		close(c->sfd);
	c->l->n_conns--;
	f->n_conns--;
	c->dead = true;
	c->next = f->dead;
	f->dead = c;
}

static void bury(struct rb_net_fwd *f)
{
	for (struct conn *c = f->dead, *next; c; c = next) {
		next = c->next;
		free(c->c2s.buf);
		free(c->s2c.buf);
		free(c);
	}
	f->dead = NULL;
}

static void listener_close(struct rb_net_fwd *f, struct listener *l)
{
	struct listener **pp;

	for (struct conn *c = f->conns, *next; c; c = next) {
		next = c->next;
		if (c->l == l)
			conn_close(f, c);
	}
	for (pp = &f->listeners; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	close(l->fd);
	if (l->netns_fd >= 0)
		close(l->netns_fd);
	free(l);
}

/* Move what one side has to the other, until either would block. -1: the connection broke. */
static int pump(int from, int to, struct half *h)
{
	for (;;) {
		ssize_t n;

		if (h->len == 0) {
			if (h->eof)
				break;
			n = read(from, h->buf, FWD_BUF);
			if (n > 0) {
				h->off = 0;
				h->len = (size_t)n;
			} else if (n == 0) {
				h->eof = true;
				break;
			} else if (errno == EAGAIN || errno == EINTR) {
				break;
			} else {
				return -1;
			}
		}
		n = send(to, h->buf + h->off, h->len, MSG_NOSIGNAL);
		if (n > 0) {
			h->off += (size_t)n;
			h->len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			break;
		} else {
			return -1;
		}
	}
	if (h->eof && h->len == 0 && !h->shut) {
		shutdown(to, SHUT_WR); /* a half-close passes through */
		h->shut = true;
	}
	return 0;
}

static void watch(struct rb_net_fwd *f, int fd, struct tag *t, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = t};

	if (epoll_ctl(f->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void conn_event(struct rb_net_fwd *f, struct conn *c, bool client, uint32_t events)
{
	if (c->dead)
		return;
	if (events & EPOLLERR) {
		conn_close(f, c);
		return;
	}
	if (!client && c->connecting) {
		int e = 0;
		socklen_t len = sizeof(e);

		if (getsockopt(c->sfd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e != 0) {
			conn_close(f, c); /* nothing listens there: the client sees its end close */
			return;
		}
		c->connecting = false;
	}
	if (events & EPOLLHUP) {
		if (client)
			c->hup_c = true;
		else
			c->hup_s = true;
	}
	if (!c->connecting &&
	    (pump(c->cfd, c->sfd, &c->c2s) < 0 || pump(c->sfd, c->cfd, &c->s2c) < 0)) {
		conn_close(f, c);
		return;
	}
	/* done: both directions ended, or one side is gone with all it sent delivered */
	if ((c->c2s.shut && c->s2c.shut) || (c->hup_c && c->c2s.len == 0) ||
	    (c->hup_s && c->s2c.len == 0)) {
		conn_close(f, c);
		return;
	}
	if (c->hup_c)
		epoll_ctl(f->epfd, EPOLL_CTL_DEL, c->cfd, NULL);
	else
		watch(f, c->cfd, &c->ctag,
		      (!c->connecting && !c->c2s.eof && c->c2s.len == 0 ? EPOLLIN : 0) |
			  (c->s2c.len ? EPOLLOUT : 0));
	if (c->hup_s)
		epoll_ctl(f->epfd, EPOLL_CTL_DEL, c->sfd, NULL);
	else
		watch(f, c->sfd, &c->stag,
		      c->connecting ? EPOLLOUT
				    : (!c->s2c.eof && c->s2c.len == 0 ? EPOLLIN : 0) |
					  (c->c2s.len ? EPOLLOUT : 0));
}

static int server_socket(struct listener *l, int *out)
{
	struct rb_error ignored = {0};
	struct sockaddr_in to = l->target;
	int fd = -1, r;

	if (l->netns_fd >= 0) {
		r = rb_net_netns_socket(l->netns_fd, &fd, &ignored);
		if (r < 0)
			return r;
		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
	}
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

static void accept_one(struct rb_net_fwd *f, struct listener *l)
{
	_cleanup_close_ int cfd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	int sfd = -1;
	struct conn *c;

	if (cfd < 0)
		return;
	if (f->n_conns >= FWD_MAX_CONNS || l->n_conns >= FWD_MAX_PORT_CONNS)
		return; /* over the cap: closed at once */
	if (server_socket(l, &sfd) < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c) {
		c->c2s.buf = malloc(FWD_BUF);
		c->s2c.buf = malloc(FWD_BUF);
	}
	if (!c || !c->c2s.buf || !c->s2c.buf) {
		if (c) {
			free(c->c2s.buf);
			free(c->s2c.buf);
		}
		free(c);
		close(sfd);
		return;
	}
	c->ctag = (struct tag){TAG_CLIENT, c};
	c->stag = (struct tag){TAG_SERVER, c};
	c->l = l;
	c->cfd = TAKE_FD(cfd);
	c->sfd = sfd;
	c->connecting = true;
	c->next = f->conns;
	if (f->conns)
		f->conns->prev = c;
	f->conns = c;
	l->n_conns++;
	f->n_conns++;
	watch(f, c->cfd, &c->ctag, 0);
	watch(f, c->sfd, &c->stag, EPOLLOUT);
}

static struct listener *find(struct rb_net_fwd *f, const void *owner, uint16_t port)
{
	for (struct listener *l = f->listeners; l; l = l->next)
		if (l->owner == owner && l->port == port)
			return l;
	return NULL;
}

static bool do_cmd(struct rb_net_fwd *f, struct cmd *cmd)
{
	struct listener *l;

	switch (cmd->op) {
	case CMD_OPEN:
		l = cmd->l;
		l->tag = (struct tag){TAG_LISTENER, l};
		l->next = f->listeners;
		f->listeners = l;
		watch(f, l->fd, &l->tag, EPOLLIN);
		break;
	case CMD_CLOSE:
		l = find(f, cmd->owner, cmd->port);
		if (l)
			listener_close(f, l);
		else
			cmd->msg.result = -ENOENT;
		break;
	case CMD_CLOSE_ALL:
		for (struct listener *next, *it = f->listeners; it; it = next) {
			next = it->next;
			if (it->owner == cmd->owner)
				listener_close(f, it);
		}
		break;
	case CMD_STOP:
		while (f->listeners)
			listener_close(f, f->listeners);
		return false;
	}
	return true;
}

static bool run_cmds(struct rb_net_fwd *f)
{
	struct rb_net_msg *list = rb_net_mailbox_take(&f->mb);
	bool go_on = true;

	for (struct rb_net_msg *m = list; m; m = m->next)
		go_on &= do_cmd(f, (struct cmd *)m);
	rb_net_mailbox_done(&f->mb, list);
	return go_on;
}

static void *loop(void *arg)
{
	struct rb_net_fwd *f = arg;
	struct epoll_event evs[64];

	for (;;) {
		int n = epoll_wait(f->epfd, evs, 64, -1);

		for (int i = 0; i < n; i++) {
			struct tag *t = evs[i].data.ptr;

			switch (t->kind) {
			case TAG_WAKE:
				break;
			case TAG_LISTENER:
				accept_one(f, t->obj);
				break;
			case TAG_CLIENT:
			case TAG_SERVER:
				conn_event(f, t->obj, t->kind == TAG_CLIENT, evs[i].events);
				break;
			}
		}
		/* commands after the batch: nothing they free is named by an event still to do */
		for (int i = 0; i < n; i++)
			if (((struct tag *)evs[i].data.ptr)->kind == TAG_WAKE && !run_cmds(f)) {
				bury(f);
				return NULL;
			}
		bury(f);
	}
}

static int run_cmd(struct rb_net_fwd *f, struct cmd *cmd)
{
	return rb_net_mailbox_send(&f->mb, &cmd->msg);
}

int rb_net_fwd_new(struct rb_net_fwd **out, struct rb_error *err)
{
	struct rb_net_fwd *f = calloc(1, sizeof(*f));
	struct epoll_event ev;
	sigset_t all, old;
	int r;

	if (!f)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	r = rb_net_mailbox_init(&f->mb);
	f->wake.kind = TAG_WAKE;
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &f->wake};
	if (r < 0 || f->epfd < 0 || epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->mb.evfd, &ev) < 0) {
		r = rb_error_sys(err, errno, RB_INTERNAL_ERROR, "the port forwarder's epoll");
		goto fail;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&f->thread, NULL, loop, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		r = rb_error_set(err, r, RB_RESOURCE_EXHAUSTED, "start the port forwarder: %s",
				 strerror(r));
		goto fail;
	}
	*out = f;
	return 0;
fail:
	if (f->epfd >= 0)
		close(f->epfd);
	rb_net_mailbox_destroy(&f->mb);
	free(f);
	return r;
}

void rb_net_fwd_free(struct rb_net_fwd *f)
{
	struct cmd cmd = {.op = CMD_STOP};

	if (!f)
		return;
	run_cmd(f, &cmd);
	pthread_join(f->thread, NULL);
	close(f->epfd);
	rb_net_mailbox_destroy(&f->mb);
	free(f);
}

int rb_net_fwd_open(struct rb_net_fwd *f, const void *owner, uint16_t port,
		    const struct sockaddr_in *target, int netns_fd, uint16_t *host_port,
		    struct rb_error *err)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	struct listener *l = calloc(1, sizeof(*l));
	struct cmd cmd = {.op = CMD_OPEN, .l = l};
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	_cleanup_close_ int ns = netns_fd >= 0 ? fcntl(netns_fd, F_DUPFD_CLOEXEC, 3) : -1;

	if (!l)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	/* the port it had (a daemon that restarts keeps the URL) if still free, else the kernel
	 * picks a free one on the loopback of the daemon's namespace. SO_REUSEADDR on every
	 * listener, so that the connections it leaves in TIME_WAIT do not keep its port from
	 * the next daemon (another listener on it still does) */
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
	/* (another SO_REUSEADDR socket bound there lets the bind pass and fails the listen) */
	if (fd >= 0 && *host_port) {
		a.sin_port = htons(*host_port);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0) {
			close(fd);
			fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd >= 0)
				setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
			a.sin_port = 0;
		}
	}
	if (fd < 0 || (netns_fd >= 0 && ns < 0) ||
	    (a.sin_port == 0 &&
	     (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0)) ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		int e = errno;

		free(l);
		return rb_error_sys(err, e, RB_NETWORK_ERROR, "port %u: listen on 127.0.0.1", port);
	}
	l->owner = owner;
	l->port = port;
	l->fd = TAKE_FD(fd);
	l->netns_fd = TAKE_FD(ns);
	l->target = *target;
	l->target.sin_port = htons(port);
	*host_port = ntohs(a.sin_port);
	return run_cmd(f, &cmd);
}

int rb_net_fwd_close(struct rb_net_fwd *f, const void *owner, uint16_t port)
{
	struct cmd cmd = {.op = CMD_CLOSE, .owner = owner, .port = port};

	return run_cmd(f, &cmd);
}

void rb_net_fwd_close_all(struct rb_net_fwd *f, const void *owner)
{
	struct cmd cmd = {.op = CMD_CLOSE_ALL, .owner = owner};

	if (f)
		run_cmd(f, &cmd);
}
