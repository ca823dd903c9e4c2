/* The event bus without a daemon: type filters, the ring's order, replay and loss, and an
 * exporter's configuration checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/events.h"
#include "runtime/runtime.h"
#include "tests/testutil.h"

static void masks(void **state)
{
	rb_rt_ev_mask m = 0;
	const char *bad = NULL;

	assert_int_equal(rb_rt_ev_mask_add(&m, "exec.completed"), 0);
	assert_int_equal(m, RB_EV_BIT(RB_EV_EXEC_COMPLETED));
	m = 0;
	assert_int_equal(rb_rt_ev_mask_add(&m, "sandbox.*"), 0);
	assert_int_equal(m, RB_EV_BIT(RB_EV_SANDBOX_CREATED) | RB_EV_BIT(RB_EV_SANDBOX_STARTED) |
				RB_EV_BIT(RB_EV_SANDBOX_PAUSED) | RB_EV_BIT(RB_EV_SANDBOX_RESUMED) |
				RB_EV_BIT(RB_EV_SANDBOX_TERMINATED) |
				RB_EV_BIT(RB_EV_SANDBOX_ERROR));
	assert_int_equal(rb_rt_ev_mask_add(&m, "exec"), -EINVAL);
	assert_int_equal(rb_rt_ev_mask_add(&m, "sandbox."), -EINVAL);
	assert_int_equal(rb_rt_ev_mask_add(&m, "nope.*"), -EINVAL);
	m = 0;
	assert_int_equal(rb_rt_ev_mask_parse("file.read,port.*", &m, &bad), 0);
	assert_int_equal(m, RB_EV_BIT(RB_EV_FILE_READ) | RB_EV_BIT(RB_EV_PORT_EXPOSED) |
				RB_EV_BIT(RB_EV_PORT_CLOSED));
	assert_int_equal(rb_rt_ev_mask_parse("file.read,,x", &m, &bad), -EINVAL);
	assert_string_equal(bad, ",x");
	assert_int_equal(rb_rt_ev_mask_parse("file.read,bogus", &m, &bad), -EINVAL);
	assert_string_equal(bad, "bogus");
	for (int t = 0; t < RB_EV__COUNT; t++)
		assert_non_null(strchr(rb_rt_ev_type_name(t), '.'));
}

static void ring(void **state)
{
	struct rb_rt_ev_filter f = {.types = RB_EV_BIT(RB_EV_FILE_READ)};
	struct rb_rt_ev_item it[8];
	uint64_t next = rb_rt_ev_seek_end(), from = next, lost = 0;
	char first[RB_RT_EV_ID_LEN + 1];
	int n;

	rb_rt_ev_emit(RB_EV_FILE_READ, "sb_a", "run-1", NULL);
	rb_rt_ev_emit(RB_EV_FILE_DELETED, "sb_a", NULL, NULL);
	rb_rt_ev_emit(RB_EV_FILE_READ, "sb_b", NULL, cJSON_CreateObject());
	n = rb_rt_ev_read(&next, &f, it, 8, 0, &lost);
	assert_int_equal(n, 2);
	assert_int_equal(lost, 0);
	assert_non_null(strstr(it[0].text->json, "\"sandboxId\":\"sb_a\",\"runId\":\"run-1\""));
	assert_non_null(strstr(it[1].text->json, "\"runId\":\"\",\"data\":{}"));
	memcpy(first, it[0].id, sizeof(first));
	for (int i = 0; i < n; i++)
		rb_rt_ev_text_put(it[i].text);
	/* nothing more: a timeout, not a wait forever */
	assert_int_equal(rb_rt_ev_read(&next, &f, it, 8, 10, &lost), 0);

	/* replay after the first: the other two */
	assert_int_equal(rb_rt_ev_seek_id(first, &next), 0);
	assert_int_equal(next, from + 1);
	assert_int_equal(rb_rt_ev_seek_id("evt_none", &next), -ENOENT);

	/* a reader a whole ring behind is told what it lost */
	next = from;
	for (int i = 0; i < RB_RT_EV_RING + 10; i++)
		rb_rt_ev_emit(RB_EV_EXEC_STARTED, "sb_c", NULL, NULL);
	f.types = 0;
	lost = 0;
	n = rb_rt_ev_read(&next, &f, it, 8, 0, &lost);
	assert_int_equal(n, 8);
	assert_int_equal(lost, 13);
	for (int i = 0; i < n; i++)
		rb_rt_ev_text_put(it[i].text);
}

static void bad_configs(void **state)
{
	static const struct {
		const char *json, *field;
	} cases[] = {
	    {"{\"observability\":{\"exporters\":[{\"provider\":\"webhook\"}]}}",
	     "observability.exporters[0].config.url"},
	    {"{\"observability\":{\"exporters\":[{\"provider\":\"webhook\",\"config\":{\"url\":"
	     "\"http://x/\",\"headers\":{\"A\":\"b\\nc\"}}}]}}",
	     "observability.exporters[0].config.headers.A"},
	    {"{\"observability\":{\"exporters\":[{\"provider\":\"webhook\",\"config\":{\"url\":"
	     "\"http://x/\",\"maxQueue\":1.5}}]}}",
	     "observability.exporters[0].config.maxQueue"},
	    {"{\"observability\":{\"exporters\":[{\"provider\":\"webhook\",\"config\":{\"url\":"
	     "\"http://x/\"},\"filter\":{\"minLevel\":\"info\"}}]}}",
	     "observability.exporters[0].filter.minLevel"},
	    {"{\"observability\":{\"provider\":\"nope\"}}", "observability.provider"},
	};
	char path[] = "/tmp/runbox-test-config.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rb_rt_config cfg = {.config_path = path};
		struct rb_rt_exporters *x = NULL;
		struct rb_error err;
		cJSON *config = NULL;
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(cases[i].json, f);
		fclose(f);
		/* read as serve reads it, once, then its exporters started */
		assert_int_equal(rb_rt_config_load(&cfg, &config, &err), 0);
		cfg.config = config;
		assert_true(rb_rt_exporters_start(&cfg, &x, &err) < 0);
		cJSON_Delete(config);
		assert_null(x);
		assert_int_equal(err.code, RB_INVALID_CONFIG);
		if (!strstr(err.msg, cases[i].field))
			fail_msg("case %zu: \"%s\" does not name %s", i, err.msg, cases[i].field);
	}
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(masks),
	    cmocka_unit_test(ring),
	    cmocka_unit_test(bad_configs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
