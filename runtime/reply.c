/* Answers (JSON, errors in the API's shape) and what handlers read of a request. */
#include "runtime-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

int rb_rt_reply(struct rb_rt_req *req, unsigned status, struct MHD_Response *resp,
		const char *content_type)
{
	enum MHD_Result r;

	if (!resp)
		return -ENOMEM;
	MHD_add_response_header(resp, "X-Request-Id", req->id);
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (status == 405 && req->allow[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, req->allow);
	r = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	if (r != MHD_YES)
		return -EIO;
	req->answered = true;
	req->status = status;
	return 0;
}

int rb_rt_reply_json(struct rb_rt_req *req, unsigned status, cJSON *body)
{
	char *text = body ? cJSON_PrintUnformatted(body) : NULL;
	char *grown;
	size_t n;

	cJSON_Delete(body);
	if (!text)
		return -ENOMEM;
	n = strlen(text);
	grown = realloc(text, n + 2);
	if (!grown) {
		free(text);
		return -ENOMEM;
	}
	grown[n] = '\n';
	grown[n + 1] = '\0';
	return rb_rt_reply(req, status,
			   MHD_create_response_from_buffer(n + 1, grown, MHD_RESPMEM_MUST_FREE),
			   "application/json");
}

cJSON *rb_rt_error_json(const char *request_id, const struct rb_error *err, const cJSON *details)
{
	/* a failure that named no code is our bug, not the client's */
	enum rb_code code = err->code == RB_OK ? RB_INTERNAL_ERROR : err->code;
	cJSON *root = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(root, "error");
	char fallback[128];
	const char *msg = err->msg;

	if (!msg[0]) {
		snprintf(fallback, sizeof(fallback), "internal error: %s",
			 err->errnum ? strerror(err->errnum) : "unknown");
		msg = fallback;
	}
	cJSON_AddStringToObject(e, "code", rb_code_name(code));
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddItemToObject(e, "details",
			      details ? cJSON_Duplicate(details, 1) : cJSON_CreateObject());
	cJSON_AddBoolToObject(e, "retryable", rb_code_retryable(code));
	cJSON_AddStringToObject(e, "requestId", request_id);
	return root;
}

int rb_rt_reply_error(struct rb_rt_req *req, unsigned status, const struct rb_error *err)
{
	enum rb_code code = err->code == RB_OK ? RB_INTERNAL_ERROR : err->code;
	cJSON *body = rb_rt_error_json(req->id, err, req->details);

	rb_rt_metrics_error(code);
	cJSON_Delete(req->details);
	req->details = NULL;
	return rb_rt_reply_json(req, status ? status : (unsigned)rb_code_http_status(code), body);
}

int rb_rt_field_error(struct rb_rt_req *req, struct rb_error *err, const char *field,
		      const char *fmt, ...)
{
	va_list ap;

	cJSON_Delete(req->details);
	req->details = cJSON_CreateObject();
	cJSON_AddStringToObject(req->details, "field", field);
	err->errnum = EINVAL;
	err->code = RB_INVALID_CONFIG;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int rb_rt_body_object(struct rb_rt_req *req, cJSON **out, struct rb_error *err)
{
	const char *end = NULL;
	size_t lead = req->body ? strspn(req->body, " \t\r\n") : 0;
	cJSON *json;

	if (!req->body || lead == req->body_len)
		return rb_error_set(err, EINVAL, RB_INVALID_REQUEST,
				    "request body is empty; expected a JSON object");
	/* the length includes our NUL: cJSON wants to see it to reject trailing garbage */
	json = cJSON_ParseWithLengthOpts(req->body, req->body_len + 1, &end, 1);
	if (!json) {
		size_t at = end ? (size_t)(end - req->body) : 0;

		if (at >= req->body_len)
			return rb_error_set(err, EINVAL, RB_INVALID_REQUEST,
					    "malformed JSON in request body, near its end");
		return rb_error_set(err, EINVAL, RB_INVALID_REQUEST,
				    "malformed JSON in request body at byte %zu, near \"%.16s\"",
				    at, req->body + at);
	}
	if (!cJSON_IsObject(json)) {
		cJSON_Delete(json);
		return rb_error_set(err, EINVAL, RB_INVALID_REQUEST,
				    "request body must be a JSON object");
	}
	*out = json;
	return 0;
}

int rb_rt_field_string(struct rb_rt_req *req, const cJSON *obj, const char *name, bool required,
		       const char **out, struct rb_error *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = NULL;
	if (!item || cJSON_IsNull(item)) {
		if (required)
			return rb_rt_field_error(req, err, name, "field \"%s\" is required", name);
		return 0;
	}
	if (!cJSON_IsString(item))
		return rb_rt_field_error(req, err, name, "field \"%s\" must be a string", name);
	*out = item->valuestring;
	return 0;
}

const char *rb_rt_header(struct rb_rt_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int rb_rt_percent_decode(const char *in, size_t len, bool plus_is_space, char **out)
{
	_cleanup_free_ char *buf = malloc(len + 1);
	char *w = buf;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '%') {
			int hi = i + 2 < len ? hexval(in[i + 1]) : -1;
			int lo = hi >= 0 ? hexval(in[i + 2]) : -1;

			if (lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			*w++ = (char)(hi * 16 + lo);
			i += 2;
		} else if (in[i] == '+' && plus_is_space) {
			*w++ = ' ';
		} else {
			*w++ = in[i];
		}
	}
	*w = '\0';
	*out = TAKE_PTR(buf);
	return 0;
}

int rb_rt_query(struct rb_rt_req *req, const char *name, char **out, struct rb_error *err)
{
	const char *raw = NULL;
	size_t len = 0;

	*out = NULL;
	if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name),
					  &raw, &len) != MHD_YES)
		return 0;
	if (rb_rt_percent_decode(raw ? raw : "", raw ? len : 0, true, out) < 0)
		return rb_error_set(err, EINVAL, RB_INVALID_REQUEST,
				    "malformed percent-encoding in query argument %s", name);
	return 0;
}

int rb_rt_query_bool(struct rb_rt_req *req, const char *name, bool def, bool *out,
		     struct rb_error *err)
{
	_cleanup_free_ char *v = NULL;
	int r = rb_rt_query(req, name, &v, err);

	if (r < 0)
		return r;
	*out = def;
	if (!v)
		return 0;
	/* a bare "?force" reads as true */
	if (!v[0] || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return rb_rt_field_error(req, err, name,
					 "query argument %s must be true or false, not \"%.64s\"",
					 name, v);
	return 0;
}
