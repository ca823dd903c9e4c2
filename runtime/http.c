/*
 * The HTTP layer: one request's life in libmicrohttpd (thread per connection), the route
 * table's matching, body collection with a cap, and the request log.
 */
#include "runtime-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

/* Leave paths percent-encoded: the router splits on '/' first, then decodes each capture, so
 * "%2F" inside an image reference never splits a segment. Query values are decoded on use. */
static size_t keep_escaped(void *cls, struct MHD_Connection *conn, char *s)
{
	return strlen(s);
}

struct span {
	const char *s;
	size_t len;
};

/* Match a path against a route pattern; fills caps (up to RB_RT_MAX_PARAMS). */
static bool match(const char *pat, const char *path, struct span *caps, size_t *n_caps)
{
	size_t n = 0;

	while (*pat) {
		if (*pat == '{') {
			const char *end = strchr(pat, '}');
			bool rest = end && end > pat + 1 && end[-1] == '*';
			size_t len = rest ? strlen(path) : strcspn(path, "/");

			if (!end || len == 0 || n >= RB_RT_MAX_PARAMS)
				return false;
			caps[n].s = path;
			caps[n++].len = len;
			path += len;
			pat = end + 1;
			continue;
		}
		if (*pat++ != *path++)
			return false;
	}
	*n_caps = n;
	return *path == '\0';
}

/* Find the route; on a miss fill err (404, or 405 with req->allow). */
static int route(struct rb_rt_req *req, struct rb_error *err)
{
	const char *method = strcmp(req->method, "HEAD") ? req->method : "GET";
	struct span caps[RB_RT_MAX_PARAMS];
	size_t n_caps = 0, used = 0;

	for (size_t i = 0; i < rb_rt_n_routes; i++) {
		const struct rb_rt_route *r = &rb_rt_routes[i];

		if (!match(r->pattern, req->path, caps, &n_caps))
			continue;
		if (!strcmp(r->method, method)) {
			for (size_t j = 0; j < n_caps; j++) {
				if (rb_rt_percent_decode(caps[j].s, caps[j].len, false,
							 &req->params[j]) < 0)
					return rb_error_set(err, EINVAL, RB_INVALID_REQUEST,
							    "malformed percent-encoding in path");
			}
			req->route = r;
			return 0;
		}
		if (!strstr(req->allow, r->method)) {
			int w = snprintf(req->allow + used, sizeof(req->allow) - used, "%s%s",
					 used ? ", " : "", r->method);

			if (w > 0 && (size_t)w < sizeof(req->allow) - used)
				used += (size_t)w;
		}
	}
	if (req->allow[0])
		return rb_error_set(err, EINVAL, RB_INVALID_REQUEST,
				    "method %s is not allowed on %s (allowed: %s)", req->method,
				    req->path, req->allow);
	return rb_error_set(err, ENOENT, RB_NOT_FOUND, "no route for %s %s", req->method,
			    req->path);
}

static void req_free(struct rb_rt_req *req)
{
	if (req->upload_fd >= 0)
		close(req->upload_fd);
	if (req->upload_done)
		req->upload_done(req);
	if (req->ctx_free)
		req->ctx_free(req->ctx);
	for (size_t i = 0; i < RB_RT_MAX_PARAMS; i++)
		free(req->params[i]);
	free(req->path);
	free(req->body);
	cJSON_Delete(req->details);
	free(req);
}

static struct rb_rt_req *req_new(struct rb_rt_server *srv, struct MHD_Connection *conn,
				 const char *url, const char *method)
{
	struct rb_rt_req *req = calloc(1, sizeof(*req));

	if (!req)
		return NULL;
	req->srv = srv;
	req->conn = conn;
	req->upload_fd = -1;
	req->method = method;
	req->started_ms = rb_now_ms();
	req->path = strndup(url, strcspn(url, "?"));
	memcpy(req->id, "req_", 4);
	if (!req->path || rb_random_id(req->id + 4, 16) < 0) {
		req_free(req);
		return NULL;
	}
	return req;
}

/* First call: route, and refuse a declared body over the cap before reading it. */
static enum MHD_Result begin(struct rb_rt_req *req)
{
	struct rb_error err;
	const char *cl, *ct;

	rb_error_clear(&err);
	rb_error_clear(&req->refusal);
	if (route(req, &req->refusal) < 0) {
		/* answered once the body is drained, so the client is not cut off mid-send */
		req->refused = true;
		req->refusal_status = req->refusal.code == RB_NOT_FOUND ? 404
				      : req->allow[0]			? 405
									: 400;
		return MHD_YES;
	}
	req->body_max = req->route->max_body ? req->route->max_body : RB_RT_JSON_MAX;
	ct = rb_rt_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (req->route->upload_open && ct && !strncasecmp(ct, "application/octet-stream", 24)) {
		if (req->route->upload_open(req, &err) < 0) {
			req->refused = true;
			req->refusal = err;
			req->refusal_status = (unsigned)rb_code_http_status(err.code);
		}
		return MHD_YES;
	}
	cl = rb_rt_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > req->body_max) {
		rb_error_set(&err, EFBIG, RB_INVALID_REQUEST,
			     "request body of %s bytes is larger than the limit of %zu", cl,
			     req->body_max);
		return rb_rt_reply_error(req, 413, &err) < 0 ? MHD_NO : MHD_YES;
	}
	return MHD_YES;
}

static void take_upload(struct rb_rt_req *req, const char *data, size_t size)
{
	char *grown;

	if (req->refused || req->body_too_large || req->answered)
		return;
	if (req->upload_fd >= 0) {
		while (size > 0 && !req->upload_failed) {
			ssize_t n = write(req->upload_fd, data, size);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				req->upload_failed = true;
				rb_error_sys(&req->upload_err, errno,
					     errno == ENOSPC || errno == EDQUOT
						 ? RB_RESOURCE_EXHAUSTED
						 : RB_INTERNAL_ERROR,
					     "write the uploaded file");
				break;
			}
			data += n;
			size -= (size_t)n;
			req->upload_bytes += (uint64_t)n;
		}
		return;
	}
	if (size > req->body_max - req->body_len) {
		req->body_too_large = true;
		free(req->body);
		req->body = NULL;
		req->body_len = 0;
		return;
	}
	grown = realloc(req->body, req->body_len + size + 1);
	if (!grown) {
		req->refused = true;
		req->refusal_status = 500;
		rb_error_set(&req->refusal, ENOMEM, RB_INTERNAL_ERROR,
			     "out of memory reading the request body");
		return;
	}
	memcpy(grown + req->body_len, data, size);
	req->body = grown;
	req->body_len += size;
	req->body[req->body_len] = '\0';
}

/* Last call: the body is complete; run the handler or answer the routing error. */
static enum MHD_Result finish(struct rb_rt_req *req)
{
	struct rb_error err;

	rb_error_clear(&err);
	if (req->refused) {
		int r = rb_rt_reply_error(req, req->refusal_status, &req->refusal);

		return r < 0 ? MHD_NO : MHD_YES;
	}
	if (req->body_too_large) {
		rb_error_set(&err, EFBIG, RB_INVALID_REQUEST,
			     "request body is larger than the limit of %zu bytes", req->body_max);
		return rb_rt_reply_error(req, 413, &err) < 0 ? MHD_NO : MHD_YES;
	}
	if (req->route->handler(req, &err) < 0 && !req->answered)
		return rb_rt_reply_error(req, 0, &err) < 0 ? MHD_NO : MHD_YES;
	return req->answered ? MHD_YES : MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_size, void **con_cls)
{
	struct rb_rt_server *srv = cls;
	struct rb_rt_req *req = *con_cls;

	if (!req) {
		req = req_new(srv, conn, url, method);
		if (!req)
			return MHD_NO;
		*con_cls = req;
		atomic_fetch_add(&srv->inflight, 1);
		return begin(req);
	}
	if (*upload_size > 0) {
		take_upload(req, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (req->answered)
		return MHD_YES;
	return finish(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct rb_rt_server *srv = cls;
	struct rb_rt_req *req = *con_cls;

	if (!req)
		return;
	rb_rt_metrics_request(req->route, req->status);
	if (srv->debug)
		fprintf(stderr, "runbox: %s %s %u %lldms %s%s\n", req->method, req->path,
			req->status, rb_now_ms() - req->started_ms, req->id,
			toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
	req_free(req);
	*con_cls = NULL;
	atomic_fetch_sub(&srv->inflight, 1);
}

struct MHD_Daemon *rb_rt_http_start(struct rb_rt_server *srv, int listen_fd, struct rb_error *err)
{
	/* upgrade: interactive exec takes its connection over (attach.c) */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_ITC | MHD_ALLOW_UPGRADE;
	struct MHD_Daemon *d;

	if (srv->debug)
		flags |= MHD_USE_ERROR_LOG;
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET,
			     listen_fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
			     MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0, MHD_OPTION_END);
	if (!d)
		rb_error_set(err, EIO, RB_INTERNAL_ERROR, "cannot start the HTTP server");
	return d;
}
