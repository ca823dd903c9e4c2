/* Shared between the daemon's own files; nothing outside runtime/ includes this. */
#ifndef RB_RUNTIME_INTERNAL_H
#define RB_RUNTIME_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <microhttpd.h>

#include "runtime.h"
#include "common/cleanup.h"

#define RB_RT_JSON_MAX	  (1u << 20) /* request bodies of JSON routes */
#define RB_RT_MAX_PARAMS  4
#define RB_RT_REQ_ID_SIZE 21 /* "req_" + 16 + NUL */

static inline void rb_rt_json_deletep(cJSON **j)
{
	cJSON_Delete(*j);
}
#define _cleanup_json_ _cleanup_(rb_rt_json_deletep)

struct rb_rt_sandboxes;

#define RB_RT_COMMAND_MAX   (128 * 1024) /* bytes of a command line: COMMAND_TOO_LONG past it */
#define RB_RT_FILE_JSON_MAX (32u << 20)	 /* files read or written as JSON; larger ones stream */

struct rb_rt_server {
	const struct rb_rt_config *cfg;
	struct rb_image_store *store;
	struct rb_rt_sandboxes *sandboxes;
	struct rb_rt_host host;
	bool debug; /* RUNBOX_DEBUG: one log line per request */
	atomic_int inflight;
	atomic_bool stopping; /* the daemon drains: interactive sessions end (exec_attach.c) */
};

struct rb_rt_route;

/* One HTTP request, from its first byte to the completion callback. */
struct rb_rt_req {
	struct rb_rt_server *srv;
	struct MHD_Connection *conn;
	const char *method; /* MHD's, valid for the request */
	char *path;	    /* as sent (percent-encoded), without the query */
	char id[RB_RT_REQ_ID_SIZE];
	const struct rb_rt_route *route;
	char *params[RB_RT_MAX_PARAMS]; /* decoded {name} captures, in pattern order */
	char allow[64];			/* methods of the path, when the method did not match */
	char *body;
	size_t body_len, body_max;
	bool body_too_large, answered;
	bool refused;		 /* routing failed: drain the body, then answer refusal */
	struct rb_error refusal; /* why */
	unsigned refusal_status; /* 404, 405, 400 */
	cJSON *details;		 /* "details" of an error answer, set by a handler */
	unsigned status;
	long long started_ms;
	/* a body streamed into a file instead of collected (routes with upload_open) */
	int upload_fd;
	uint64_t upload_bytes;
	bool upload_failed;
	struct rb_error upload_err;
	void *upload_ctx;
	void (*upload_done)(struct rb_rt_req *req);
	/* a handler's own state that must outlive its answer (an upgraded connection's), freed
	 * with the request */
	void *ctx;
	void (*ctx_free)(void *ctx);
};

/* A handler answers with rb_rt_reply*() and returns 0, or returns a negative errno with err
 * filled and the HTTP layer answers with the error. */
typedef int (*rb_rt_handler)(struct rb_rt_req *req, struct rb_error *err);

struct rb_rt_route {
	const char *method;
	/* literal segments, "{name}" for one segment, "{name*}" for the rest of the path */
	const char *pattern;
	rb_rt_handler handler;
	size_t max_body; /* 0: RB_RT_JSON_MAX */
	/* optional: for an application/octet-stream body, open where it goes (req->upload_fd)
	 * before the first byte; the body then streams there, held nowhere */
	rb_rt_handler upload_open;
};

extern const struct rb_rt_route rb_rt_routes[];
extern const size_t rb_rt_n_routes;

/* http.c: the libmicrohttpd daemon on an already listening socket */
struct MHD_Daemon *rb_rt_http_start(struct rb_rt_server *srv, int listen_fd, struct rb_error *err);

/* reply.c: answers and request helpers */
int rb_rt_reply(struct rb_rt_req *req, unsigned status, struct MHD_Response *resp,
		const char *content_type);
/* Takes body; "\n"-terminated compact JSON. */
int rb_rt_reply_json(struct rb_rt_req *req, unsigned status, cJSON *body);
/* status 0: from the code. Consumes req->details. */
int rb_rt_reply_error(struct rb_rt_req *req, unsigned status, const struct rb_error *err);
/* {"error":{"code","message","details","retryable","requestId"}}; details may be NULL. */
cJSON *rb_rt_error_json(const char *request_id, const struct rb_error *err, const cJSON *details);
/* Fill err as INVALID_CONFIG naming the field, with details {"field": field}. */
int rb_rt_field_error(struct rb_rt_req *req, struct rb_error *err, const char *field,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The body as a JSON object (an empty body is an error). */
int rb_rt_body_object(struct rb_rt_req *req, cJSON **out, struct rb_error *err);
/* A string member: absent or null gives *out NULL unless required. */
int rb_rt_field_string(struct rb_rt_req *req, const cJSON *obj, const char *name, bool required,
		       const char **out, struct rb_error *err);
const char *rb_rt_header(struct rb_rt_req *req, const char *name);
/* A query argument, percent-decoded into a new string; NULL when absent. */
int rb_rt_query(struct rb_rt_req *req, const char *name, char **out, struct rb_error *err);
int rb_rt_query_bool(struct rb_rt_req *req, const char *name, bool def, bool *out,
		     struct rb_error *err);
/* Decode %XX (and, for query strings, '+'); -EINVAL on bad escapes or %00. */
int rb_rt_percent_decode(const char *in, size_t len, bool plus_is_space, char **out);

/* The routes' handlers */
int rb_rt_api_health(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_info(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_images_list(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_image_get(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_image_delete(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_images_load(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_sandbox_create(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_sandbox_list(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_sandbox_get(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_sandbox_delete(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_sandbox_exec(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_file_read(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_file_write(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_file_upload_open(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_file_list(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_file_exists(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_file_delete(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_file_mkdir(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_sandbox_pause(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_sandbox_resume(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_sandbox_metrics(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_sandbox_timeout(struct rb_rt_req *req, struct rb_error *err);
/* api_network.c */
int rb_rt_api_sandbox_network_get(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_sandbox_network_patch(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_sandbox_port_expose(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_sandbox_ports_list(struct rb_rt_req *req, struct rb_error *err);
int rb_rt_api_sandbox_port_close(struct rb_rt_req *req, struct rb_error *err);
/* port.exposed for each port a new sandbox exposed at its create (ingress.allowPorts) */
void rb_rt_ports_announce(struct rb_rt_server *srv, const char *id);
int rb_rt_api_events(struct rb_rt_req *req, struct rb_error *err); /* api_events.c */

/* metrics.c: GET /metrics, and the counters it shows (cheap atomics, bumped at the edges) */
int rb_rt_api_metrics(struct rb_rt_req *req, struct rb_error *err);
void rb_rt_metrics_init(void);
/* an answered request (route NULL: none matched) */
void rb_rt_metrics_request(const struct rb_rt_route *route, unsigned status);
void rb_rt_metrics_error(enum rb_code code); /* an error answer's code */
void rb_rt_metrics_create(bool ok);
void rb_rt_metrics_terminated(const char *reason);
void rb_rt_metrics_exec(long long duration_us); /* a non-interactive exec ended */
/* api_lifecycle.c: autoResume, from the JSON body's field when it has one (body may be NULL),
 * else from the query (?autoResume=true). */
int rb_rt_auto_resume(struct rb_rt_req *req, const cJSON *body, bool *out, struct rb_error *err);

/* stream.c: an answer streamed as NDJSON lines, written by a worker thread */
struct rb_rt_stream;
typedef void (*rb_rt_stream_fn)(struct rb_rt_stream *s, void *ud);
/* Answers 200 application/x-ndjson and runs fn(s, ud) on a thread; ud_free(ud) runs when the
 * answer is done with, on every path (also when this fails). */
int rb_rt_stream_start(struct rb_rt_req *req, rb_rt_stream_fn fn, void *ud, void (*ud_free)(void *),
		       struct rb_error *err);
/* Write obj as one line, and free it; lines after the client went away are dropped. */
void rb_rt_stream_line(struct rb_rt_stream *s, cJSON *obj);
bool rb_rt_stream_broken(const struct rb_rt_stream *s);
const char *rb_rt_stream_request_id(const struct rb_rt_stream *s);

/* load_stream.c: answer a load as NDJSON progress lines and a final result line */
int rb_rt_load_stream(struct rb_rt_req *req, const char *path, const char *name,
		      struct rb_error *err);

#endif
