/*
 * The daemon's configuration file: a JSON object read once at start. `runbox serve --config
 * FILE`, else $RUNBOX_CONFIG, else /etc/runbox/config.json when it exists; none is fine. It
 * holds "observability" (the exporters, export.c) and "network" (the defaults of private
 * networking, below); an unknown key is refused, so that a misspelling is not silently ignored.
 */
#include "events.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "runtime.h"

#define CONFIG_DEFAULT "/etc/runbox/config.json"
#define CONFIG_MAX     (1u << 20)

static const char *const sections[] = {"observability", "network", NULL};

int rb_rt_config_load(const struct rb_rt_config *cfg, cJSON **out, struct rb_error *err)
{
	const char *path = cfg->config_path, *env = getenv("RUNBOX_CONFIG");
	_cleanup_free_ char *text = NULL;
	const char *end = NULL;
	const cJSON *it;
	cJSON *root;
	size_t len;
	int r;

	*out = NULL;
	if (!path && env && *env)
		path = env;
	if (!path && access(CONFIG_DEFAULT, F_OK) == 0)
		path = CONFIG_DEFAULT;
	if (!path)
		return 0;
	r = rb_read_file(path, CONFIG_MAX, &text, &len, err);
	if (r < 0) {
		err->code = RB_INVALID_CONFIG;
		return rb_error_wrap(err, "configuration file %s", path);
	}
	root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "configuration file %s: not a JSON object%s%.20s%s", path,
				    end && *end ? " (near \"" : "", end && *end ? end : "",
				    end && *end ? "\")" : "");
	}
	cJSON_ArrayForEach(it, root)
	{
		bool known = false;

		for (size_t i = 0; sections[i] && !known; i++)
			known = !strcmp(sections[i], it->string);
		if (!known) {
			r = rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
					 "configuration file %s: %s is not a known section (known: "
					 "observability, network)",
					 path, it->string);
			cJSON_Delete(root);
			return r;
		}
	}
	*out = root;
	return 0;
}

/* ---- "network": what `serve --default-network`, `--network-pool`, `--dns-upstream` and
 * `--keep-ip-forward` set, for daemons started without flags (as the CLI starts one) ---- */

static int net_field_err(struct rb_error *err, const char *field, const char *msg)
{
	return rb_error_set(err, EINVAL, RB_INVALID_CONFIG, "network.%s %s", field, msg);
}

static int apply_network(const cJSON *sec, struct rb_net_config *net, struct rb_error *err)
{
	const cJSON *it;

	if (!cJSON_IsObject(sec))
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG, "network is not an object");
	cJSON_ArrayForEach(it, sec)
	{
		const char *k = it->string;

		if (!strcmp(k, "defaultMode")) {
			if (!cJSON_IsString(it) ||
			    rb_net_mode_parse(it->valuestring, &net->default_mode) < 0)
				return net_field_err(err, k, "is \"none\" or \"private\"");
		} else if (!strcmp(k, "pool")) {
			if (!cJSON_IsString(it))
				return net_field_err(err, k,
						     "is a string such as \"10.88.0.0/16\"");
			if (rb_net_pool_parse(it->valuestring, net, err) < 0)
				return rb_error_wrap(err, "network.pool");
		} else if (!strcmp(k, "keepIpForward")) {
			if (!cJSON_IsBool(it))
				return net_field_err(err, k, "is true or false");
			net->keep_ip_forward = cJSON_IsTrue(it);
		} else if (!strcmp(k, "dnsUpstream")) {
			const cJSON *u;
			char field[48];
			int i = 0;

			if (!cJSON_IsArray(it))
				return net_field_err(err, k,
						     "is a list of resolvers (\"ADDR[:PORT]\")");
			net->n_dns_upstream = 0;
			cJSON_ArrayForEach(u, it)
			{
				snprintf(field, sizeof(field), "network.dnsUpstream[%d]", i++);
				if (!cJSON_IsString(u))
					return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
							    "%s is not a string", field);
				if (rb_net_dns_upstream_parse(u->valuestring, net, err) < 0)
					return rb_error_wrap(err, "%s", field);
			}
		} else {
			return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
					    "network.%s is not a setting runbox has (defaultMode, "
					    "pool, dnsUpstream, keepIpForward)",
					    k);
		}
	}
	return 0;
}

int rb_rt_config_network(const cJSON *config, struct rb_net_config *net, struct rb_error *err)
{
	const cJSON *sec = cJSON_GetObjectItemCaseSensitive(config, "network");

	if (sec && apply_network(sec, net, err) < 0)
		return rb_error_wrap(err, "configuration");
	return 0;
}
