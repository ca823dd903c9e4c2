/*
 * The files routes. Every operation is performed by the sandbox's agent from inside, so paths,
 * symlinks and ".." resolve against the sandbox's own root; the daemon only ever sees a file
 * descriptor the agent opened. Reads stream straight from that descriptor when asked for
 * octet-stream; JSON answers carry utf-8 text, or base64 for anything else.
 */
#include "runtime-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "common/fsutil.h"
#include "events.h"
#include "sandbox.h"

/* The path asked for, absolute (a relative one is taken from the sandbox's workdir). */
static int sandbox_path(struct rb_rt_req *req, struct rb_rt_sandbox *sb, const char *in, char **out,
			struct rb_error *err)
{
	if (!in || !*in)
		return rb_rt_field_error(req, err, "path", "\"path\" is required");
	if (strlen(in) > 4096 || strchr(in, '\n'))
		return rb_rt_field_error(req, err, "path", "\"path\" is not a valid path");
	*out = in[0] == '/' ? strdup(in) : rb_path_join(sb->workdir, in);
	if (!*out)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	return 0;
}

struct file_req {
	struct rb_rt_sandbox *sb;
	char *path;
};

static void file_req_done(struct rb_rt_req *req, struct file_req *f)
{
	if (f->sb)
		rb_rt_sandbox_put(req->srv->sandboxes, f->sb);
	free(f->path);
}

/* Hold the sandbox (resumed first on autoResume) and resolve ?path= (or the body's "path"). */
static int begin(struct rb_rt_req *req, const cJSON *body, const char *body_path,
		 struct file_req *f, struct rb_error *err)
{
	_cleanup_free_ char *q = NULL;
	bool resume = false;
	int r;

	memset(f, 0, sizeof(*f));
	if (!body_path) {
		r = rb_rt_query(req, "path", &q, err);
		if (r < 0)
			return r;
		body_path = q;
	}
	r = rb_rt_auto_resume(req, body, &resume, err);
	if (r < 0)
		return r;
	r = rb_rt_sandbox_hold_as(req->srv->sandboxes, req->params[0],
				  resume ? RB_RT_HOLD_AUTO_RESUME : RB_RT_HOLD_RUNNING, &f->sb,
				  err);
	if (r < 0)
		return r;
	return sandbox_path(req, f->sb, body_path, &f->path, err);
}

static bool is_utf8(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		size_t n = c < 0x80	    ? 1
			   : (c >> 5) == 6  ? 2
			   : (c >> 4) == 14 ? 3
			   : (c >> 3) == 30 ? 4
					    : 0;

		if (!n || c == 0 || i + n > len)
			return false;
		for (size_t k = 1; k < n; k++)
			if ((s[i + k] >> 6) != 2)
				return false;
		i += n;
	}
	return true;
}

static int read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (int)got;
}

int rb_rt_api_file_read(struct rb_rt_req *req, struct rb_error *err)
{
	const char *accept = rb_rt_header(req, MHD_HTTP_HEADER_ACCEPT);
	struct file_req f;
	struct rb_iso_stat st = {0};
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL, *b64 = NULL;
	cJSON *body;
	int r = begin(req, NULL, NULL, &f, err), n;

	if (r == 0)
		r = rb_iso_file_open(f.sb->iso.ctl, f.path, O_RDONLY, 0, 0, &fd, &st, err);
	if (r == 0 && accept && strcasestr(accept, "application/octet-stream")) {
		/* streamed by the kernel from the sandbox's file: nothing is held in memory */
		struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.size, fd);

		if (!resp) {
			r = rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR,
					 "cannot create a response");
		} else {
			fd = -1;
			r = rb_rt_reply(req, 200, resp, "application/octet-stream");
		}
		rb_rt_ev_file(RB_EV_FILE_READ, f.sb, f.path, st.size, r < 0 ? err : NULL);
		file_req_done(req, &f);
		return r;
	}
	if (r == 0 && (uint64_t)st.size > RB_RT_FILE_JSON_MAX)
		r = rb_error_set(
		    err, EFBIG, RB_INVALID_REQUEST,
		    "%s is %lld bytes: ask for it with Accept: application/octet-stream", f.path,
		    (long long)st.size);
	if (r < 0) {
		rb_rt_ev_file(RB_EV_FILE_READ, f.sb, f.path, RB_EV_SIZE_NONE, err);
		file_req_done(req, &f);
		return r;
	}
	buf = malloc((size_t)st.size + 1);
	n = buf ? read_all(fd, buf, (size_t)st.size) : -ENOMEM;
	if (n < 0) {
		file_req_done(req, &f);
		return rb_error_set(err, -n, RB_INTERNAL_ERROR, "read %s", f.path);
	}
	buf[n] = '\0';
	if (!is_utf8((unsigned char *)buf, (size_t)n) &&
	    !(b64 = malloc(4 * (((size_t)n + 2) / 3) + 1))) {
		file_req_done(req, &f);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "encode %s", f.path);
	}
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "path", f.path);
	if (!b64) {
		cJSON_AddStringToObject(body, "content", buf);
		cJSON_AddStringToObject(body, "encoding", "utf-8");
	} else {
		EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)buf, n);
		cJSON_AddStringToObject(body, "content", b64);
		cJSON_AddStringToObject(body, "encoding", "base64");
	}
	rb_rt_ev_file(RB_EV_FILE_READ, f.sb, f.path, n, NULL);
	file_req_done(req, &f);
	return rb_rt_reply_json(req, 200, body);
}

static int decode_base64(const char *in, unsigned char **out, size_t *len)
{
	size_t n = strlen(in), pad = 0;
	int got;

	if (n % 4)
		return -EINVAL;
	*out = malloc(n / 4 * 3 + 1);
	if (!*out)
		return -ENOMEM;
	got = n ? EVP_DecodeBlock(*out, (const unsigned char *)in, (int)n) : 0;
	if (got < 0) {
		free(*out);
		*out = NULL;
		return -EINVAL;
	}
	if (n && in[n - 1] == '=')
		pad++;
	if (n > 1 && in[n - 2] == '=')
		pad++;
	*len = (size_t)got - pad;
	return 0;
}

static int write_json(struct rb_rt_req *req, struct rb_error *err);

static void upload_done(struct rb_rt_req *req)
{
	struct file_req *f = req->upload_ctx;

	if (!f)
		return;
	file_req_done(req, f);
	free(f);
	req->upload_ctx = NULL;
}

/* Before the first byte of an octet-stream upload: open the file inside the sandbox; the
 * HTTP layer then writes the body straight into it. ?path= and ?mode= say where and how. */
int rb_rt_api_file_upload_open(struct rb_rt_req *req, struct rb_error *err)
{
	struct file_req *f = calloc(1, sizeof(*f));
	_cleanup_free_ char *mode_s = NULL;
	mode_t mode = 0644;
	int r;

	if (!f)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	req->upload_ctx = f;
	req->upload_done = upload_done;
	r = rb_rt_query(req, "mode", &mode_s, err);
	if (r == 0 && mode_s) {
		char *end;
		unsigned long m = strtoul(mode_s, &end, 8);

		if (!*mode_s || *end || m > 07777)
			return rb_rt_field_error(req, err, "mode",
						 "query \"mode\" must be octal, 0 to 7777");
		mode = (mode_t)m;
	}
	if (r == 0)
		r = begin(req, NULL, NULL, f, err);
	if (r == 0)
		r = rb_iso_file_open(f->sb->iso.ctl, f->path, O_WRONLY | O_CREAT | O_TRUNC, mode, 1,
				     &req->upload_fd, NULL, err);
	if (r == 0 && fchmod(req->upload_fd, mode) < 0)
		r = rb_error_sys(err, errno, RB_INTERNAL_ERROR, "chmod %s", f->path);
	return r;
}

int rb_rt_api_file_write(struct rb_rt_req *req, struct rb_error *err)
{
	if (req->upload_ctx) {
		struct file_req *f = req->upload_ctx;
		cJSON *body;

		rb_rt_ev_file(RB_EV_FILE_CREATED, f->sb, f->path, (long long)req->upload_bytes,
			      req->upload_failed ? &req->upload_err : NULL);
		if (req->upload_failed) {
			*err = req->upload_err;
			return rb_error_wrap(err, "%s", f->path);
		}
		body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "path", f->path);
		cJSON_AddNumberToObject(body, "sizeBytes", (double)req->upload_bytes);
		return rb_rt_reply_json(req, 200, body);
	}
	return write_json(req, err);
}

static int write_json(struct rb_rt_req *req, struct rb_error *err)
{
	_cleanup_json_ cJSON *in = NULL;
	_cleanup_free_ unsigned char *bin = NULL;
	_cleanup_close_ int fd = -1;
	const char *path, *content, *encoding;
	const cJSON *mode_j;
	struct file_req f = {0};
	mode_t mode = 0644;
	size_t len;
	cJSON *body;
	int r = rb_rt_body_object(req, &in, err);

	if (r < 0)
		return r;
	if ((r = rb_rt_field_string(req, in, "path", true, &path, err)) < 0 ||
	    (r = rb_rt_field_string(req, in, "content", true, &content, err)) < 0 ||
	    (r = rb_rt_field_string(req, in, "encoding", false, &encoding, err)) < 0)
		return r;
	mode_j = cJSON_GetObjectItemCaseSensitive(in, "mode");
	if (mode_j && !cJSON_IsNull(mode_j)) {
		if (!cJSON_IsNumber(mode_j) || mode_j->valuedouble < 0 ||
		    mode_j->valuedouble > 07777)
			return rb_rt_field_error(req, err, "mode",
						 "field \"mode\" must be a number from 0 to 4095 "
						 "(0o7777)");
		mode = (mode_t)mode_j->valuedouble;
	}
	if (encoding && strcmp(encoding, "utf-8") && strcmp(encoding, "base64"))
		return rb_rt_field_error(req, err, "encoding",
					 "field \"encoding\" must be \"utf-8\" or \"base64\"");
	len = strlen(content);
	if (encoding && !strcmp(encoding, "base64")) {
		r = decode_base64(content, &bin, &len);
		if (r < 0)
			return rb_rt_field_error(req, err, "content",
						 "field \"content\" is not valid base64");
		content = (const char *)bin;
	}
	r = begin(req, in, path, &f, err);
	if (r == 0)
		r = rb_iso_file_open(f.sb->iso.ctl, f.path, O_WRONLY | O_CREAT | O_TRUNC, mode, 1,
				     &fd, NULL, err);
	for (size_t off = 0; r == 0 && off < len;) {
		ssize_t n = write(fd, content + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = rb_error_sys(
			    err, errno, errno == ENOSPC ? RB_RESOURCE_EXHAUSTED : RB_INTERNAL_ERROR,
			    "write %s", f.path);
		else
			off += (size_t)n;
	}
	if (r == 0 && fchmod(fd, mode) < 0)
		r = rb_error_sys(err, errno, RB_INTERNAL_ERROR, "chmod %s", f.path);
	rb_rt_ev_file(RB_EV_FILE_CREATED, f.sb, f.path, (long long)len, r < 0 ? err : NULL);
	if (r < 0) {
		file_req_done(req, &f);
		return r;
	}
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "path", f.path);
	cJSON_AddNumberToObject(body, "sizeBytes", (double)len);
	file_req_done(req, &f);
	return rb_rt_reply_json(req, 200, body);
}

struct list_ctx {
	cJSON *entries;
	const char *dir;
};

static int add_entry(const char *name, const struct rb_iso_stat *st, void *ud)
{
	struct list_ctx *c = ud;
	cJSON *e = cJSON_CreateObject();
	char when[32], *path = rb_path_join(c->dir, name);

	cJSON_AddStringToObject(e, "name", name);
	cJSON_AddStringToObject(e, "path", path ? path : name);
	cJSON_AddBoolToObject(e, "isDirectory", S_ISDIR(st->mode));
	cJSON_AddNumberToObject(e, "sizeBytes", (double)st->size);
	rb_format_time(st->mtime_ms, when);
	cJSON_AddStringToObject(e, "modifiedAt", when);
	cJSON_AddBoolToObject(e, "isSymlink", S_ISLNK(st->mode));
	cJSON_AddItemToArray(c->entries, e);
	free(path);
	return 0;
}

int rb_rt_api_file_list(struct rb_rt_req *req, struct rb_error *err)
{
	struct file_req f;
	struct list_ctx c = {0};
	cJSON *body;
	int r = begin(req, NULL, NULL, &f, err);

	if (r < 0) {
		file_req_done(req, &f);
		return r;
	}
	c.entries = cJSON_CreateArray();
	c.dir = f.path;
	r = rb_iso_file_list(f.sb->iso.ctl, f.path, add_entry, &c, err);
	if (r < 0) {
		cJSON_Delete(c.entries);
		file_req_done(req, &f);
		return r;
	}
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "entries", c.entries);
	file_req_done(req, &f);
	return rb_rt_reply_json(req, 200, body);
}

int rb_rt_api_file_exists(struct rb_rt_req *req, struct rb_error *err)
{
	struct file_req f;
	struct rb_iso_stat st;
	cJSON *body;
	int r = begin(req, NULL, NULL, &f, err);

	if (r == 0) {
		r = rb_iso_file_stat(f.sb->iso.ctl, f.path, &st, err);
		if (r < 0 && (err->errnum == ENOENT || err->errnum == ENOTDIR)) {
			r = 1;
			rb_error_clear(err);
		}
	}
	file_req_done(req, &f);
	if (r < 0)
		return r;
	body = cJSON_CreateObject();
	cJSON_AddBoolToObject(body, "exists", r == 0);
	return rb_rt_reply_json(req, 200, body);
}

int rb_rt_api_file_delete(struct rb_rt_req *req, struct rb_error *err)
{
	struct file_req f;
	bool recursive = false;
	int r = rb_rt_query_bool(req, "recursive", false, &recursive, err);

	if (r < 0)
		return r;
	r = begin(req, NULL, NULL, &f, err);
	if (r == 0 && !strcmp(f.path, "/"))
		r = rb_rt_field_error(req, err, "path", "the root cannot be deleted");
	if (r == 0)
		r = rb_iso_file_remove(f.sb->iso.ctl, f.path, recursive, err);
	rb_rt_ev_file(RB_EV_FILE_DELETED, f.sb, f.path, RB_EV_SIZE_NONE, r < 0 ? err : NULL);
	file_req_done(req, &f);
	if (r < 0)
		return r;
	return rb_rt_reply_json(req, 200, cJSON_CreateObject());
}

int rb_rt_api_file_mkdir(struct rb_rt_req *req, struct rb_error *err)
{
	_cleanup_json_ cJSON *in = NULL;
	const cJSON *rec;
	const char *path = NULL;
	struct file_req f = {0};
	int r = rb_rt_body_object(req, &in, err);

	if (r == 0)
		r = rb_rt_field_string(req, in, "path", true, &path, err);
	if (r < 0)
		return r;
	rec = cJSON_GetObjectItemCaseSensitive(in, "recursive");
	if (rec && !cJSON_IsNull(rec) && !cJSON_IsBool(rec))
		return rb_rt_field_error(req, err, "recursive",
					 "field \"recursive\" must be a boolean");
	r = begin(req, in, path, &f, err);
	if (r == 0)
		r = rb_iso_file_mkdir(f.sb->iso.ctl, f.path, cJSON_IsTrue(rec), err);
	rb_rt_ev_file(RB_EV_FILE_CREATED, f.sb, f.path, RB_EV_SIZE_DIR, r < 0 ? err : NULL);
	file_req_done(req, &f);
	if (r < 0)
		return r;
	return rb_rt_reply_json(req, 201, cJSON_CreateObject());
}
