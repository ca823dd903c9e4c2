/* The frames of an attached exec (POST .../exec upgraded to runbox-exec, docs/api.md), both ways:
 * an 8-byte header (type, three zero bytes, big-endian payload length), then the payload. One
 * definition for the daemon's side (runtime/exec_attach.c) and the CLI's (cli/attach.c). */
#ifndef RB_FRAME_H
#define RB_FRAME_H

#include <stddef.h>
#include <string.h>

enum rb_frame_type {
	RB_FRAME_STDIN = 0,
	RB_FRAME_STDOUT = 1,
	RB_FRAME_STDERR = 2,
	RB_FRAME_EOF = 3,    /* client: no more input */
	RB_FRAME_RESIZE = 4, /* client: u16 rows, u16 cols, big-endian */
	RB_FRAME_EXIT = 5,   /* daemon, last: the result as JSON */
	RB_FRAME_ERROR = 6,  /* daemon, last: an error document as JSON */
};

#define RB_FRAME_HDR	    8
#define RB_FRAME_MAX	    65536 /* the largest payload either side takes */
#define RB_FRAME_RESIZE_LEN 4

/* A frame (header and payload) at out, which has room for RB_FRAME_HDR + len; its size. */
static inline size_t rb_frame_put(void *out, enum rb_frame_type type, const void *data, size_t len)
{
	unsigned char *h = out;

	memset(h, 0, RB_FRAME_HDR);
	h[0] = (unsigned char)type;
	h[4] = (unsigned char)(len >> 24);
	h[5] = (unsigned char)(len >> 16);
	h[6] = (unsigned char)(len >> 8);
	h[7] = (unsigned char)len;
	if (len)
		memcpy(h + RB_FRAME_HDR, data, len);
	return RB_FRAME_HDR + len;
}

/* The payload length a frame's header gives. */
static inline size_t rb_frame_len(const void *hdr)
{
	const unsigned char *h = hdr;

	return (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];
}

/* A RESIZE frame's payload, written and read. */
static inline void rb_frame_size_put(unsigned char p[RB_FRAME_RESIZE_LEN], unsigned short rows,
				     unsigned short cols)
{
	p[0] = (unsigned char)(rows >> 8);
	p[1] = (unsigned char)rows;
	p[2] = (unsigned char)(cols >> 8);
	p[3] = (unsigned char)cols;
}

static inline void rb_frame_size_get(const unsigned char p[RB_FRAME_RESIZE_LEN],
				     unsigned short *rows, unsigned short *cols)
{
	*rows = (unsigned short)(p[0] << 8 | p[1]);
	*cols = (unsigned short)(p[2] << 8 | p[3]);
}

#endif
