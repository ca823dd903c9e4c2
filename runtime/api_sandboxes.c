/* The sandbox routes: create, list, get, terminate. The manager does the work. */
#include "runtime-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

int rb_rt_api_sandbox_create(struct rb_rt_req *req, struct rb_error *err)
{
	_cleanup_json_ cJSON *in = NULL;
	cJSON *sb = NULL;
	int r = rb_rt_body_object(req, &in, err);

	if (r == 0)
		r = rb_rt_sandbox_create(req->srv->sandboxes, in, &sb, err);
	if (r < 0) {
		/* INVALID_CONFIG names its field: "field \"x\" ..." */
		if (err->code == RB_INVALID_CONFIG && !strncmp(err->msg, "field \"", 7)) {
			size_t n = strcspn(err->msg + 7, "\"");
			char field[64];

			snprintf(field, sizeof(field), "%.*s", (int)n, err->msg + 7);
			req->details = cJSON_CreateObject();
			cJSON_AddStringToObject(req->details, "field", field);
		} else if (err->code == RB_INVALID_CONFIG && strstr(err->msg, "image")) {
			req->details = cJSON_CreateObject();
			cJSON_AddStringToObject(req->details, "field", "image");
		}
		return r;
	}
	rb_rt_ports_announce(req->srv,
			     cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sb, "id")));
	return rb_rt_reply_json(req, 201, sb);
}

int rb_rt_api_sandbox_get(struct rb_rt_req *req, struct rb_error *err)
{
	cJSON *sb = NULL;
	int r = rb_rt_sandbox_get(req->srv->sandboxes, req->params[0], &sb, err);

	if (r < 0)
		return r;
	return rb_rt_reply_json(req, 200, sb);
}

int rb_rt_api_sandbox_delete(struct rb_rt_req *req, struct rb_error *err)
{
	cJSON *sb = NULL;
	int r = rb_rt_sandbox_terminate(req->srv->sandboxes, req->params[0], "user", &sb, err);

	if (r < 0)
		return r;
	return rb_rt_reply_json(req, 200, sb);
}

static int query_long(struct rb_rt_req *req, const char *name, long lo, long hi, long def,
		      long *out, struct rb_error *err)
{
	_cleanup_free_ char *v = NULL;
	char *end;
	long n;
	int r = rb_rt_query(req, name, &v, err);

	if (r < 0)
		return r;
	if (!v) {
		*out = def;
		return 0;
	}
	n = strtol(v, &end, 10);
	if (!*v || *end || n < lo || n > hi)
		return rb_rt_field_error(req, err, name,
					 "query \"%s\" must be a whole number from %ld to %ld",
					 name, lo, hi);
	*out = n;
	return 0;
}

struct meta_ctx {
	struct rb_rt_list_query *q;
	char *keys[8], *values[8];
	int too_many;
};

static enum MHD_Result collect_meta(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	struct meta_ctx *c = cls;

	if (strncmp(key, "metadata.", 9) || !key[9])
		return MHD_YES;
	if (c->q->n_meta == 8) {
		c->too_many = 1;
		return MHD_YES;
	}
	/* the server leaves query strings escaped: decode both halves here */
	if (rb_rt_percent_decode(key + 9, strlen(key + 9), true, &c->keys[c->q->n_meta]) < 0 ||
	    rb_rt_percent_decode(value ? value : "", value ? strlen(value) : 0, true,
				 &c->values[c->q->n_meta]) < 0) {
		free(c->keys[c->q->n_meta]);
		c->too_many = 1;
		return MHD_YES;
	}
	c->q->meta_key[c->q->n_meta] = c->keys[c->q->n_meta];
	c->q->meta_value[c->q->n_meta] = c->values[c->q->n_meta];
	c->q->n_meta++;
	return MHD_YES;
}

int rb_rt_api_sandbox_list(struct rb_rt_req *req, struct rb_error *err)
{
	struct rb_rt_list_query q = {0};
	struct meta_ctx mc = {.q = &q};
	_cleanup_free_ char *state = NULL, *image = NULL;
	cJSON *body = NULL;
	int r;

	if ((r = rb_rt_query(req, "state", &state, err)) < 0 ||
	    (r = rb_rt_query(req, "image", &image, err)) < 0 ||
	    (r = query_long(req, "limit", 1, 100, 20, &q.limit, err)) < 0 ||
	    (r = query_long(req, "offset", 0, 1L << 40, 0, &q.offset, err)) < 0)
		return r;
	if (state && strcmp(state, "creating") && strcmp(state, "running") &&
	    strcmp(state, "paused") && strcmp(state, "terminated"))
		return rb_rt_field_error(req, err, "state",
					 "query \"state\" must be creating, running, paused or "
					 "terminated");
	q.state = state;
	q.image = image;
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_meta, &mc);
	if (mc.too_many)
		r = rb_rt_field_error(req, err, "metadata",
				      "at most 8 metadata filters, each validly escaped");
	else
		r = rb_rt_sandbox_list(req->srv->sandboxes, &q, &body, err);
	for (size_t i = 0; i < q.n_meta; i++) {
		free(mc.keys[i]);
		free(mc.values[i]);
	}
	if (r < 0)
		return r;
	return rb_rt_reply_json(req, 200, body);
}
