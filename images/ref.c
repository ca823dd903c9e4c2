#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "images-internal.h"

/* Reference grammar, simplified from the distribution spec: lowercase path components of
 * [a-z0-9._-] (the first may be a registry host with '.', ':' port and uppercase allowed),
 * then an optional ":tag" of [A-Za-z0-9_.-]{1,128}. Digested references are not names here. */
static int valid_tag(const char *t)
{
	size_t n = strlen(t);

	return n >= 1 && n <= 128 &&
	       strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
		   n &&
	       t[0] != '.' && t[0] != '-';
}

static int valid_repo(const char *r, size_t n)
{
	size_t i;
	int first = 1;

	if (n == 0 || n > 255 || r[0] == '/' || r[n - 1] == '/')
		return 0;
	for (i = 0; i < n; i++) {
		char c = r[i];

		if (c == '/') {
			if (r[i + 1] == '/')
				return 0;
			first = 0;
			continue;
		}
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-')
			continue;
		/* the registry host may carry a port and uppercase letters */
		if (first && strchr(r, '/') && ((c >= 'A' && c <= 'Z') || c == ':'))
			continue;
		return 0;
	}
	return 1;
}

int rb_ref_normalize(const char *in, char *out, size_t len, struct rb_error *err)
{
	const char *slash, *colon, *tag = "latest";
	size_t repo_len;
	const char *repo = in;

	if (!in || !*in)
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG, "image name is empty");
	if (strchr(in, '@'))
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "image name \"%.200s\": digest references are not names", in);
	slash = strrchr(in, '/');
	colon = strrchr(in, ':');
	repo_len = strlen(in);
	if (colon && (!slash || colon > slash)) {
		repo_len = (size_t)(colon - in);
		tag = colon + 1;
	}
	if (!strncmp(repo, "docker.io/library/", 18)) {
		repo += 18;
		repo_len -= 18;
	} else if (!strncmp(repo, "docker.io/", 10)) {
		repo += 10;
		repo_len -= 10;
	}
	if (!valid_repo(repo, repo_len) || !valid_tag(tag))
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "image name \"%.200s\" is not a valid reference "
				    "(lowercase [a-z0-9._-/] and an optional :tag)",
				    in);
	if ((size_t)snprintf(out, len, "%.*s:%s", (int)repo_len, repo, tag) >= len)
		return rb_error_set(err, ENAMETOOLONG, RB_INVALID_CONFIG,
				    "image name \"%.200s\" is too long", in);
	return 0;
}

int rb_ref_is_id(const char *ref)
{
	size_t n;

	if (!strncmp(ref, "sha256:", 7))
		ref += 7;
	n = strlen(ref);
	return n >= 4 && n <= 64 && strspn(ref, "0123456789abcdef") == n;
}
