/* runbox load -i FILE [--name REF] [-q]: load an image archive, with a progress line on a tty. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SHOW_AFTER_MS 300 /* a quick load draws nothing */
#define BAR_WIDTH     24

enum { OPT_NAME = RB_OPT_VERB_BASE };

struct progress {
	long long start_ms;
	bool drawn;
	cJSON *images; /* the last line's result */
	cJSON *error;  /* or its error */
};

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double num(const cJSON *obj, const char *name)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsNumber(n) ? n->valuedouble : 0;
}

static void draw(struct progress *pg, const cJSON *p)
{
	const cJSON *phase = cJSON_GetObjectItemCaseSensitive(p, "phase");
	double done = num(p, "done"), total = num(p, "total");
	char bar[BAR_WIDTH + 1];

	if (mono_ms() - pg->start_ms < SHOW_AFTER_MS || !cJSON_IsString(phase))
		return;
	if (!strcmp(phase->valuestring, "layer") && total > 0) {
		double frac = done < total ? done / total : 1;
		int fill = (int)(frac * BAR_WIDTH);

		for (int i = 0; i < BAR_WIDTH; i++)
			bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
		bar[BAR_WIDTH] = '\0';
		fprintf(stderr, "\r\033[KLoading layer %d/%d [%s] %3d%%  %.1f/%.1f MB",
			(int)num(p, "index"), (int)num(p, "count"), bar, (int)(frac * 100),
			done / 1e6, total / 1e6);
	} else if (!strcmp(phase->valuestring, "copying")) {
		fprintf(stderr, "\r\033[KCopying layers  %.1f MB", done / 1e6);
	} else if (!strcmp(phase->valuestring, "reading")) {
		fprintf(stderr, "\r\033[KReading archive");
	} else {
		return;
	}
	pg->drawn = true;
}

static void on_line(const cJSON *line, void *userdata)
{
	struct progress *pg = userdata;
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(line, "progress");

	if (p) {
		draw(pg, p);
	} else if (cJSON_GetObjectItemCaseSensitive(line, "images")) {
		cJSON_Delete(pg->images);
		pg->images = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(line, "images"), 1);
	} else if (cJSON_GetObjectItemCaseSensitive(line, "error")) {
		cJSON_Delete(pg->error);
		pg->error = cJSON_Duplicate(line, 1);
	}
}

static void print_loaded(struct rb_cli *cli, const cJSON *images)
{
	const cJSON *img;

	if (cli->json) {
		rb_cli_print_json(images);
		return;
	}
	cJSON_ArrayForEach(img, images)
	{
		const cJSON *names = cJSON_GetObjectItemCaseSensitive(img, "names");
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(img, "id");
		const cJSON *name;

		if (cJSON_GetArraySize(names) == 0 && cJSON_IsString(id))
			printf("Loaded image ID: %s\n", id->valuestring);
		cJSON_ArrayForEach(name, names)
		{
			if (cJSON_IsString(name))
				printf("Loaded image: %s\n", name->valuestring);
		}
	}
}

static int load_streamed(struct rb_cli *cli, const cJSON *req)
{
	struct progress pg = {.start_ms = mono_ms()};
	int rc = rb_cli_stream(cli, "POST", "/api/v1/images/load", req, on_line, &pg);

	if (pg.drawn)
		fprintf(stderr, "\r\033[K");
	if (rc == RB_EXIT_OK) {
		if (pg.error) {
			rc = rb_cli_print_api_error(pg.error, 200);
		} else if (!pg.images) {
			fprintf(stderr, "runbox: the load ended without a result\n");
			rc = RB_EXIT_API;
		} else {
			print_loaded(cli, pg.images);
		}
	}
	cJSON_Delete(pg.images);
	cJSON_Delete(pg.error);
	return rc;
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"input", required_argument, NULL, 'i'},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"quiet", no_argument, NULL, 'q'},
	    RB_CLI_OPT_JSON,
	    RB_CLI_OPTS_END,
	};
	const char *input = NULL, *name = NULL;
	_cleanup_json_ cJSON *req = NULL, *answer = NULL;
	char path[PATH_MAX];
	bool quiet = false;
	int c, rc;

	while ((c = rb_cli_getopt(cli, self, argc, argv, "i:q", opts)) != -1) {
		switch (c) {
		case 'i':
			input = optarg;
			break;
		case OPT_NAME:
			name = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			return rb_cli_opt_exit(c);
		}
	}
	if (!input)
		return rb_cli_usage_error(self, "load needs an archive: -i FILE");
	/* the daemon reads the file itself, so it needs a path that means the same to it */
	if (!realpath(input, path)) {
		fprintf(stderr, "runbox: %s: %s\n", input, strerror(errno));
		return RB_EXIT_API;
	}
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "path", path);
	if (name)
		cJSON_AddStringToObject(req, "name", name);

	if (!quiet && isatty(2))
		return load_streamed(cli, req);
	rc = rb_cli_call(cli, "POST", "/api/v1/images/load", req, &answer);
	if (rc == RB_EXIT_OK)
		print_loaded(cli, cJSON_GetObjectItemCaseSensitive(answer, "images"));
	return rc;
}

const struct rb_cli_verb rb_cli_verb_load = {
    .name = "load",
    .run = run,
    .needs_daemon = true,
    .usage = "load -i FILE [--name REF] [-q] [--json]",
    .summary = "Load an image from an OCI or docker archive (tar)",
    .help = "  -i, --input FILE   the archive to load\n"
	    "      --name REF     also name the (single) image loaded REF\n"
	    "  -q, --quiet        no progress line\n"
	    "      --json         print the loaded images as JSON\n",
};
