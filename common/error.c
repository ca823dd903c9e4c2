#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int ret_of(int errnum)
{
	return errnum > 0 ? -errnum : -EINVAL;
}

int rb_error_set(struct rb_error *err, int errnum, enum rb_code code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return ret_of(errnum);
	err->errnum = errnum;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return ret_of(errnum);
}

int rb_error_sys(struct rb_error *err, int errnum, enum rb_code code, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!err)
		return ret_of(errnum);
	err->errnum = errnum;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	if (n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	return ret_of(errnum);
}

int rb_error_wrap(struct rb_error *err, const char *fmt, ...)
{
	char prefix[512], old[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	return ret_of(err->errnum);
}

void rb_error_clear(struct rb_error *err)
{
	err->errnum = 0;
	err->code = RB_OK;
	err->msg[0] = '\0';
}

static const struct {
	const char *name;
	int status;
	int retryable;
} codes[] = {
    [RB_OK] = {"OK", 200, 0},
    [RB_INVALID_REQUEST] = {"INVALID_REQUEST", 400, 0},
    [RB_INVALID_CONFIG] = {"INVALID_CONFIG", 400, 0},
    [RB_UNAUTHORIZED] = {"UNAUTHORIZED", 401, 0},
    [RB_FORBIDDEN] = {"FORBIDDEN", 403, 0},
    [RB_SANDBOX_NOT_FOUND] = {"SANDBOX_NOT_FOUND", 404, 0},
    [RB_INVALID_STATE] = {"INVALID_STATE", 409, 0},
    [RB_RATE_LIMITED] = {"RATE_LIMITED", 429, 1},
    [RB_RESOURCE_EXHAUSTED] = {"RESOURCE_EXHAUSTED", 503, 1},
    [RB_INTERNAL_ERROR] = {"INTERNAL_ERROR", 500, 1},
    [RB_COMMAND_TOO_LONG] = {"COMMAND_TOO_LONG", 400, 0},
    [RB_EXECUTION_TIMEOUT] = {"EXECUTION_TIMEOUT", 408, 0},
    [RB_NETWORK_ERROR] = {"NETWORK_ERROR", 502, 1},
    [RB_IMAGE_NOT_FOUND] = {"IMAGE_NOT_FOUND", 404, 0},
    [RB_INVALID_IMAGE] = {"INVALID_IMAGE", 400, 0},
    [RB_NOT_FOUND] = {"NOT_FOUND", 404, 0},
};

const char *rb_code_name(enum rb_code code)
{
	if ((unsigned)code >= sizeof(codes) / sizeof(codes[0]) || !codes[code].name)
		return "INTERNAL_ERROR";
	return codes[code].name;
}

int rb_code_http_status(enum rb_code code)
{
	if ((unsigned)code >= sizeof(codes) / sizeof(codes[0]) || !codes[code].name)
		return 500;
	return codes[code].status;
}

int rb_code_retryable(enum rb_code code)
{
	if ((unsigned)code >= sizeof(codes) / sizeof(codes[0]) || !codes[code].name)
		return 0;
	return codes[code].retryable;
}
