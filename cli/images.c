/* runbox images [--json] [-q]: the image table, as docker prints it. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct row {
	char repo[256], tag[128], id[13], created[48], size[16];
};

static const char *str(const cJSON *obj, const char *name)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(s) ? s->valuestring : NULL;
}

/* The 12 hex digits docker shows of "sha256:HEX". */
static void short_id(const char *id, char out[13])
{
	const char *colon = id ? strchr(id, ':') : NULL;

	snprintf(out, 13, "%s", colon ? colon + 1 : (id ? id : ""));
}

/* "runbox/default:latest" -> "runbox/default", "latest"; the tag follows the last ':' after
 * the last '/', so "host:5000/x" has none. */
static void split_name(const char *name, struct row *r)
{
	const char *slash = strrchr(name, '/'), *colon = strrchr(name, ':');

	if (colon && (!slash || colon > slash)) {
		snprintf(r->repo, sizeof(r->repo), "%.*s", (int)(colon - name), name);
		snprintf(r->tag, sizeof(r->tag), "%s", colon + 1);
	} else {
		snprintf(r->repo, sizeof(r->repo), "%s", name);
		snprintf(r->tag, sizeof(r->tag), "<none>");
	}
}

static void human_ago(const char *when, char *buf, size_t len)
{
	struct tm tm = {0};
	long long s;

	if (!when || sscanf(when, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			    &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
		snprintf(buf, len, "N/A");
		return;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	s = (long long)(time(NULL) - timegm(&tm));
	if (s < 1)
		snprintf(buf, len, "Less than a second ago");
	else if (s < 60)
		snprintf(buf, len, "%lld seconds ago", s);
	else if (s < 120)
		snprintf(buf, len, "About a minute ago");
	else if (s < 3600)
		snprintf(buf, len, "%lld minutes ago", s / 60);
	else if (s < 7200)
		snprintf(buf, len, "About an hour ago");
	else if (s < 48 * 3600)
		snprintf(buf, len, "%lld hours ago", s / 3600);
	else if (s < 14 * 86400)
		snprintf(buf, len, "%lld days ago", s / 86400);
	else if (s < 60 * 86400)
		snprintf(buf, len, "%lld weeks ago", s / (7 * 86400));
	else if (s < 2 * 365 * 86400LL)
		snprintf(buf, len, "%lld months ago", s / (30 * 86400));
	else
		snprintf(buf, len, "%lld years ago", s / (365 * 86400LL));
}

/* Decimal units with three significant digits: "4.26MB", "117MB". */
static void human_size(double bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
	size_t u = 0;

	while (bytes >= 999.5 && u + 1 < RB_ARRAY_SIZE(units)) {
		bytes /= 1000;
		u++;
	}
	snprintf(buf, len, "%.3g%s", bytes, units[u]);
}

static void fill_row(struct row *r, const cJSON *img)
{
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(img, "sizeBytes");

	short_id(str(img, "id"), r->id);
	human_ago(str(img, "created"), r->created, sizeof(r->created));
	human_size(cJSON_IsNumber(size) ? size->valuedouble : 0, r->size, sizeof(r->size));
}

static void print_table(const cJSON *images)
{
	size_t n = 0, cap = 0,
	       w[4] = {strlen("REPOSITORY"), strlen("TAG"), strlen("IMAGE ID"), strlen("CREATED")};
	struct row *rows = NULL;
	const cJSON *img, *name;

	cJSON_ArrayForEach(img, images)
	{
		const cJSON *names = cJSON_GetObjectItemCaseSensitive(img, "names");
		int count = cJSON_GetArraySize(names);

		for (int i = 0; i < (count ? count : 1); i++) {
			struct row *r;

			if (n == cap) {
				size_t more = cap ? cap * 2 : 16;
				struct row *grown = realloc(rows, more * sizeof(*rows));

				if (!grown)
					break;
				rows = grown;
				cap = more;
			}
			r = &rows[n++];
			name = cJSON_GetArrayItem(names, i);
			if (cJSON_IsString(name)) {
				split_name(name->valuestring, r);
			} else {
				strcpy(r->repo, "<none>");
				strcpy(r->tag, "<none>");
			}
			fill_row(r, img);
		}
	}
	for (size_t i = 0; i < n; i++) {
		const char *cols[4] = {rows[i].repo, rows[i].tag, rows[i].id, rows[i].created};

		for (int j = 0; j < 4; j++)
			if (strlen(cols[j]) > w[j])
				w[j] = strlen(cols[j]);
	}
	printf("%-*s   %-*s   %-*s   %-*s   %s\n", (int)w[0], "REPOSITORY", (int)w[1], "TAG",
	       (int)w[2], "IMAGE ID", (int)w[3], "CREATED", "SIZE");
	for (size_t i = 0; i < n; i++)
		printf("%-*s   %-*s   %-*s   %-*s   %s\n", (int)w[0], rows[i].repo, (int)w[1],
		       rows[i].tag, (int)w[2], rows[i].id, (int)w[3], rows[i].created,
		       rows[i].size);
	free(rows);
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"quiet", no_argument, NULL, 'q'},
	    {"json", no_argument, NULL, RB_OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_json_ cJSON *answer = NULL;
	const cJSON *data, *img;
	bool quiet = false;
	int c, rc;

	while ((c = rb_cli_getopt(self, argc, argv, "qh", opts)) != -1) {
		switch (c) {
		case 'q':
			quiet = true;
			break;
		case RB_OPT_JSON:
			cli->json = true;
			break;
		case 'h':
			return RB_EXIT_OK;
		default:
			return RB_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return rb_cli_usage_error(self, "unexpected argument \"%s\"", argv[optind]);
	rc = rb_cli_call(cli, "GET", "/api/v1/images", NULL, &answer);
	if (rc != RB_EXIT_OK)
		return rc;
	data = cJSON_GetObjectItemCaseSensitive(answer, "data");
	if (cli->json) {
		rb_cli_print_json(data);
	} else if (quiet) {
		cJSON_ArrayForEach(img, data)
		{
			char id[13];

			short_id(str(img, "id"), id);
			puts(id);
		}
	} else {
		print_table(data);
	}
	return RB_EXIT_OK;
}

const struct rb_cli_verb rb_cli_verb_images = {
    .name = "images",
    .run = run,
    .needs_daemon = true,
    .usage = "images [-q] [--json]",
    .summary = "List images",
    .help = "  -q, --quiet   only image IDs\n"
	    "      --json    print the images as JSON\n",
};
