/*
 * The daemon's configuration file: a JSON object read once at start. `runbox serve --config
 * FILE`, else $RUNBOX_CONFIG, else /etc/runbox/config.json when it exists; none is fine. Today it
 * holds "observability" (the exporters, export.c); an unknown top-level key is refused, so that
 * a misspelt section is not silently ignored.
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

static const char *const sections[] = {"observability", NULL};

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
					 "observability)",
					 path, it->string);
			cJSON_Delete(root);
			return r;
		}
	}
	*out = root;
	return 0;
}
