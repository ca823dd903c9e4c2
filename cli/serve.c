/* runbox serve: run the daemon in the foreground. */
#include "cli.h"

#include <ctype.h>
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
	OPT_CONFIG,
	OPT_DEFAULT_NETWORK,
	OPT_NETWORK_POOL,
	OPT_KEEP_IP_FORWARD,
	OPT_DNS_UPSTREAM,
	OPT_STOP_SANDBOXES,
	OPT_KEEP_TERMINATED,
};

/* A duration in seconds: 3600, 90m, 24h, 7d; or "forever" (-1). */
static int parse_duration(const char *s, long long *out)
{
	char *end;
	long long n;

	if (!strcmp(s, "forever")) {
		*out = -1;
		return 0;
	}
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || n < 1)
		return -EINVAL;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		n *= 60;
		break;
	case 'h':
		n *= 3600;
		break;
	case 'd':
		n *= 86400;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1])
		return -EINVAL;
	*out = n;
	return 0;
}

/* A count, optionally with a binary suffix: 512, 64k, 10G. */
static int parse_count(const char *s, uint64_t max, uint64_t *out)
{
	static const char units[] = "kmgt";
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno || s[0] == '-')
		return -1;
	if (*end) {
		const char *unit = strchr(units, tolower((unsigned char)*end));

		if (!unit || end[1])
			return -1;
		mult = 1ull << (10 * (unit - units + 1));
	}
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
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"default-network", required_argument, NULL, OPT_DEFAULT_NETWORK},
	    {"network-pool", required_argument, NULL, OPT_NETWORK_POOL},
	    {"keep-ip-forward", no_argument, NULL, OPT_KEEP_IP_FORWARD},
	    {"stop-sandboxes", no_argument, NULL, OPT_STOP_SANDBOXES},
	    {"keep-terminated", required_argument, NULL, OPT_KEEP_TERMINATED},
	    {"dns-upstream", required_argument, NULL, OPT_DNS_UPSTREAM},
	    RB_CLI_OPTS_END,
	};
	struct rb_rt_config cfg = {.socket_gid = -1};
	/* flags win over the configuration file, which wins over the defaults: the flags are
	 * parsed into their own copy and laid over the file's settings once it is read */
	struct rb_net_config net, flags;
	_cleanup_json_ cJSON *config = NULL;
	bool set_mode = false, set_pool = false;
	struct rb_error err;
	uint64_t n;
	int c;

	rb_image_limits_default(&cfg.limits);
	rb_net_config_default(&flags);
	cfg.net = &net;
	while ((c = rb_cli_getopt(cli, self, argc, argv, "", opts)) != -1) {
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
		case OPT_CONFIG:
			cfg.config_path = optarg; /* docs/config.md */
			break;
		case OPT_DEFAULT_NETWORK: /* docs/network.md */
			if (rb_net_mode_parse(optarg, &flags.default_mode) < 0)
				return rb_cli_usage_error(
				    self, "--default-network is none or private, not %s", optarg);
			set_mode = true;
			break;
		case OPT_NETWORK_POOL:
			rb_error_clear(&err);
			if (rb_net_pool_parse(optarg, &flags, &err) < 0)
				return rb_cli_usage_error(self, "--network-pool: %s", err.msg);
			set_pool = true;
			break;
		case OPT_KEEP_IP_FORWARD:
			flags.keep_ip_forward = true;
			break;
		case OPT_STOP_SANDBOXES:
			cfg.stop_sandboxes = true;
			break;
		case OPT_KEEP_TERMINATED:
			if (parse_duration(optarg, &cfg.keep_terminated_s) < 0)
				return rb_cli_usage_error(self,
							  "--keep-terminated needs a duration such "
							  "as 3600, 90m, 24h, 7d, or forever");
			break;
		case OPT_DNS_UPSTREAM:
			rb_error_clear(&err);
			if (rb_net_dns_upstream_parse(optarg, &flags, &err) < 0)
				return rb_cli_usage_error(self, "--dns-upstream: %s", err.msg);
			break;
		default:
			return rb_cli_opt_exit(c);
		}
	}
	cfg.socket_path = cli->socket_path;
	cfg.state_dir = cli->state_dir;
	rb_error_clear(&err);
	rb_net_config_default(&net);
	/* the configuration file, read once: its network settings here, its exporters in serve */
	if (rb_rt_config_load(&cfg, &config, &err) < 0 ||
	    rb_rt_config_network(config, &net, &err) < 0) {
		fprintf(stderr, "runbox: %s\n", err.msg);
		return RB_EXIT_API;
	}
	cfg.config = config;
	if (set_mode)
		net.default_mode = flags.default_mode;
	if (set_pool) {
		net.pool = flags.pool;
		net.pool_bits = flags.pool_bits;
	}
	if (flags.keep_ip_forward)
		net.keep_ip_forward = true;
	if (flags.n_dns_upstream) {
		memcpy(net.dns_upstream, flags.dns_upstream, sizeof(net.dns_upstream));
		net.n_dns_upstream = flags.n_dns_upstream;
	}
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
    .usage = "serve [--socket PATH] [--state-dir DIR] [--group NAME] [--config FILE] [LIMITS...]",
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
	    "      --exec-output-max N       bytes kept of each exec stream (default 1M)\n"
	    "      --stop-sandboxes          terminate the sandboxes when the daemon stops (by\n"
	    "                                default they keep running and are taken back by\n"
	    "                                the next daemon on the same state directory)\n"
	    "      --keep-terminated DURATION  how long terminated sandboxes stay listed\n"
	    "                                (default 24h; 3600, 90m, 7d, forever)\n"
	    "      --config FILE             the configuration file (env RUNBOX_CONFIG; default\n"
	    "                                /etc/runbox/config.json when it exists)\n"
	    "      --default-network MODE    private (default) or none, for sandboxes that\n"
	    "                                do not say (docs/network.md)\n"
	    "      --network-pool CIDR       private sandboxes' addresses (default 10.88.0.0/16)\n"
	    "      --keep-ip-forward         never set net.ipv4.ip_forward: private mode fails\n"
	    "                                while it is off\n"
	    "      --dns-upstream ADDR[:PORT]  the DNS proxy asks this resolver (repeatable, up\n"
	    "                                to 4; default: /etc/resolv.conf's nameservers)\n",
};
