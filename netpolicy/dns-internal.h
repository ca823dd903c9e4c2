/*
 * The DNS proxy's shared state (dns.h): what the API (dns.c) and the loop (dns-loop.c) both
 * see. Every field but cmds (under lock) and a sandbox's counters (atomic) belongs to the loop
 * thread once it runs.
 */
#ifndef RB_NET_DNS_INTERNAL_H
#define RB_NET_DNS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "dns.h"
#include "mailbox.h"

#define MAX_MSG 65535

enum kind { K_WAKE, K_UDP, K_LISTEN, K_CONN, K_UP };

struct watch {
	enum kind kind;
	void *obj;
};

struct rb_net_dns_sandbox {
	struct rb_net_dns *dns;
	struct watch w_udp, w_tcp;
	int udp_fd, tcp_fd;
	struct sockaddr_storage addr;
	struct rb_net_dns_rules *rules;
	void *ud;
	unsigned inflight, n_conn;
	bool dead;
	_Atomic uint64_t allowed, refused, failed, malformed, dropped, rebinding;
	struct rb_net_dns_sandbox *next, *gc_next;
};

struct cmd {
	struct rb_net_msg msg; /* first: the mailbox's */
	enum { CMD_ADD, CMD_SET, CMD_REMOVE, CMD_STOP } op;
	struct rb_net_dns_sandbox *sb;
	struct rb_net_dns_rules *rules;
};

struct query;
struct conn;

struct rb_net_dns {
	struct rb_net_dns_config cfg;
	int epfd;
	struct watch w_wake;
	pthread_t thread;
	bool started;
	struct rb_net_mailbox mb; /* the API's requests to the loop */
	/* the loop's own */
	bool stop;
	uint64_t next_due;
	struct rb_net_dns_sandbox *sandboxes, *gc_sb;
	struct query *queries, *gc_q;
	struct conn *conns, *gc_c;
	uint8_t buf[MAX_MSG + 1], out[MAX_MSG];
};

/* The loop thread (arg: the struct rb_net_dns). */
void *rb_net_dns_loop(void *arg);
/* After the loop has stopped: close every sandbox and free what is left. */
void rb_net_dns_close_all(struct rb_net_dns *dns);

#endif
