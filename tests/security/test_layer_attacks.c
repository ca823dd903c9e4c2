/*
 * Hostile archives, built in code, loaded into a real store on the real filesystem as root.
 * Each case breaks one thing and checks three: the load's verdict (with the entry and reason
 * named), that nothing outside the layer was written, and that a rejected load left no blob,
 * layer, temporary or record behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "images/images.h"
#include "tests/testutil.h"

struct ctx {
	char *root, *store_dir, *outside, *archive;
	struct rb_image_limits lim;
	struct rb_image_store *s;
	struct rb_error err;
	char passwd_before[72];
};

static void hash_file(const char *path, char out[72])
{
	char *data = NULL;
	size_t len = 0;
	struct rb_error err;

	if (rb_read_file(path, 1 << 24, &data, &len, &err) < 0) {
		strcpy(out, "missing");
		return;
	}
	t_sha256(data, len, out);
	free(data);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char canary[4096];
	FILE *f;

	c->root = t_mkdtemp("attack");
	c->store_dir = rb_path_join(c->root, "store");
	c->outside = rb_path_join(c->root, "outside");
	c->archive = rb_path_join(c->root, "image.tar");
	mkdir(c->outside, 0755);
	snprintf(canary, sizeof(canary), "%s/canary", c->outside);
	f = fopen(canary, "w");
	fputs("ok", f);
	fclose(f);
	rb_image_limits_default(&c->lim);
	hash_file("/etc/passwd", c->passwd_before);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	rb_image_store_close(c->s);
	rb_rm_rf_at(AT_FDCWD, c->root);
	unlink("/tmp/runbox-pwned");
	free(c->root);
	free(c->store_dir);
	free(c->outside);
	free(c->archive);
	free(c);
	return 0;
}

static int open_store(struct ctx *c)
{
	if (!c->s)
		assert_int_equal(rb_image_store_open(c->store_dir, &c->lim, &c->s, &c->err), 0);
	return 0;
}

static int load(struct ctx *c)
{
	struct rb_image_load_opts o = {.path = c->archive};
	cJSON *loaded = NULL;
	int r;

	open_store(c);
	rb_error_clear(&c->err);
	r = rb_image_load(c->s, &o, &loaded, &c->err);
	cJSON_Delete(loaded);
	return r;
}

static int load_layer(struct ctx *c, const struct tentry *e, size_t n)
{
	struct toci o;
	int r;

	t_oci_build(&o, t_tar(e, n, "gzip"), NULL, NULL);
	assert_int_equal(t_oci_write(&o, c->archive), 0);
	r = load(c);
	t_oci_free(&o);
	return r;
}

static void assert_outside_untouched(struct ctx *c)
{
	char canary[4096], h[72];
	struct stat st;

	assert_int_equal(t_count_dir(c->outside), 1);
	snprintf(canary, sizeof(canary), "%s/canary", c->outside);
	assert_int_equal(stat(canary, &st), 0);
	assert_int_equal(st.st_size, 2);
	assert_int_equal(access("/tmp/runbox-pwned", F_OK), -1);
	hash_file("/etc/passwd", h);
	assert_string_equal(h, c->passwd_before);
}

static void assert_store_clean(struct ctx *c)
{
	char p[4096];
	cJSON *list = NULL;
	struct rb_error err;

	snprintf(p, sizeof(p), "%s/blobs/sha256", c->store_dir);
	assert_int_equal(t_count_dir(p), 0);
	snprintf(p, sizeof(p), "%s/layers/sha256", c->store_dir);
	assert_int_equal(t_count_dir(p), 0);
	snprintf(p, sizeof(p), "%s/tmp", c->store_dir);
	assert_int_equal(t_count_dir(p), 0);
	assert_int_equal(rb_image_list(c->s, &list, &err), 0);
	assert_int_equal(cJSON_GetArraySize(list), 0);
	cJSON_Delete(list);
}

/* The load must fail naming what; nothing may be left or written outside. */
static void expect_rejected(struct ctx *c, int r, const char *needle1, const char *needle2)
{
	if (r == 0)
		fail_msg("load succeeded; expected a refusal mentioning \"%s\"", needle1);
	if (needle1 && !strstr(c->err.msg, needle1))
		fail_msg("error \"%s\" does not mention \"%s\"", c->err.msg, needle1);
	if (needle2 && !strstr(c->err.msg, needle2))
		fail_msg("error \"%s\" does not mention \"%s\"", c->err.msg, needle2);
	assert_int_equal(c->err.code, RB_INVALID_IMAGE);
	assert_outside_untouched(c);
	assert_store_clean(c);
}

/* The only unpacked layer's directory. */
static void layer_dir(struct ctx *c, char out[4096])
{
	char p[4096];
	DIR *d;
	struct dirent *de;

	snprintf(p, sizeof(p), "%s/layers/sha256", c->store_dir);
	d = opendir(p);
	assert_non_null(d);
	out[0] = '\0';
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			snprintf(out, 4096, "%s/%s", p, de->d_name);
	closedir(d);
	assert_true(out[0]);
}

#define F(n, d)                                                                                    \
	{                                                                                          \
		n, 'f', d, 0, NULL, -1                                                             \
	}
#define D(n)                                                                                       \
	{                                                                                          \
		n, 'd', NULL, 0, NULL, -1                                                          \
	}
#define L(n, t)                                                                                    \
	{                                                                                          \
		n, 'l', t, 0, NULL, -1                                                             \
	}
#define H(n, t)                                                                                    \
	{                                                                                          \
		n, 'h', t, 0, NULL, -1                                                             \
	}

static void dotdot_name(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {F("../runbox-pwned", "x")};

	expect_rejected(c, load_layer(c, e, 1), "../runbox-pwned", "escapes");
}

static void absolute_name(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {F("/tmp/runbox-pwned", "x")};

	expect_rejected(c, load_layer(c, e, 1), "/tmp/runbox-pwned", "absolute");
}

static void dot_dotdot_name(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {F("/./../tmp/runbox-pwned", "x")};

	expect_rejected(c, load_layer(c, e, 1), "/./../tmp/runbox-pwned", NULL);
}

static void inner_dotdot_name(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {D("a"), F("a/../../../../../../tmp/runbox-pwned", "x")};

	expect_rejected(c, load_layer(c, e, 2), "a/../../", "escapes");
}

static void symlink_absolute_write_through(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {L("evil", c->outside), F("evil/pwned", "x")};

	/* the link resolves inside the layer, where that path does not exist */
	expect_rejected(c, load_layer(c, e, 2), "evil/pwned", NULL);
}

static void symlink_relative_write_through(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {D("tmp"), L("evil", "../../../../../../../../../tmp"),
				   F("evil/runbox-pwned", "x")};
	char p[4096];
	struct stat st;

	/* "../.." stops at the layer's root: the file lands in the layer's own tmp/ */
	assert_int_equal(load_layer(c, e, 3), 0);
	assert_outside_untouched(c);
	layer_dir(c, p);
	strcat(p, "/tmp/runbox-pwned");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
}

static void symlink_dangling_write_through(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {L("evil", "../../../../../../../../../tmp"),
				   F("evil/runbox-pwned", "x")};

	/* the link's target is resolved in the layer, where there is no tmp/ to write into */
	expect_rejected(c, load_layer(c, e, 2), "evil/runbox-pwned", "not in the layer");
}

static void symlink_chain_write_through(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {
	    L("a", "b"),    L("b", "c/../../../../.."), D("c"),
	    L("d", "/etc"), F("a/etc/passwd", "pwned"), F("d/shadow", "pwned")};
	char p[4096], q[4096];
	struct stat st;

	assert_int_equal(load_layer(c, e, 6), 0);
	assert_outside_untouched(c);
	layer_dir(c, p);
	snprintf(q, sizeof(q), "%s/etc/passwd", p);
	assert_int_equal(lstat(q, &st), 0);
	assert_int_equal(st.st_size, 5);
	snprintf(q, sizeof(q), "%s/etc/shadow", p);
	assert_int_equal(lstat(q, &st), 0);
	assert_int_equal(access("/etc/runbox-pwned", F_OK), -1);
}

static void hardlink_out(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {H("h", "../../../outside/canary")};

	expect_rejected(c, load_layer(c, e, 1), "../../../outside/canary", "escapes");
}

static void hardlink_absolute(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {H("h", "/etc/passwd")};

	expect_rejected(c, load_layer(c, e, 1), "/etc/passwd", "absolute");
}

static void hardlink_missing(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {H("h", "etc/passwd")};

	expect_rejected(c, load_layer(c, e, 1), "etc/passwd", "not in this layer");
}

static void hardlink_through_symlinked_dir(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {L("e", "/etc"), H("h", "e/passwd")};

	/* e/passwd resolves to the layer's own etc/passwd, which does not exist */
	expect_rejected(c, load_layer(c, e, 2), "e/passwd", NULL);
}

static void hardlink_to_symlink(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {L("s", "/etc/passwd"), H("h", "s"), F("h", "overwrite")};
	char p[4096], q[4096];
	struct stat st;

	/* the link is to the symlink itself; writing "h" afterwards replaces it, never follows */
	assert_int_equal(load_layer(c, e, 3), 0);
	assert_outside_untouched(c);
	layer_dir(c, p);
	snprintf(q, sizeof(q), "%s/s", p);
	assert_int_equal(lstat(q, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	snprintf(q, sizeof(q), "%s/h", p);
	assert_int_equal(lstat(q, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 9);
}

static void whiteout_dot(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {D("a"), F("a/.wh..", "")};

	expect_rejected(c, load_layer(c, e, 2), "a/.wh..", "whiteout names no file");
}

static void whiteout_dotdot(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {D("a"), F("a/.wh...", "")};

	expect_rejected(c, load_layer(c, e, 2), "a/.wh...", "whiteout names no file");
}

static void whiteout_empty(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {F(".wh.", "")};

	expect_rejected(c, load_layer(c, e, 1), ".wh.", "whiteout names no file");
}

static void whiteout_parent(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {F("../.wh.outside", "")};

	expect_rejected(c, load_layer(c, e, 1), "../.wh.outside", "escapes");
}

static void whiteout_through_symlink(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {L("o", "../../../.."), F("o/.wh.outside", "")};

	/* resolves to the layer's root: the whiteout is made there, not beside the store */
	assert_int_equal(load_layer(c, e, 2), 0);
	assert_outside_untouched(c);
}

static void duplicate_changes_type(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {D("etc"),	  D("d"),      F("d/f", "1"), L("d", "/etc"),
				   F("d/x", "2"), F("y", "3"), D("y"),	      F("y/z", "4"),
				   L("w", "y"),	  F("w", "5")};
	char p[4096], q[4096];
	struct stat st;

	assert_int_equal(load_layer(c, e, 10), 0);
	assert_outside_untouched(c);
	layer_dir(c, p);
	snprintf(q, sizeof(q), "%s/d", p);
	assert_int_equal(lstat(q, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	snprintf(q, sizeof(q), "%s/etc/x", p); /* written through d, inside the layer */
	assert_int_equal(lstat(q, &st), 0);
	snprintf(q, sizeof(q), "%s/y/z", p);
	assert_int_equal(lstat(q, &st), 0);
	snprintf(q, sizeof(q), "%s/w", p); /* the file replaced the symlink, not its target */
	assert_int_equal(lstat(q, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	snprintf(q, sizeof(q), "%s/y", p);
	assert_int_equal(lstat(q, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
}

static void device_nodes(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {D("dev"),
				   {"dev/mem", 'c', NULL, 0666, NULL, -1},
				   {"dev/sda", 'b', NULL, 0660, NULL, -1}};
	char p[4096], q[4096];
	struct stat st;

	if (geteuid() != 0)
		skip(); /* as a user, device nodes are skipped: checked by the unit suite */
	assert_int_equal(load_layer(c, e, 3), 0);
	layer_dir(c, p);
	snprintf(q, sizeof(q), "%s/dev/mem", p);
	assert_int_equal(lstat(q, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(major(st.st_rdev), 1);
	assert_int_equal(minor(st.st_rdev), 3);
}

static void overlay_xattr(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {{"f", 'f', "x", 0644, "trusted.overlay.opaque=y", -1}};

	expect_rejected(c, load_layer(c, e, 1), "trusted.overlay.opaque", "overlayfs");
}

static void overlay_user_xattr(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {{"f", 'f', "x", 0644, "user.overlay.whiteout=y", -1}};

	expect_rejected(c, load_layer(c, e, 1), "user.overlay.whiteout", "overlayfs");
}

static void whiteouts_become_overlay_form(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {
	    D("etc"),		F("etc/.wh.gone", ""),
	    D("opq"),		F("opq/.wh..wh..opq", ""),
	    F("opq/kept", "k"), {"cap", 'f', "x", 0755, "user.note=hello", -1}};
	char p[4096], q[4096], v[8] = "";
	struct stat st;

	assert_int_equal(load_layer(c, e, 6), 0);
	layer_dir(c, p);
	snprintf(q, sizeof(q), "%s/etc/gone", p);
	assert_int_equal(lstat(q, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
	snprintf(q, sizeof(q), "%s/etc/.wh.gone", p);
	assert_int_equal(lstat(q, &st), -1);
	snprintf(q, sizeof(q), "%s/opq", p);
	assert_int_equal(getxattr(q, "trusted.overlay.opaque", v, sizeof(v)), 1);
	assert_int_equal(v[0], 'y');
	snprintf(q, sizeof(q), "%s/opq/.wh..wh..opq", p);
	assert_int_equal(lstat(q, &st), -1);
	snprintf(q, sizeof(q), "%s/cap", p);
	assert_int_equal(getxattr(q, "user.note", v, sizeof(v)), 5);
}

/* ---- descriptors, digests and documents ---- */

static void layer_digest_mismatch(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {F("a", "hello")};
	struct toci o;

	t_oci_build(&o, t_tar(e, 1, "gzip"), NULL, NULL);
	o.layer.data[o.layer.len - 9] ^= 0x55; /* inside the gzip trailer: still the same size */
	assert_int_equal(t_oci_write(&o, c->archive), 0);
	t_oci_free(&o);
	expect_rejected(c, load(c), "content digest", NULL);
}

static void layer_size_mismatch(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {F("a", "hello")};
	struct toci o;
	char *p;

	t_oci_build(&o, t_tar(e, 1, "gzip"), NULL, NULL);
	/* the manifest says one byte more than the blob; re-digest so only the size is wrong */
	p = strstr(o.manifest, "\"size\":");
	p = strstr(p + 1, "\"size\":") + 7;
	*p = (char)(*p == '9' ? '1' : *p + 1);
	t_sha256(o.manifest, strlen(o.manifest), o.manifest_digest);
	free(o.index);
	assert_true(asprintf(&o.index,
			     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
			     "vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu}]}",
			     o.manifest_digest, strlen(o.manifest)) > 0);
	assert_int_equal(t_oci_write(&o, c->archive), 0);
	t_oci_free(&o);
	expect_rejected(c, load(c), "descriptor says", NULL);
}

static void write_index(struct toci *o, const char *media_type, const char *digest, size_t size)
{
	free(o->index);
	assert_true(asprintf(&o->index,
			     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\","
			     "\"digest\":\"%s\",\"size\":%zu}]}",
			     media_type, digest, size) > 0);
}

static void bad_hex_digest(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {F("a", "hello")};
	struct toci o;

	t_oci_build(&o, t_tar(e, 1, "gzip"), NULL, NULL);
	write_index(&o, "application/vnd.oci.image.manifest.v1+json",
		    "sha256:ZZZZ0000000000000000000000000000000000000000000000000000000000ZZ", 10);
	assert_int_equal(t_oci_write(&o, c->archive), 0);
	t_oci_free(&o);
	expect_rejected(c, load(c), "ZZZZ", "hex");
}

static void uppercase_hex_digest(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {F("a", "hello")};
	struct toci o;
	char upper[72];

	t_oci_build(&o, t_tar(e, 1, "gzip"), NULL, NULL);
	snprintf(upper, sizeof(upper), "%s", o.manifest_digest);
	for (char *p = upper + 7; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	write_index(&o, "application/vnd.oci.image.manifest.v1+json", upper, strlen(o.manifest));
	assert_int_equal(t_oci_write(&o, c->archive), 0);
	t_oci_free(&o);
	expect_rejected(c, load(c), "lowercase hex", NULL);
}

static void unknown_algorithm(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {F("a", "hello")};
	struct toci o;

	t_oci_build(&o, t_tar(e, 1, "gzip"), NULL, NULL);
	write_index(&o, "application/vnd.oci.image.manifest.v1+json",
		    "md5:d41d8cd98f00b204e9800998ecf8427e", 10);
	assert_int_equal(t_oci_write(&o, c->archive), 0);
	t_oci_free(&o);
	expect_rejected(c, load(c), "md5", "not supported");
}

static void index_posing_as_manifest(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {F("a", "hello")};
	struct toci o;
	char inner[72];

	/* the top index names a second index, but calls it a manifest */
	t_oci_build(&o, t_tar(e, 1, "gzip"), NULL, NULL);
	free(o.manifest);
	o.manifest = o.index;
	o.index = NULL;
	t_sha256(o.manifest, strlen(o.manifest), inner);
	snprintf(o.manifest_digest, sizeof(o.manifest_digest), "%s", inner);
	write_index(&o, "application/vnd.oci.image.manifest.v1+json", inner, strlen(o.manifest));
	assert_int_equal(t_oci_write(&o, c->archive), 0);
	t_oci_free(&o);
	expect_rejected(c, load(c), "posing", NULL);
}

static void manifest_posing_as_index(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {F("a", "hello")};
	struct toci o;

	t_oci_build(&o, t_tar(e, 1, "gzip"), NULL, NULL);
	write_index(&o, "application/vnd.oci.image.index.v1+json", o.manifest_digest,
		    strlen(o.manifest));
	assert_int_equal(t_oci_write(&o, c->archive), 0);
	t_oci_free(&o);
	expect_rejected(c, load(c), "says it is", NULL);
}

static void diff_id_mismatch(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {F("a", "hello")};
	struct toci o;
	char *p;

	t_oci_build(&o, t_tar(e, 1, "gzip"), NULL, NULL);
	p = strstr(o.config, o.diff_id + 7);
	p[0] = (char)(p[0] == '0' ? '1' : '0');
	t_sha256(o.config, strlen(o.config), o.config_digest);
	free(o.manifest);
	assert_true(asprintf(&o.manifest,
			     "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci."
			     "image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{"
			     "\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
			     o.config_digest, strlen(o.config), o.layer_media_type, o.layer_digest,
			     o.layer.len) > 0);
	t_sha256(o.manifest, strlen(o.manifest), o.manifest_digest);
	write_index(&o, "application/vnd.oci.image.manifest.v1+json", o.manifest_digest,
		    strlen(o.manifest));
	assert_int_equal(t_oci_write(&o, c->archive), 0);
	t_oci_free(&o);
	expect_rejected(c, load(c), "diff_id", NULL);
}

static void not_an_archive(void **state)
{
	struct ctx *c = *state;
	FILE *f = fopen(c->archive, "w");

	for (int i = 0; i < 4096; i++)
		fputc((i * 7919) & 0xff, f);
	fclose(f);
	expect_rejected(c, load(c), c->archive, NULL);
}

static void corrupt_gzip_layer(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {F("a", "hello world, hello world, hello world")};
	struct toci o;
	struct tbuf bad = {0};

	/* a gzip header followed by garbage, with descriptors that match it exactly */
	t_oci_build(&o, t_tar(e, 1, "gzip"), NULL, NULL);
	bad.len = o.layer.len;
	bad.data = malloc(bad.len);
	memcpy(bad.data, o.layer.data, 12);
	for (size_t i = 12; i < bad.len; i++)
		bad.data[i] = (char)(i * 31);
	t_oci_free(&o);
	memset(&o, 0, sizeof(o));
	o.layer = bad;
	t_sha256(bad.data, bad.len, o.layer_digest);
	snprintf(o.diff_id, sizeof(o.diff_id), "sha256:%064d", 0);
	o.layer_media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
	assert_true(asprintf(&o.config, "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
			     o.diff_id) > 0);
	t_sha256(o.config, strlen(o.config), o.config_digest);
	assert_true(asprintf(&o.manifest,
			     "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci."
			     "image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{"
			     "\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
			     o.config_digest, strlen(o.config), o.layer_media_type, o.layer_digest,
			     bad.len) > 0);
	t_sha256(o.manifest, strlen(o.manifest), o.manifest_digest);
	write_index(&o, "application/vnd.oci.image.manifest.v1+json", o.manifest_digest,
		    strlen(o.manifest));
	assert_int_equal(t_oci_write(&o, c->archive), 0);
	t_oci_free(&o);
	expect_rejected(c, load(c), "layer", NULL);
}

/* ---- bombs ---- */

static void bomb_total_size(void **state)
{
	struct ctx *c = *state;
	char *big = malloc(2 << 20);
	struct tentry e[] = {F("zeros", NULL)};

	memset(big, 'a', (2 << 20) - 1);
	big[(2 << 20) - 1] = '\0';
	e[0].data = big;
	c->lim.max_layer_bytes = 1 << 20;
	expect_rejected(c, load_layer(c, e, 1), "zeros", "limit of 1048576 unpacked bytes");
	free(big);
}

static void bomb_entry_count(void **state)
{
	struct ctx *c = *state;
	struct tentry e[300];
	char names[300][16];

	for (int i = 0; i < 300; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		e[i] = (struct tentry)F(names[i], "x");
	}
	c->lim.max_layer_entries = 200;
	expect_rejected(c, load_layer(c, e, 300), "f200", "more than 200 entries");
}

static void bomb_depth(void **state)
{
	struct ctx *c = *state;
	char name[256] = "";
	const struct tentry e[] = {F(name, "x")};

	for (int i = 0; i < 20; i++)
		strcat(name, "d/");
	strcat(name, "f");
	c->lim.max_path_depth = 16;
	expect_rejected(c, load_layer(c, e, 1), "d/d/d", "deeper than the limit");
}

static void bomb_path_length(void **state)
{
	struct ctx *c = *state;
	char name[400];
	const struct tentry e[] = {F(name, "x")};

	memset(name, 'n', 300);
	name[100] = '/';
	name[200] = '/';
	name[300] = '\0';
	c->lim.max_path_length = 256;
	expect_rejected(c, load_layer(c, e, 1), "nnnn", "longer than the limit");
}

static void bomb_name_length(void **state)
{
	struct ctx *c = *state;
	char name[400];
	const struct tentry e[] = {F(name, "x")};

	memset(name, 'n', 300);
	name[300] = '\0';
	expect_rejected(c, load_layer(c, e, 1), "nnnn", "longer than 255 bytes");
}

/* ---- store behaviour ---- */

static void reload_unpacks_nothing(void **state)
{
	struct ctx *c = *state;
	const struct tentry e[] = {D("etc"), F("etc/motd", "hi")};
	char p[4096];
	struct stat a, b;

	assert_int_equal(load_layer(c, e, 2), 0);
	layer_dir(c, p);
	assert_int_equal(stat(p, &a), 0);
	assert_int_equal(load(c), 0);
	assert_int_equal(stat(p, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
}

static void *load_thread(void *arg)
{
	struct ctx *c = arg;
	struct rb_image_load_opts o = {.path = c->archive};
	struct rb_error err;
	cJSON *loaded = NULL;
	intptr_t r = rb_image_load(c->s, &o, &loaded, &err);

	cJSON_Delete(loaded);
	return (void *)r;
}

static void concurrent_loads(void **state)
{
	struct ctx *c = *state;
	struct tentry e[64];
	char names[64][16];
	pthread_t t[4];
	struct toci o;
	char p[4096];

	for (int i = 0; i < 64; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		e[i] = (struct tentry)F(names[i], "content");
	}
	t_oci_build(&o, t_tar(e, 64, "gzip"), NULL, NULL);
	assert_int_equal(t_oci_write(&o, c->archive), 0);
	t_oci_free(&o);
	open_store(c);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, load_thread, c);
	for (int i = 0; i < 4; i++) {
		void *r;

		pthread_join(t[i], &r);
		assert_int_equal((intptr_t)r, 0);
	}
	snprintf(p, sizeof(p), "%s/layers/sha256", c->store_dir);
	assert_int_equal(t_count_dir(p), 1);
	snprintf(p, sizeof(p), "%s/tmp", c->store_dir);
	assert_int_equal(t_count_dir(p), 0);
	layer_dir(c, p);
	assert_int_equal(t_count_dir(p), 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	    T(dotdot_name),
	    T(absolute_name),
	    T(dot_dotdot_name),
	    T(inner_dotdot_name),
	    T(symlink_absolute_write_through),
	    T(symlink_relative_write_through),
	    T(symlink_dangling_write_through),
	    T(symlink_chain_write_through),
	    T(hardlink_out),
	    T(hardlink_absolute),
	    T(hardlink_missing),
	    T(hardlink_through_symlinked_dir),
	    T(hardlink_to_symlink),
	    T(whiteout_dot),
	    T(whiteout_dotdot),
	    T(whiteout_empty),
	    T(whiteout_parent),
	    T(whiteout_through_symlink),
	    T(duplicate_changes_type),
	    T(device_nodes),
	    T(overlay_xattr),
	    T(overlay_user_xattr),
	    T(whiteouts_become_overlay_form),
	    T(layer_digest_mismatch),
	    T(layer_size_mismatch),
	    T(bad_hex_digest),
	    T(uppercase_hex_digest),
	    T(unknown_algorithm),
	    T(index_posing_as_manifest),
	    T(manifest_posing_as_index),
	    T(diff_id_mismatch),
	    T(not_an_archive),
	    T(corrupt_gzip_layer),
	    T(bomb_total_size),
	    T(bomb_entry_count),
	    T(bomb_depth),
	    T(bomb_path_length),
	    T(bomb_name_length),
	    T(reload_unpacks_nothing),
	    T(concurrent_loads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
