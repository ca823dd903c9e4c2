/* The daemon's own routes: health and info. */
#include "runtime-internal.h"
#include "events.h"

#include <unistd.h>

int rb_rt_api_health(struct rb_rt_req *req, struct rb_error *err)
{
	cJSON *body = cJSON_CreateObject();

	cJSON_AddStringToObject(body, "status", "ok");
	return rb_rt_reply_json(req, 200, body);
}

int rb_rt_api_info(struct rb_rt_req *req, struct rb_error *err)
{
	const struct rb_rt_server *srv = req->srv;
	cJSON *body = cJSON_CreateObject();

	cJSON_AddStringToObject(body, "version", RB_VERSION);
	cJSON_AddStringToObject(body, "stateDir", srv->cfg->state_dir);
	cJSON_AddStringToObject(body, "socket", srv->cfg->socket_path);
	cJSON_AddNumberToObject(body, "pid", (double)getpid());
	cJSON_AddBoolToObject(body, "rootless", geteuid() != 0);
	rb_rt_host_to_json(&srv->host, body);
	rb_rt_ev_info_json(body);
	return rb_rt_reply_json(req, 200, body);
}
