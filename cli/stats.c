/*
 * runbox stats [--no-stream] [--json] [ID...]: what sandboxes use, as docker stats shows it. A
 * table redrawn every second until interrupted, or one shot with --no-stream; --json prints
 * the metrics objects once. Without ids: every live sandbox, listed again each round.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 100

/* The live sandboxes' ids (running or paused), into the array ids. An exit code. */
static int list_live(struct rb_cli *cli, cJSON *ids)
{
	for (long offset = 0;;) {
		_cleanup_free_ char *path = NULL;
		_cleanup_json_ cJSON *page = NULL;
		const cJSON *sb, *more;
		int rc, n = 0;

		if (asprintf(&path, "/api/v1/sandboxes?limit=%d&offset=%ld", PAGE, offset) < 0)
			return RB_EXIT_API;
		rc = rb_cli_call(cli, "GET", path, NULL, &page);
		if (rc != RB_EXIT_OK)
			return rc;
		cJSON_ArrayForEach(sb, cJSON_GetObjectItemCaseSensitive(page, "data"))
		{
			n++;
			if (strcmp(rb_cli_str(sb, "state"), "terminated"))
				cJSON_AddItemToArray(ids, cJSON_CreateString(rb_cli_str(sb, "id")));
		}
		more = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(page, "pagination"), "hasMore");
		if (!cJSON_IsTrue(more) || n == 0)
			return RB_EXIT_OK;
		offset += n;
	}
}

/* 1.5MiB, docker's binary units */
static void bytes(const cJSON *v, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double b;
	size_t u = 0;

	if (!cJSON_IsNumber(v)) {
		snprintf(buf, len, "--");
		return;
	}
	for (b = v->valuedouble; b >= 1024 && u + 1 < RB_ARRAY_SIZE(units); u++)
		b /= 1024;
	snprintf(buf, len, u ? "%.4g%s" : "%.0f%s", b, units[u]);
}

static const cJSON *at(const cJSON *m, const char *group, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, group), key);
}

static void row(const cJSON *m)
{
	const cJSON *cpu = at(m, "cpu", "percent"), *cur = at(m, "memory", "currentBytes");
	const cJSON *lim = at(m, "memory", "limitBytes"), *pids = at(m, "pids", "current");
	char c[16] = "--", mem[40], mlim[16], mp[16] = "--", disk[40], dlim[16], p[16] = "--";

	if (cJSON_IsNumber(cpu))
		snprintf(c, sizeof(c), "%.2f%%", cpu->valuedouble);
	bytes(cur, mem, sizeof(mem));
	bytes(lim, mlim, sizeof(mlim));
	if (cJSON_IsNumber(cur) && cJSON_IsNumber(lim) && lim->valuedouble > 0)
		snprintf(mp, sizeof(mp), "%.2f%%", 100 * cur->valuedouble / lim->valuedouble);
	bytes(at(m, "disk", "usedBytes"), disk, sizeof(disk));
	bytes(at(m, "disk", "limitBytes"), dlim, sizeof(dlim));
	if (cJSON_IsNumber(pids))
		snprintf(p, sizeof(p), "%.0f", pids->valuedouble);
	strncat(mem, " / ", sizeof(mem) - strlen(mem) - 1);
	strncat(mem, mlim, sizeof(mem) - strlen(mem) - 1);
	strncat(disk, " / ", sizeof(disk) - strlen(disk) - 1);
	strncat(disk, dlim, sizeof(disk) - strlen(disk) - 1);
	printf("%-15s %-9s %-8s %-21s %-8s %-6s %s\n", rb_cli_str(m, "id"), rb_cli_str(m, "state"),
	       c, mem, mp, p, disk);
}

struct round {
	cJSON *ids;	/* what to show */
	cJSON *metrics; /* what came back */
	bool drop_failed;
};

static int fetch(struct rb_cli *cli, const char *id, struct round *r)
{
	_cleanup_free_ char *path = rb_cli_api_path("/api/v1/sandboxes/", id, "/metrics");
	cJSON *m = NULL;
	int rc;

	if (!path)
		return RB_EXIT_API;
	rc = rb_cli_call(cli, "GET", path, NULL, &m);
	if (rc == RB_EXIT_OK && m)
		cJSON_AddItemToArray(r->metrics, m);
	return rc;
}

/* One round of metrics of r->ids. Watching, an id that fails (terminated meanwhile) is said
 * once and dropped, as the others go on. */
static int gather(struct rb_cli *cli, struct round *r)
{
	int rc = RB_EXIT_OK;

	cJSON_Delete(r->metrics);
	r->metrics = cJSON_CreateArray();
	if (!r->metrics)
		return RB_EXIT_API;
	for (int i = 0; i < cJSON_GetArraySize(r->ids);) {
		int one = fetch(cli, cJSON_GetArrayItem(r->ids, i)->valuestring, r);

		if (one == RB_EXIT_UNREACHABLE)
			return one;
		if (one != RB_EXIT_OK) {
			rc = one;
			if (r->drop_failed) {
				cJSON_DeleteItemFromArray(r->ids, i);
				continue;
			}
		}
		i++;
	}
	return rc;
}

static void table(const cJSON *metrics)
{
	const cJSON *m;

	printf("%-15s %-9s %-8s %-21s %-8s %-6s %s\n", "SANDBOX ID", "STATE", "CPU %",
	       "MEM USAGE / LIMIT", "MEM %", "PIDS", "DISK USAGE / LIMIT");
	cJSON_ArrayForEach(m, metrics) row(m);
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	enum { OPT_NO_STREAM = RB_OPT_VERB_BASE };
	static const struct option opts[] = {
	    {"no-stream", no_argument, NULL, OPT_NO_STREAM},
	    RB_CLI_OPT_JSON,
	    RB_CLI_OPTS_END,
	};
	struct round r = {0};
	bool stream = true, all, tty = isatty(STDOUT_FILENO);
	int c, rc;

	while ((c = rb_cli_getopt(cli, self, argc, argv, "", opts)) != -1) {
		if (c != OPT_NO_STREAM)
			return rb_cli_opt_exit(c);
		stream = false;
	}
	stream = stream && !cli->json;
	all = optind >= argc;
	r.ids = cJSON_CreateArray();
	for (int i = optind; r.ids && i < argc; i++)
		cJSON_AddItemToArray(r.ids, cJSON_CreateString(argv[i]));
	if (!r.ids)
		return RB_EXIT_API;
	for (int n = 0;; n++) {
		struct timespec second = {1, 0};

		if (all) {
			cJSON_Delete(r.ids);
			r.ids = cJSON_CreateArray();
			rc = r.ids ? list_live(cli, r.ids) : RB_EXIT_API;
			if (rc != RB_EXIT_OK)
				break;
		}
		r.drop_failed = n > 0;
		rc = gather(cli, &r);
		/* a sandbox asked for that is not there ends it at once; later, it only drops */
		if (rc == RB_EXIT_UNREACHABLE || (n == 0 && rc != RB_EXIT_OK && stream))
			break;
		if (cli->json) {
			rb_cli_print_json(r.metrics);
			break;
		}
		if (stream && tty)
			fputs("\033[H\033[2J",
			      stdout); /* home, clear: the table redrawn in place */
		table(r.metrics);
		if (!stream)
			break;
		fflush(stdout);
		nanosleep(&second, NULL);
	}
	cJSON_Delete(r.ids);
	cJSON_Delete(r.metrics);
	return rc;
}

const struct rb_cli_verb rb_cli_verb_stats = {
    .name = "stats",
    .run = run,
    .needs_daemon = true,
    .usage = "stats [--no-stream] [--json] [ID...]",
    .summary = "Show sandboxes' cpu, memory, pids and disk use, live",
    .help = "      --no-stream   print one table and exit\n"
	    "      --json        print the metrics once, as a JSON array\n",
    .min_args = 0,
    .max_args = -1,
    .needs = "",
};
