/*
 * Requests to a loop thread that waits in epoll, each answered before its sender goes on: the
 * DNS proxy's and the port forwarder's. The sender puts a message in the box, wakes the loop
 * through the box's eventfd (which the loop watches) and waits until the loop marks it done;
 * the loop takes every pending message at a wake, handles them, and marks them done.
 */
#ifndef RB_NETPOLICY_MAILBOX_H
#define RB_NETPOLICY_MAILBOX_H

#include <pthread.h>
#include <stdbool.h>

/* the first member of a module's own message */
struct rb_net_msg {
	struct rb_net_msg *next;
	int result; /* set by the loop; what send returns */
	bool done;
};

struct rb_net_mailbox {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rb_net_msg *head;
	int evfd; /* for the loop's epoll set; -1 when init failed */
};

/* 0, or -errno with evfd -1 (destroy is still needed). */
int rb_net_mailbox_init(struct rb_net_mailbox *mb);
void rb_net_mailbox_destroy(struct rb_net_mailbox *mb);
/* Put msg in the box and wait for the loop to handle it: its result. */
int rb_net_mailbox_send(struct rb_net_mailbox *mb, struct rb_net_msg *msg);
/* The loop, at a wake: every pending message (a list by next), the wake consumed. */
struct rb_net_msg *rb_net_mailbox_take(struct rb_net_mailbox *mb);
/* The loop, once it has handled the list: their senders go on (and may free them). */
void rb_net_mailbox_done(struct rb_net_mailbox *mb, struct rb_net_msg *list);

#endif
