/* A sandbox's network: GET shows its addresses, policy and denied connections; PATCH replaces
 * its egress policy while it runs (netpolicy/ applies it in one nftables batch); its ingress
 * ports are exposed, listed and closed here (netpolicy/ports.c forwards them). */
#include "runtime-internal.h"

#include <errno.h>
#include <stdlib.h>

#include "events.h"
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

/* ---- ingress ports ---- */

/* The record's network follows the ports (ingress.allowPorts), as after a PATCH. */
static int save_network(struct rb_rt_sandboxes *m, struct rb_rt_sandbox *sb, struct rb_error *err)
{
	int r = 0;

	pthread_mutex_lock(&m->lock);
	cJSON_ReplaceItemInObjectCaseSensitive(sb->doc, "network",
					       rb_net_sandbox_policy_json(sb->net));
	if (sb->state != RB_SB_TERMINATED) {
		sqlite3_exec(m->db, "BEGIN", NULL, NULL, NULL);
		r = rb_rt_sb_save(m, sb, err);
		if (r == 0)
			r = rb_rt_sb_save_ports(m, sb, err);
		sqlite3_exec(m->db, r == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

static int hold_net(struct rb_rt_req *req, struct rb_rt_sandbox **out, struct rb_error *err)
{
	int r =
	    rb_rt_sandbox_hold_as(req->srv->sandboxes, req->params[0], RB_RT_HOLD_LIVE, out, err);

	if (r == 0 && !(*out)->net) {
		r = rb_error_set(err, ENOTCONN, RB_INVALID_STATE, "sandbox %s has no network state",
				 (*out)->id);
		rb_rt_sandbox_put(req->srv->sandboxes, *out);
	}
	return r;
}

static int port_param(struct rb_rt_req *req, const char *s, uint16_t *out, struct rb_error *err)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < 1 || v > 65535)
		return rb_rt_field_error(req, err, "port",
					 "field \"port\" must be a number from 1 "
					 "to 65535");
	*out = (uint16_t)v;
	return 0;
}

int rb_rt_api_sandbox_port_expose(struct rb_rt_req *req, struct rb_error *err)
{
	struct rb_rt_sandboxes *m = req->srv->sandboxes;
	_cleanup_json_ cJSON *body = NULL;
	const cJSON *port;
	struct rb_rt_sandbox *sb;
	struct rb_net_port p;
	bool created = false;
	int r = rb_rt_body_object(req, &body, err);

	if (r < 0)
		return r;
	port = cJSON_GetObjectItemCaseSensitive(body, "port");
	if (!cJSON_IsNumber(port) || port->valuedouble != (int)port->valuedouble ||
	    port->valueint < 1 || port->valueint > 65535)
		return rb_rt_field_error(req, err, "port",
					 "field \"port\" must be a number from 1 "
					 "to 65535");
	r = hold_net(req, &sb, err);
	if (r < 0)
		return r;
	r = rb_net_sandbox_port_expose(sb->net, (uint16_t)port->valueint, &p, &created, err);
	if (r == 0 && created) {
		r = save_network(m, sb, err);
		rb_rt_ev_port(sb->id, true, rb_net_port_json(&p));
	}
	rb_rt_sandbox_put(m, sb);
	return r < 0 ? r : rb_rt_reply_json(req, created ? 201 : 200, rb_net_port_json(&p));
}

int rb_rt_api_sandbox_ports_list(struct rb_rt_req *req, struct rb_error *err)
{
	struct rb_net_port ports[RB_NET_MAX_PORTS];
	struct rb_rt_sandbox *sb;
	cJSON *list;
	size_t n;
	int r = hold_net(req, &sb, err);

	if (r < 0)
		return r;
	n = rb_net_sandbox_ports(sb->net, ports, RB_NET_MAX_PORTS);
	rb_rt_sandbox_put(req->srv->sandboxes, sb);
	list = cJSON_CreateArray();
	for (size_t i = 0; i < n && i < RB_NET_MAX_PORTS; i++)
		cJSON_AddItemToArray(list, rb_net_port_json(&ports[i]));
	return rb_rt_reply_json(req, 200, list);
}

int rb_rt_api_sandbox_port_close(struct rb_rt_req *req, struct rb_error *err)
{
	struct rb_rt_sandboxes *m = req->srv->sandboxes;
	struct rb_net_port ports[RB_NET_MAX_PORTS], gone = {0};
	struct rb_rt_sandbox *sb;
	uint16_t port = 0;
	size_t n;
	int r = port_param(req, req->params[1], &port, err);

	if (r < 0)
		return r;
	r = hold_net(req, &sb, err);
	if (r < 0)
		return r;
	n = rb_net_sandbox_ports(sb->net, ports, RB_NET_MAX_PORTS);
	for (size_t i = 0; i < n && i < RB_NET_MAX_PORTS; i++)
		if (ports[i].port == port)
			gone = ports[i];
	r = rb_net_sandbox_port_close(sb->net, port, err);
	if (r == 0) {
		r = save_network(m, sb, err);
		rb_rt_ev_port(sb->id, false, rb_net_port_json(&gone));
	}
	rb_rt_sandbox_put(m, sb);
	if (r < 0)
		return r;
	return rb_rt_reply(req, 204,
			   MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT), NULL);
}

void rb_rt_ports_announce(struct rb_rt_server *srv, const char *id)
{
	struct rb_net_port ports[RB_NET_MAX_PORTS];
	struct rb_rt_sandbox *sb;
	struct rb_error ignored;
	size_t n;

	if (rb_rt_sandbox_hold_as(srv->sandboxes, id, RB_RT_HOLD_LIVE, &sb, &ignored) < 0)
		return;
	n = sb->net ? rb_net_sandbox_ports(sb->net, ports, RB_NET_MAX_PORTS) : 0;
	for (size_t i = 0; i < n && i < RB_NET_MAX_PORTS; i++)
		rb_rt_ev_port(id, true, rb_net_port_json(&ports[i]));
	rb_rt_sandbox_put(srv->sandboxes, sb);
}
