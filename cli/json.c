/* JSON for people: four-space indentation, one member per line, as docker prints it. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

static void print_scalar(const cJSON *v)
{
	char *text = cJSON_PrintUnformatted(v);

	fputs(text ? text : "null", stdout);
	free(text);
}

static void print_value(const cJSON *v, int depth)
{
	bool obj = cJSON_IsObject(v);
	const cJSON *c;

	if (!obj && !cJSON_IsArray(v)) {
		print_scalar(v);
		return;
	}
	if (!v->child) {
		fputs(obj ? "{}" : "[]", stdout);
		return;
	}
	puts(obj ? "{" : "[");
	for (c = v->child; c; c = c->next) {
		printf("%*s", (depth + 1) * 4, "");
		if (obj) {
			cJSON *key = cJSON_CreateStringReference(c->string ? c->string : "");

			print_scalar(key);
			cJSON_Delete(key);
			fputs(": ", stdout);
		}
		print_value(c, depth + 1);
		puts(c->next ? "," : "");
	}
	printf("%*s%c", depth * 4, "", obj ? '}' : ']');
}

void rb_cli_print_json(const cJSON *json)
{
	if (!json)
		return;
	print_value(json, 0);
	putchar('\n');
}
