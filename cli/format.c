/* What people read in the tables: strings that may be missing, times relative to now. */
#include "cli.h"

#include <stdio.h>
#include <time.h>

const char *rb_cli_str(const cJSON *obj, const char *name)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(s) ? s->valuestring : "";
}

void rb_cli_ago(const char *when, char *buf, size_t len)
{
	static const struct {
		long long below, unit;
		const char *one, *many;
	} steps[] = {
	    {60, 1, "1 second ago", "%lld seconds ago"},
	    {3600, 60, "About a minute ago", "%lld minutes ago"},
	    {48 * 3600, 3600, "About an hour ago", "%lld hours ago"},
	    {14 * 86400, 86400, "1 day ago", "%lld days ago"},
	    {60 * 86400, 7 * 86400, "1 week ago", "%lld weeks ago"},
	    {730 * 86400LL, 30 * 86400, "1 month ago", "%lld months ago"},
	    {-1, 365 * 86400LL, "1 year ago", "%lld years ago"},
	};
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
	if (s < 1) {
		snprintf(buf, len, "Less than a second ago");
		return;
	}
	for (size_t i = 0; i < RB_ARRAY_SIZE(steps); i++) {
		if (steps[i].below < 0 || s < steps[i].below) {
			if (s / steps[i].unit <= 1)
				snprintf(buf, len, "%s", steps[i].one);
			else
				snprintf(buf, len, steps[i].many, s / steps[i].unit);
			return;
		}
	}
}
