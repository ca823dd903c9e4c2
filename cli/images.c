/* runbox images [--json] [-q]: the image table, as docker prints it. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct row {
	char repo[256], tag[128], id[13], created[48], size[16];
};

/* The 12 hex digits docker shows of "sha256:HEX". */
static void short_id(const char *id, char out[13])
{
	const char *colon = strchr(id, ':');

	snprintf(out, 13, "%s", colon ? colon + 1 : id);
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

	short_id(rb_cli_str(img, "id"), r->id);
	rb_cli_ago(rb_cli_str(img, "created"), r->created, sizeof(r->created));
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
	    RB_CLI_OPT_JSON,
	    RB_CLI_OPTS_END,
	};
	_cleanup_json_ cJSON *answer = NULL;
	const cJSON *data, *img;
	bool quiet = false;
	int c, rc;

	while ((c = rb_cli_getopt(cli, self, argc, argv, "q", opts)) != -1) {
		if (c != 'q')
			return rb_cli_opt_exit(c);
		quiet = true;
	}
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

			short_id(rb_cli_str(img, "id"), id);
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
