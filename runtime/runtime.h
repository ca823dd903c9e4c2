/*
 * The daemon: an HTTP API on a unix socket in front of the image store (and, later, the
 * sandbox registry). rb_rt_serve() runs in the foreground until SIGTERM or SIGINT.
 */
#ifndef RB_RUNTIME_H
#define RB_RUNTIME_H

#include <cjson/cJSON.h>

#include "common/error.h"
#include "images/images.h"
#include "netpolicy/netpolicy.h"

#define RB_VERSION "0.1.0"

struct rb_rt_config {
	const char *socket_path;
	const char *state_dir;
	long socket_gid; /* group that may use the socket too, or -1 */
	struct rb_image_limits limits;
	const char *busybox;	/* for the default image; NULL: RB_DEFAULT_BUSYBOX */
	size_t exec_output_max; /* bytes kept of each of an exec's streams; 0: 1 MiB */
	uint64_t default_pids;	/* a sandbox's pids limit; 0: 4096 */
	/* the configuration file (docs/config.md); NULL: $RUNBOX_CONFIG, or the default */
	const char *config_path;
	/* that file, read once by rb_rt_config_load; NULL: there is none */
	const cJSON *config;
	/* networking (docs/network.md); NULL: rb_net_config_default */
	const struct rb_net_config *net;
	/* at SIGTERM, terminate the sandboxes too; by default they keep running and a daemon
	 * started again on the same state takes them back */
	bool stop_sandboxes;
	/* terminated sandboxes' records are kept that long (seconds); 0: 24 h; < 0: for ever */
	long long keep_terminated_s;
};

/* The configuration file as JSON (cfg->config_path, else $RUNBOX_CONFIG, else
 * /etc/runbox/config.json when it exists); *out is NULL when there is none. INVALID_CONFIG for
 * a file that is not a JSON object or holds an unknown top-level key. config.c */
int rb_rt_config_load(const struct rb_rt_config *cfg, cJSON **out, struct rb_error *err);
/* Its "network" section (docs/config.md), applied over *net; no file (config NULL) or no
 * section leaves *net as it is. INVALID_CONFIG names the field. */
int rb_rt_config_network(const cJSON *config, struct rb_net_config *net, struct rb_error *err);

/* Serve until SIGTERM/SIGINT, then finish what is in flight and return 0. */
int rb_rt_serve(const struct rb_rt_config *cfg, struct rb_error *err);

/* Kernel facts, probed once at start. */
enum rb_rt_cgroup_mode {
	RB_RT_CGROUP_NONE,
	RB_RT_CGROUP_V1,
	RB_RT_CGROUP_HYBRID, /* v1 controllers plus a cgroup2 mount (e.g. /sys/fs/cgroup/unified) */
	RB_RT_CGROUP_V2,
};

struct rb_rt_host {
	enum rb_rt_cgroup_mode cgroup;
	char cgroup2_mount[256]; /* where cgroup2 is mounted, "" when it is not */
	char controllers[512];	 /* space-separated: v2's cgroup.controllers, or v1's mounts */
	char kernel_release[65];
	char machine[65];
};

/* Classify the cgroup setup from the text of /proc/self/mountinfo (fills cgroup,
 * cgroup2_mount and, for v1, controllers). */
void rb_rt_probe_cgroup_mountinfo(const char *mountinfo, struct rb_rt_host *host);
/* Read /proc/self/mountinfo, cgroup.controllers and uname(). */
int rb_rt_probe_host(struct rb_rt_host *host, struct rb_error *err);
const char *rb_rt_cgroup_mode_name(enum rb_rt_cgroup_mode mode);
/* {"cgroup":{...},"kernel":{...}} members added to obj. */
void rb_rt_host_to_json(const struct rb_rt_host *host, cJSON *obj);

#endif
