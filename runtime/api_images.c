/* The image routes: list, inspect, remove, load. The store does the work; this is the edge. */
#include "runtime-internal.h"

#include <string.h>

#include "common/cleanup.h"

int rb_rt_api_images_list(struct rb_rt_req *req, struct rb_error *err)
{
	cJSON *list = NULL, *body;
	int r = rb_image_list(req->srv->store, &list, err);

	if (r < 0)
		return r;
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "data", list);
	return rb_rt_reply_json(req, 200, body);
}

int rb_rt_api_image_get(struct rb_rt_req *req, struct rb_error *err)
{
	cJSON *img = NULL;
	int r = rb_image_inspect(req->srv->store, req->params[0], &img, err);

	if (r < 0)
		return r;
	return rb_rt_reply_json(req, 200, img);
}

int rb_rt_api_image_delete(struct rb_rt_req *req, struct rb_error *err)
{
	cJSON *removed = NULL, *body;
	bool force;
	int r;

	r = rb_rt_query_bool(req, "force", false, &force, err);
	if (r < 0)
		return r;
	r = rb_image_remove(req->srv->store, req->params[0], force, &removed, err);
	if (r < 0)
		return r;
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "removed", removed ? removed : cJSON_CreateNull());
	return rb_rt_reply_json(req, 200, body);
}

/* Does the client ask for application/x-ndjson? (a plain substring test is enough here) */
static bool wants_ndjson(struct rb_rt_req *req)
{
	const char *accept = rb_rt_header(req, MHD_HTTP_HEADER_ACCEPT);

	return accept && strcasestr(accept, "application/x-ndjson");
}

int rb_rt_api_images_load(struct rb_rt_req *req, struct rb_error *err)
{
	_cleanup_json_ cJSON *in = NULL;
	struct rb_image_load_opts opts = {0};
	cJSON *loaded = NULL, *body;
	int r;

	r = rb_rt_body_object(req, &in, err);
	if (r < 0)
		return r;
	r = rb_rt_field_string(req, in, "path", true, &opts.path, err);
	if (r < 0)
		return r;
	if (opts.path[0] != '/')
		return rb_rt_field_error(req, err, "path",
					 "field \"path\" must be an absolute path, not \"%.256s\"",
					 opts.path);
	r = rb_rt_field_string(req, in, "name", false, &opts.name, err);
	if (r < 0)
		return r;
	if (opts.name && !opts.name[0])
		return rb_rt_field_error(req, err, "name", "field \"name\" must not be empty");

	if (wants_ndjson(req))
		return rb_rt_load_stream(req, opts.path, opts.name, err);

	r = rb_image_load(req->srv->store, &opts, &loaded, err);
	if (r < 0)
		return r;
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "images", loaded);
	return rb_rt_reply_json(req, 201, body);
}
