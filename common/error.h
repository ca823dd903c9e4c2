/*
 * One error idiom for the whole tree: a fallible function returns 0 or a negative errno and fills
 * a struct rb_error with the errno, the API error code and a message naming what failed.
 * Callers add context with rb_error_wrap(); the daemon maps the code to HTTP once, at the edge.
 */
#ifndef RB_ERROR_H
#define RB_ERROR_H

enum rb_code {
	RB_OK = 0,
	RB_INVALID_REQUEST,
	RB_INVALID_CONFIG,
	RB_UNAUTHORIZED,
	RB_FORBIDDEN,
	RB_SANDBOX_NOT_FOUND,
	RB_INVALID_STATE,
	RB_RATE_LIMITED,
	RB_RESOURCE_EXHAUSTED,
	RB_INTERNAL_ERROR,
	RB_COMMAND_TOO_LONG,
	RB_EXECUTION_TIMEOUT,
	RB_NETWORK_ERROR,
	/* runbox's additions for the image store */
	RB_IMAGE_NOT_FOUND,
	RB_INVALID_IMAGE,
	RB_NOT_FOUND,
};

struct rb_error {
	int errnum; /* positive errno, or 0 */
	enum rb_code code;
	char msg[1024];
};

/* Fill err and return -errnum (or -EINVAL when errnum is 0). */
int rb_error_set(struct rb_error *err, int errnum, enum rb_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Like rb_error_set, appending ": strerror(errnum)". */
int rb_error_sys(struct rb_error *err, int errnum, enum rb_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prefix the message with context ("loading x.tar: <old message>"); returns -errnum. */
int rb_error_wrap(struct rb_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rb_error_clear(struct rb_error *err);

const char *rb_code_name(enum rb_code code);
int rb_code_http_status(enum rb_code code);
int rb_code_retryable(enum rb_code code);

#endif
