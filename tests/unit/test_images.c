/* Logic of the image store that needs no kernel: references, digests, plans, the default
 * image's applet list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "images/images-internal.h"
#include "tests/testutil.h"

const char *const *rb_default_applets(size_t *n);

static void normalize(const char *in, const char *want)
{
	char out[512];
	struct rb_error err;

	if (!want) {
		if (rb_ref_normalize(in, out, sizeof(out), &err) == 0)
			fail_msg("\"%s\" was accepted as \"%s\"", in, out);
		assert_int_equal(err.code, RB_INVALID_CONFIG);
		return;
	}
	if (rb_ref_normalize(in, out, sizeof(out), &err) < 0)
		fail_msg("\"%s\" refused: %s", in, err.msg);
	assert_string_equal(out, want);
}

static void refs(void **state)
{
	normalize("busybox", "busybox:latest");
	normalize("busybox:1.36", "busybox:1.36");
	normalize("docker.io/library/busybox:1.36", "busybox:1.36");
	normalize("docker.io/me/tool", "me/tool:latest");
	normalize("localhost:5000/a/b:v1", "localhost:5000/a/b:v1");
	normalize("quay.io/x/y", "quay.io/x/y:latest");
	normalize("runbox/default:latest", "runbox/default:latest");
	normalize("", NULL);
	normalize("Busybox", NULL);
	normalize("a//b", NULL);
	normalize("/abs", NULL);
	normalize("a:b:c", NULL);
	normalize("x:-bad", NULL);
	normalize("x@sha256:0000", NULL);
	normalize("a b", NULL);
	assert_true(rb_ref_is_id("sha256:abcd"));
	assert_true(rb_ref_is_id("abcd1234"));
	assert_false(rb_ref_is_id("abc"));
	assert_false(rb_ref_is_id("busybox"));
}

static void digests(void **state)
{
	struct rb_error err;
	char path[256], d[RB_DIGEST_MAX];

	assert_int_equal(
	    rb_digest_validate(
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", &err),
	    0);
	assert_int_not_equal(
	    rb_digest_validate(
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", &err),
	    0);
	assert_int_not_equal(rb_digest_validate("sha256:e3b0", &err), 0);
	assert_int_not_equal(rb_digest_validate("md5:d41d8cd98f00b204e9800998ecf8427e", &err), 0);
	assert_non_null(strstr(err.msg, "not supported"));
	assert_int_not_equal(
	    rb_digest_validate("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			       &err),
	    0);
	assert_int_not_equal(
	    rb_digest_validate("sha256:../../../../etc/passwd0000000000000000000000000000000000000",
			       &err),
	    0);
	assert_int_not_equal(rb_digest_validate(":abc", &err), 0);
	rb_digest_buffer("sha256", "", 0, d);
	assert_string_equal(
	    d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	rb_digest_buffer("sha512", "abc", 3, d);
	assert_int_equal(rb_digest_validate(d, &err), 0);
	assert_int_equal(rb_digest_path("/s/blobs", d, path, sizeof(path)), 0);
	assert_int_equal(strncmp(path, "/s/blobs/sha512/ddaf35a1", 24), 0);
}

static void applets_exist_in_busybox(void **state)
{
	size_t n;
	const char *const *a = rb_default_applets(&n);
	FILE *p = popen("/bin/busybox --list", "r");
	char line[64], all[16384] = "\n";

	if (!p)
		skip();
	while (fgets(line, sizeof(line), p))
		strncat(all, line, sizeof(all) - strlen(all) - 1);
	pclose(p);
	for (size_t i = 0; i < n; i++) {
		char needle[80];

		snprintf(needle, sizeof(needle), "\n%s\n", a[i]);
		if (!strstr(all, needle))
			fail_msg("applet %s is not in this busybox", a[i]);
	}
}

/* Plans from documents alone: scan an archive written in code. */
static int plan_of(const char *dir, struct tfile *f, size_t n, struct rb_plan *plan,
		   struct rb_error *err)
{
	char path[4096];
	struct rb_archive_index idx;
	struct rb_image_limits lim;
	int r;

	rb_image_limits_default(&lim);
	snprintf(path, sizeof(path), "%s/a.tar", dir);
	assert_int_equal(t_write_outer(path, f, n), 0);
	r = rb_archive_scan(path, &lim, &idx, err);
	if (r == 0)
		r = rb_plan_build(&idx, &lim, plan, err);
	rb_archive_index_free(&idx);
	return r;
}

static void docker_archive_plan(void **state)
{
	char *dir = t_mkdtemp("plan");
	const struct tentry e[] = {{"a", 'f', "x", 0, NULL, -1}};
	struct tbuf layer = t_tar(e, 1, NULL);
	char diff[72], cid[72], cname[128], *config, *manifest;
	struct rb_plan plan;
	struct rb_error err;

	t_sha256(layer.data, layer.len, diff);
	assert_true(asprintf(&config,
			     "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
			     "\"layers\",\"diff_ids\":[\"%s\"]}}",
			     diff) > 0);
	t_sha256(config, strlen(config), cid);
	snprintf(cname, sizeof(cname), "%s.json", cid + 7);
	assert_true(asprintf(&manifest,
			     "[{\"Config\":\"%s\",\"RepoTags\":[\"docker.io/library/"
			     "busybox:latest\",\"me/x:1\"],\"Layers\":[\"abc/layer.tar\"]}]",
			     cname) > 0);
	struct tfile f[] = {{"manifest.json", manifest, strlen(manifest)},
			    {cname, config, strlen(config)},
			    {"abc/layer.tar", layer.data, layer.len}};
	assert_int_equal(plan_of(dir, f, 3, &plan, &err), 0);
	assert_int_equal(plan.n_images, 1);
	assert_string_equal(plan.images[0].config_digest, cid);
	assert_int_equal(plan.images[0].n_names, 2);
	assert_string_equal(plan.images[0].names[0], "busybox:latest");
	assert_string_equal(plan.images[0].layers[0].entry, "abc/layer.tar");
	assert_string_equal(plan.images[0].layers[0].diff_id, diff);
	rb_plan_free(&plan);

	/* a config whose file name claims another digest is refused */
	cname[0] = cname[0] == '0' ? '1' : '0';
	free(manifest);
	assert_true(
	    asprintf(&manifest, "[{\"Config\":\"%s\",\"Layers\":[\"abc/layer.tar\"]}]", cname) > 0);
	f[0].data = manifest;
	f[0].len = strlen(manifest);
	f[1].name = cname;
	assert_int_not_equal(plan_of(dir, f, 3, &plan, &err), 0);
	assert_non_null(strstr(err.msg, "content digest"));
	rb_plan_free(&plan);
	free(manifest);
	free(config);
	free(layer.data);
	rb_rm_rf_at(AT_FDCWD, dir);
	free(dir);
}

static void multi_platform_plan(void **state)
{
	char *dir = t_mkdtemp("plan");
	const struct tentry e[] = {{"a", 'f', "x", 0, NULL, -1}};
	struct toci o;
	char *index, mname[128], cname[128], lname[128], ixd[72], ixname[128], *top;
	struct rb_plan plan;
	struct rb_error err;

	t_oci_build(&o, t_tar(e, 1, "gzip"), NULL, NULL);
	assert_true(
	    asprintf(&index,
		     "{\"schemaVersion\":2,\"mediaType\":\"application/"
		     "vnd.oci.image.index.v1+json\",\"manifests\":["
		     "{\"mediaType\":\"application/"
		     "vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%064d\",\"size\":1,"
		     "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
		     "{\"mediaType\":\"application/"
		     "vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,\"platform\":"
		     "{\"os\":\"linux\",\"architecture\":\"%s\"}}]}",
		     0, o.manifest_digest, strlen(o.manifest), rb_host_arch()) > 0);
	t_sha256(index, strlen(index), ixd);
	assert_true(
	    asprintf(&top,
		     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
		     "vnd.oci.image.index.v1+json\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":"
		     "{\"org.opencontainers.image.ref.name\":\"multi:1\"}}]}",
		     ixd, strlen(index)) > 0);
	snprintf(mname, sizeof(mname), "blobs/sha256/%s", o.manifest_digest + 7);
	snprintf(cname, sizeof(cname), "blobs/sha256/%s", o.config_digest + 7);
	snprintf(lname, sizeof(lname), "blobs/sha256/%s", o.layer_digest + 7);
	snprintf(ixname, sizeof(ixname), "blobs/sha256/%s", ixd + 7);
	struct tfile f[] = {{"oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30},
			    {"index.json", top, strlen(top)},
			    {ixname, index, strlen(index)},
			    {mname, o.manifest, strlen(o.manifest)},
			    {cname, o.config, strlen(o.config)},
			    {lname, o.layer.data, o.layer.len}};
	/* the arm64 manifest is not even in the archive: it must not be looked at */
	assert_int_equal(plan_of(dir, f, 6, &plan, &err), 0);
	assert_int_equal(plan.n_images, 1);
	assert_int_equal(plan.skipped_platforms, 1);
	assert_string_equal(plan.images[0].config_digest, o.config_digest);
	assert_int_equal(plan.images[0].n_names, 1);
	assert_string_equal(plan.images[0].names[0], "multi:1");
	rb_plan_free(&plan);
	free(index);
	free(top);
	t_oci_free(&o);
	rb_rm_rf_at(AT_FDCWD, dir);
	free(dir);
}

static void error_codes(void **state)
{
	assert_string_equal(rb_code_name(RB_SANDBOX_NOT_FOUND), "SANDBOX_NOT_FOUND");
	assert_int_equal(rb_code_http_status(RB_INVALID_STATE), 409);
	assert_int_equal(rb_code_http_status(RB_IMAGE_NOT_FOUND), 404);
	assert_true(rb_code_retryable(RB_RESOURCE_EXHAUSTED));
	assert_false(rb_code_retryable(RB_INVALID_CONFIG));
}

static void error_wrap(void **state)
{
	struct rb_error err;

	assert_int_equal(rb_error_set(&err, ENOENT, RB_IMAGE_NOT_FOUND, "image %s", "x"), -ENOENT);
	assert_int_equal(rb_error_wrap(&err, "loading %s", "a.tar"), -ENOENT);
	assert_string_equal(err.msg, "loading a.tar: image x");
	assert_int_equal(rb_error_sys(&err, EACCES, RB_FORBIDDEN, "open %s", "f"), -EACCES);
	assert_non_null(strstr(err.msg, "open f: Permission denied"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(refs),
	    cmocka_unit_test(digests),
	    cmocka_unit_test(applets_exist_in_busybox),
	    cmocka_unit_test(docker_archive_plan),
	    cmocka_unit_test(multi_platform_plan),
	    cmocka_unit_test(error_codes),
	    cmocka_unit_test(error_wrap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
