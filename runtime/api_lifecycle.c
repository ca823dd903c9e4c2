/* The lifecycle routes beside create and terminate: pause, resume, metrics; and autoResume,
 * which exec and the files routes take. The manager does the work (lifecycle.c). */
#include "runtime-internal.h"

#include <errno.h>

#include "sandbox.h"

int rb_rt_auto_resume(struct rb_rt_req *req, const cJSON *body, bool *out, struct rb_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "autoResume");

	if (!v || cJSON_IsNull(v))
		return rb_rt_query_bool(req, "autoResume", false, out, err);
	if (!cJSON_IsBool(v))
		return rb_rt_field_error(req, err, "autoResume",
					 "field \"autoResume\" must be a boolean");
	*out = cJSON_IsTrue(v);
	return 0;
}

int rb_rt_api_sandbox_pause(struct rb_rt_req *req, struct rb_error *err)
{
	cJSON *sb = NULL;
	int r = rb_rt_sandbox_pause(req->srv->sandboxes, req->params[0], &sb, err);

	if (r < 0)
		return r;
	return rb_rt_reply_json(req, 200, sb);
}

int rb_rt_api_sandbox_resume(struct rb_rt_req *req, struct rb_error *err)
{
	cJSON *sb = NULL;
	int r = rb_rt_sandbox_resume(req->srv->sandboxes, req->params[0], &sb, err);

	if (r < 0)
		return r;
	return rb_rt_reply_json(req, 200, sb);
}

int rb_rt_api_sandbox_metrics(struct rb_rt_req *req, struct rb_error *err)
{
	cJSON *m = NULL;
	int r = rb_rt_sandbox_metrics(req->srv->sandboxes, req->params[0], &m, err);

	if (r < 0)
		return r;
	return rb_rt_reply_json(req, 200, m);
}

/* POST .../timeout {timeoutMs}: a new lifetime from now (keep-alive). */
int rb_rt_api_sandbox_timeout(struct rb_rt_req *req, struct rb_error *err)
{
	_cleanup_json_ cJSON *in = NULL;
	const cJSON *t;
	cJSON *sb = NULL;
	int r = rb_rt_body_object(req, &in, err);

	if (r < 0)
		return r;
	t = cJSON_GetObjectItemCaseSensitive(in, "timeoutMs");
	if (!cJSON_IsNumber(t) || t->valuedouble != (double)(long long)t->valuedouble ||
	    t->valuedouble < 1 || t->valuedouble > 86400000)
		return rb_rt_field_error(
		    req, err, "timeoutMs",
		    "field \"timeoutMs\" must be a whole number of ms from 1 to "
		    "86400000");
	r = rb_rt_sandbox_set_timeout(req->srv->sandboxes, req->params[0],
				      (long long)t->valuedouble, &sb, err);
	if (r < 0)
		return r;
	return rb_rt_reply_json(req, 200, sb);
}
