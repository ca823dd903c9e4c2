/* A sandbox's network: GET shows its addresses, policy and denied connections; PATCH replaces
 * its egress policy while it runs (netpolicy/ applies it in one nftables batch). */
#include "runtime-internal.h"

#include <errno.h>

#include "sandbox.h"

static int network_info(struct rb_rt_req *req, struct rb_rt_sandbox *sb, struct rb_error *err)
{
	cJSON *info = NULL;
	int r;

	if (!sb->net)
		return rb_error_set(err, ENOTCONN, RB_INVALID_STATE,
				    "sandbox %s has no network state", sb->id);
	r = rb_net_sandbox_info(sb->net, &info, err);
	if (r < 0)
		return r;
	cJSON_AddStringToObject(info, "id", sb->id);
	return rb_rt_reply_json(req, 200, info);
}

int rb_rt_api_sandbox_network_get(struct rb_rt_req *req, struct rb_error *err)
{
	struct rb_rt_sandboxes *m = req->srv->sandboxes;
	struct rb_rt_sandbox *sb;
	int r = rb_rt_sandbox_hold_as(m, req->params[0], RB_RT_HOLD_LIVE, &sb, err);

	if (r < 0)
		return r;
	r = network_info(req, sb, err);
	rb_rt_sandbox_put(m, sb);
	return r;
}

int rb_rt_api_sandbox_network_patch(struct rb_rt_req *req, struct rb_error *err)
{
	struct rb_rt_sandboxes *m = req->srv->sandboxes;
	_cleanup_json_ cJSON *body = NULL;
	struct rb_rt_sandbox *sb;
	int r = rb_rt_body_object(req, &body, err);

	if (r < 0)
		return r;
	r = rb_rt_sandbox_hold_as(m, req->params[0], RB_RT_HOLD_LIVE, &sb, err);
	if (r < 0)
		return r;
	r = sb->net ? rb_net_sandbox_set_egress(sb->net, body, err)
		    : rb_error_set(err, ENOTCONN, RB_INVALID_STATE,
				   "sandbox %s has no network state", sb->id);
	if (r == 0) {
		/* the record follows, so GET /sandboxes/{id} shows the policy in force */
		pthread_mutex_lock(&m->lock);
		cJSON_ReplaceItemInObjectCaseSensitive(sb->doc, "network",
						       rb_net_sandbox_policy_json(sb->net));
		if (sb->state != RB_SB_TERMINATED)
			r = rb_rt_sb_save(m, sb, err);
		pthread_mutex_unlock(&m->lock);
	}
	if (r == 0)
		r = network_info(req, sb, err);
	rb_rt_sandbox_put(m, sb);
	return r;
}
