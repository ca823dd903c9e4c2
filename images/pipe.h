#ifndef RB_IMAGES_PIPE_H
#define RB_IMAGES_PIPE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "images-internal.h"

#define RB_PIPE_SLOTS 4

struct rb_pipe_slot {
	char *buf;
	size_t len;
};

struct rb_layer_pipe {
	int fd; /* the blob, owned by the caller */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rb_pipe_slot slots[RB_PIPE_SLOTS];
	unsigned head, count;
	int held; /* the slot the consumer is reading, or -1 */
	int eof, failed, cancel, started, inited;
	char errmsg[256];
	_Atomic uint64_t raw_bytes; /* compressed bytes read so far, for progress */
	struct rb_hasher hash;	    /* of every uncompressed byte handed out: the diff_id */
	uint64_t total;		    /* uncompressed bytes handed out */
};

int rb_layer_pipe_start(struct rb_layer_pipe *p, int fd, const char *algo);
/* The next block of uncompressed bytes, valid until the next call: >0, 0 at the end, -1 on a
 * decompression error (p->errmsg). */
ssize_t rb_layer_pipe_next(struct rb_layer_pipe *p, const void **buf);
void rb_layer_pipe_stop(struct rb_layer_pipe *p);

#endif
