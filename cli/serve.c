/* runbox serve: run the daemon in the foreground. */
#include "cli.h"

#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

enum {
	OPT_GROUP = RB_OPT_VERB_BASE,
	OPT_MAX_LAYER_BYTES,
	OPT_MAX_LAYER_ENTRIES,
	OPT_MAX_PATH_DEPTH,
	OPT_MAX_PATH_LENGTH,
	OPT_BUSYBOX,
	OPT_DEFAULT_PIDS,
	OPT_EXEC_OUTPUT_MAX,
};

/* A count, optionally with a binary suffix: 512, 64k, 10G. */
static int parse_count(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno || s[0] == '-')
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = 1ull << 10;
		break;
	case 'm':
	case 'M':
		mult = 1ull << 20;
		break;
	case 'g':
	case 'G':
		mult = 1ull << 30;
		break;
	case 't':
	case 'T':
		mult = 1ull << 40;
		break;
	default:
		return -1;
	}
	if (*end && end[1])
		return -1;
	if (v > max / mult)
		return -1;
	*out = v * mult;
	return 0;
}

static int parse_group(const char *name, long *gid)
{
	struct group *gr = getgrnam(name);
	uint64_t n;

	if (gr) {
		*gid = (long)gr->gr_gid;
		return 0;
	}
	if (parse_count(name, UINT32_MAX - 1, &n) == 0 &&
	    strspn(name, "0123456789") == strlen(name)) {
		*gid = (long)n;
		return 0;
	}
	return -1;
}

static const char *flag_name(const struct option *opts, int val)
{
	for (; opts->name; opts++)
		if (opts->val == val)
			return opts->name;
	return "?";
}

static int set_path(char **slot, const char *value)
{
	char *abs = rb_cli_absolute(value);

	if (!abs)
		return -1;
	free(*slot);
	*slot = abs;
	return 0;
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, RB_OPT_SOCKET},
	    {"state-dir", required_argument, NULL, RB_OPT_STATE_DIR},
	    {"group", required_argument, NULL, OPT_GROUP},
	    {"max-layer-bytes", required_argument, NULL, OPT_MAX_LAYER_BYTES},
	    {"max-layer-entries", required_argument, NULL, OPT_MAX_LAYER_ENTRIES},
	    {"max-path-depth", required_argument, NULL, OPT_MAX_PATH_DEPTH},
	    {"max-path-length", required_argument, NULL, OPT_MAX_PATH_LENGTH},
	    {"busybox", required_argument, NULL, OPT_BUSYBOX},
	    {"default-pids", required_argument, NULL, OPT_DEFAULT_PIDS},
	    {"exec-output-max", required_argument, NULL, OPT_EXEC_OUTPUT_MAX},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct rb_rt_config cfg = {.socket_gid = -1};
	struct rb_error err;
	uint64_t n;
	int c;

	rb_image_limits_default(&cfg.limits);
	while ((c = rb_cli_getopt(self, argc, argv, "h", opts)) != -1) {
		switch (c) {
		case RB_OPT_SOCKET:
		case RB_OPT_STATE_DIR:
			if (set_path(c == RB_OPT_SOCKET ? &cli->socket_path : &cli->state_dir,
				     optarg) < 0)
				return rb_cli_usage_error(self, "bad path %s", optarg);
			break;
		case OPT_GROUP:
			if (parse_group(optarg, &cfg.socket_gid) < 0)
				return rb_cli_usage_error(self, "no group named %s", optarg);
			break;
		case OPT_MAX_LAYER_BYTES:
		case OPT_MAX_LAYER_ENTRIES:
			if (parse_count(optarg, UINT64_MAX, &n) < 0 || n == 0)
				return rb_cli_usage_error(self,
							  "--%s needs a positive count, not %s",
							  flag_name(opts, c), optarg);
			*(c == OPT_MAX_LAYER_BYTES ? &cfg.limits.max_layer_bytes
						   : &cfg.limits.max_layer_entries) = n;
			break;
		case OPT_MAX_PATH_DEPTH:
		case OPT_MAX_PATH_LENGTH:
			if (parse_count(optarg, UINT32_MAX, &n) < 0 || n == 0)
				return rb_cli_usage_error(self,
							  "--%s needs a positive count, not %s",
							  flag_name(opts, c), optarg);
			*(c == OPT_MAX_PATH_DEPTH ? &cfg.limits.max_path_depth
						  : &cfg.limits.max_path_length) = (unsigned)n;
			break;
		case OPT_BUSYBOX:
			cfg.busybox = optarg;
			break;
		case OPT_DEFAULT_PIDS:
			if (parse_count(optarg, 4194304, &n) < 0 || n == 0)
				return rb_cli_usage_error(self,
							  "--default-pids needs a count from 1 "
							  "to 4194304, not %s",
							  optarg);
			cfg.default_pids = n;
			break;
		case OPT_EXEC_OUTPUT_MAX:
			if (parse_count(optarg, 1ULL << 30, &n) < 0 || n == 0)
				return rb_cli_usage_error(self,
							  "--exec-output-max needs a size from 1 "
							  "to 1G, not %s",
							  optarg);
			cfg.exec_output_max = (size_t)n;
			break;
		case 'h':
			return RB_EXIT_OK;
		default:
			return RB_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return rb_cli_usage_error(self, "unexpected argument \"%s\"", argv[optind]);
	cfg.socket_path = cli->socket_path;
	cfg.state_dir = cli->state_dir;
	rb_error_clear(&err);
	if (rb_rt_serve(&cfg, &err) < 0) {
		fprintf(stderr, "runbox: %s\n", err.msg);
		return RB_EXIT_API;
	}
	return RB_EXIT_OK;
}

const struct rb_cli_verb rb_cli_verb_serve = {
    .name = "serve",
    .run = run,
    .needs_daemon = false,
    .usage = "serve [--socket PATH] [--state-dir DIR] [--group NAME] [LIMITS...]",
    .summary = "Run the daemon in the foreground",
    .help = "      --socket PATH             listen here\n"
	    "      --state-dir DIR           keep state here (one daemon per directory)\n"
	    "      --group NAME              let this group use the socket too (0660)\n"
	    "      --max-layer-bytes N       bytes one unpacked layer may hold (k/M/G/T)\n"
	    "      --max-layer-entries N     entries one layer may hold\n"
	    "      --max-path-depth N        components in a layer entry's path\n"
	    "      --max-path-length N       bytes in a layer entry's path\n"
	    "      --busybox PATH            static busybox for the default image\n"
	    "      --default-pids N          a sandbox's pids limit (default 4096)\n"
	    "      --exec-output-max N       bytes kept of each exec stream (default 1M)\n",
};
