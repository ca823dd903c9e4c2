/* A mailbox for a loop thread: see mailbox.h. */
#include "mailbox.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

int rb_net_mailbox_init(struct rb_net_mailbox *mb)
{
	pthread_mutex_init(&mb->lock, NULL);
	pthread_cond_init(&mb->cond, NULL);
	mb->head = NULL;
	mb->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return mb->evfd < 0 ? -errno : 0;
}

void rb_net_mailbox_destroy(struct rb_net_mailbox *mb)
{
	if (mb->evfd >= 0)
		close(mb->evfd);
	mb->evfd = -1;
	pthread_cond_destroy(&mb->cond);
	pthread_mutex_destroy(&mb->lock);
}

int rb_net_mailbox_send(struct rb_net_mailbox *mb, struct rb_net_msg *msg)
{
	uint64_t one = 1;

	msg->done = false;
	pthread_mutex_lock(&mb->lock);
	msg->next = mb->head;
	mb->head = msg;
	pthread_mutex_unlock(&mb->lock);
	if (write(mb->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort(); /* an eventfd write fails only at a counter of 2^64 - 1 */
	pthread_mutex_lock(&mb->lock);
	while (!msg->done)
		pthread_cond_wait(&mb->cond, &mb->lock);
	pthread_mutex_unlock(&mb->lock);
	return msg->result;
}

struct rb_net_msg *rb_net_mailbox_take(struct rb_net_mailbox *mb)
{
	struct rb_net_msg *list;
	uint64_t n;

	if (read(mb->evfd, &n, sizeof(n)) < 0) {
		/* EAGAIN: a wake already consumed; the messages are still taken below */
	}
	pthread_mutex_lock(&mb->lock);
	list = mb->head;
	mb->head = NULL;
	pthread_mutex_unlock(&mb->lock);
	return list;
}

void rb_net_mailbox_done(struct rb_net_mailbox *mb, struct rb_net_msg *list)
{
	pthread_mutex_lock(&mb->lock);
	for (struct rb_net_msg *m = list, *next; m; m = next) {
		next = m->next; /* the sender may free m once done */
		m->done = true;
	}
	pthread_cond_broadcast(&mb->cond);
	pthread_mutex_unlock(&mb->lock);
}
