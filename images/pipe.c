/* A layer's bytes, decompressed on a thread of their own: the reader thread inflates the blob
 * (gzip, zstd or plain) into a ring of slots while the caller's thread unpacks entries from the
 * other end, as `tar -xzf` overlaps gzip and tar in two processes. The ring bounds memory. */
#include <archive.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "pipe.h"

#define SLOT_SIZE (1 << 20)

static void *producer(void *arg)
{
	struct rb_layer_pipe *p = arg;
	struct archive *a = archive_read_new();
	struct archive_entry *entry;
	int failed = 0;

	if (!a) {
		failed = 1;
		snprintf(p->errmsg, sizeof(p->errmsg), "out of memory");
		goto out;
	}
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_none(a);
	archive_read_support_format_raw(a);
	archive_read_support_format_empty(a);
	if (archive_read_open_fd(a, p->fd, SLOT_SIZE) != ARCHIVE_OK ||
	    archive_read_next_header(a, &entry) != ARCHIVE_OK) {
		/* an empty blob is an empty stream: let the tar side say what it thinks */
		if (archive_format(a) != ARCHIVE_FORMAT_EMPTY) {
			failed = 1;
			snprintf(p->errmsg, sizeof(p->errmsg), "%s", archive_error_string(a));
		}
		goto out;
	}
	for (;;) {
		struct rb_pipe_slot *s;
		la_ssize_t n;

		pthread_mutex_lock(&p->mu);
		while (p->count == RB_PIPE_SLOTS && !p->cancel)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->cancel) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		s = &p->slots[(p->head + p->count) % RB_PIPE_SLOTS];
		pthread_mutex_unlock(&p->mu);

		n = archive_read_data(a, s->buf, SLOT_SIZE);
		if (n < 0) {
			failed = 1;
			snprintf(p->errmsg, sizeof(p->errmsg), "%s", archive_error_string(a));
			break;
		}
		if (n == 0)
			break;
		s->len = (size_t)n;
		atomic_store(&p->raw_bytes, (uint64_t)archive_filter_bytes(a, -1));
		pthread_mutex_lock(&p->mu);
		p->count++;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
out:
	if (a)
		archive_read_free(a);
	pthread_mutex_lock(&p->mu);
	p->eof = 1;
	p->failed = failed;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int rb_layer_pipe_start(struct rb_layer_pipe *p, int fd, const char *algo)
{
	int r;

	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->held = -1;
	for (int i = 0; i < RB_PIPE_SLOTS; i++) {
		p->slots[i].buf = malloc(SLOT_SIZE);
		if (!p->slots[i].buf) {
			rb_layer_pipe_stop(p);
			return -ENOMEM;
		}
	}
	r = rb_hasher_init(&p->hash, algo);
	if (r < 0) {
		rb_layer_pipe_stop(p);
		return r;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->inited = 1;
	r = pthread_create(&p->thread, NULL, producer, p);
	if (r) {
		rb_layer_pipe_stop(p);
		return -r;
	}
	p->started = 1;
	return 0;
}

ssize_t rb_layer_pipe_next(struct rb_layer_pipe *p, const void **buf)
{
	ssize_t n;

	pthread_mutex_lock(&p->mu);
	if (p->held >= 0) {
		/* libarchive is done with the slot it was handed last time */
		p->head = (p->head + 1) % RB_PIPE_SLOTS;
		p->count--;
		p->held = -1;
		pthread_cond_broadcast(&p->cv);
	}
	while (p->count == 0 && !p->eof)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->count == 0) {
		n = p->failed ? -1 : 0;
		pthread_mutex_unlock(&p->mu);
		return n;
	}
	p->held = (int)p->head;
	*buf = p->slots[p->head].buf;
	n = (ssize_t)p->slots[p->head].len;
	pthread_mutex_unlock(&p->mu);
	rb_hasher_update(&p->hash, *buf, (size_t)n);
	p->total += (uint64_t)n;
	return n;
}

void rb_layer_pipe_stop(struct rb_layer_pipe *p)
{
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->cancel = 1;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
		p->started = 0;
	}
	if (p->inited) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
		p->inited = 0;
	}
	rb_hasher_free(&p->hash);
	for (int i = 0; i < RB_PIPE_SLOTS; i++) {
		free(p->slots[i].buf);
		p->slots[i].buf = NULL;
	}
}
