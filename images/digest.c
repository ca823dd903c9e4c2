#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "images-internal.h"

static size_t hex_len(const char *algo)
{
	if (!strcmp(algo, "sha256"))
		return 64;
	if (!strcmp(algo, "sha512"))
		return 128;
	return 0;
}

int rb_digest_validate(const char *digest, struct rb_error *err)
{
	const char *colon = digest ? strchr(digest, ':') : NULL;
	char algo[16];
	size_t want, n;

	if (!colon || colon == digest || (size_t)(colon - digest) >= sizeof(algo))
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				    "digest \"%.80s\" is not of the form algorithm:hex",
				    digest ? digest : "");
	memcpy(algo, digest, (size_t)(colon - digest));
	algo[colon - digest] = '\0';
	want = hex_len(algo);
	if (!want)
		return rb_error_set(err, ENOTSUP, RB_INVALID_IMAGE,
				    "digest \"%.80s\": algorithm \"%s\" is not supported "
				    "(sha256, sha512)",
				    digest, algo);
	n = strlen(colon + 1);
	if (n != want || strspn(colon + 1, "0123456789abcdef") != n)
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				    "digest \"%.80s\": not %zu lowercase hex digits", digest, want);
	return 0;
}

int rb_digest_path(const char *root, const char *digest, char *buf, size_t len)
{
	const char *colon = strchr(digest, ':');

	if (!colon)
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "%s/%.*s/%s", root, (int)(colon - digest), digest,
			     colon + 1) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int rb_hasher_init(struct rb_hasher *h, const char *algo)
{
	const EVP_MD *md = !strcmp(algo, "sha256")   ? EVP_sha256()
			   : !strcmp(algo, "sha512") ? EVP_sha512()
						     : NULL;

	if (!md)
		return -ENOTSUP;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(h->ctx, md, NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		h->ctx = NULL;
		return -EIO;
	}
	snprintf(h->algo, sizeof(h->algo), "%s", algo);
	return 0;
}

void rb_hasher_update(struct rb_hasher *h, const void *data, size_t len)
{
	EVP_DigestUpdate(h->ctx, data, len);
}

void rb_hasher_final(struct rb_hasher *h, char out[RB_DIGEST_MAX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	int off;

	EVP_DigestFinal_ex(h->ctx, md, &n);
	off = snprintf(out, RB_DIGEST_MAX, "%s:", h->algo);
	for (unsigned int i = 0; i < n; i++)
		off += snprintf(out + off, RB_DIGEST_MAX - (size_t)off, "%02x", md[i]);
	rb_hasher_free(h);
}

void rb_hasher_free(struct rb_hasher *h)
{
	if (h->ctx)
		EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void rb_digest_buffer(const char *algo, const void *data, size_t len, char out[RB_DIGEST_MAX])
{
	struct rb_hasher h;

	if (rb_hasher_init(&h, algo) < 0) {
		out[0] = '\0';
		return;
	}
	rb_hasher_update(&h, data, len);
	rb_hasher_final(&h, out);
}
