/* The outer archive: an oci-archive or docker-archive tarball, read twice at most. The first
 * pass (scan) keeps the small JSON documents in memory and notes every entry; the second
 * (extract) copies just the blobs still missing from the store. Uncompressed archives are
 * skipped through with seeks, so a reload reads little more than the headers. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "images-internal.h"

#define READ_BLOCK    (1 << 20)
#define SNIFF	      512
#define MAX_LINK_HOPS 8

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
#define _cleanup_archive_ _cleanup_(archive_freep)

static struct archive *open_outer(const char *path, struct rb_error *err)
{
	struct archive *a = archive_read_new();

	if (!a) {
		rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
		return NULL;
	}
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_none(a);
	if (archive_read_open_filename(a, path, READ_BLOCK) != ARCHIVE_OK) {
		int e = archive_errno(a);
		/* libarchive's message names the file; the load adds the path once, on top */
		rb_error_set(err, e > 0 ? e : EINVAL,
			     e == ENOENT ? RB_INVALID_CONFIG : RB_INVALID_IMAGE, "%s",
			     archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* "./blobs//sha256/x" -> "blobs/sha256/x"; NULL for names that climb out with "..". */
static char *normalize_name(const char *name)
{
	char *out = malloc(strlen(name) + 1), *o = out;
	const char *p = name;

	if (!out)
		return NULL;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);

		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* skip */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (o == out) {
				free(out);
				return NULL;
			}
			o--;
			while (o > out && o[-1] != '/')
				o--;
			if (o > out)
				o--;
		} else {
			if (o != out)
				*o++ = '/';
			memcpy(o, p, n);
			o += n;
		}
		p = *end ? end + 1 : end;
	}
	*o = '\0';
	return out;
}

/* A symlink entry's target, relative to the entry's own directory, as an entry name. */
static char *link_target(const char *entry, const char *target)
{
	_cleanup_free_ char *joined = NULL;
	const char *slash = strrchr(entry, '/');

	if (target[0] == '/')
		return normalize_name(target);
	if (asprintf(&joined, "%.*s/%s", slash ? (int)(slash - entry) : 0, entry, target) < 0)
		return NULL;
	return normalize_name(joined);
}

static int looks_like_json(const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
			continue;
		return buf[i] == '{' || buf[i] == '[';
	}
	return 0;
}

static int wants_document(const char *name)
{
	size_t n = strlen(name);

	return !strcmp(name, "oci-layout") || !strcmp(name, "repositories") ||
	       (n > 5 && !strcmp(name + n - 5, ".json")) || !strncmp(name, "blobs/", 6);
}

static int add_name(struct rb_archive_index *idx, char *name, char *link, uint64_t size)
{
	if ((idx->n_names & (idx->n_names - 1)) == 0) {
		size_t cap = idx->n_names ? idx->n_names * 2 : 16;
		char **names = realloc(idx->names, cap * sizeof(*names));
		char **links;
		uint64_t *sizes;

		if (!names)
			return -ENOMEM;
		idx->names = names;
		links = realloc(idx->links, cap * sizeof(*links));
		if (!links)
			return -ENOMEM;
		idx->links = links;
		sizes = realloc(idx->sizes, cap * sizeof(*sizes));
		if (!sizes)
			return -ENOMEM;
		idx->sizes = sizes;
	}
	idx->names[idx->n_names] = name;
	idx->links[idx->n_names] = link;
	idx->sizes[idx->n_names] = size;
	idx->n_names++;
	return 0;
}

static int add_doc(struct rb_archive_index *idx, const char *name, char *data, size_t len)
{
	struct rb_archive_doc *docs = realloc(idx->docs, (idx->n_docs + 1) * sizeof(*docs));

	if (!docs)
		return -ENOMEM;
	idx->docs = docs;
	docs[idx->n_docs].name = strdup(name);
	if (!docs[idx->n_docs].name)
		return -ENOMEM;
	docs[idx->n_docs].data = data;
	docs[idx->n_docs].len = len;
	idx->n_docs++;
	return 0;
}

static int read_exact(struct archive *a, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		la_ssize_t r = archive_read_data(a, buf + got, n - got);

		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return got == n ? 0 : -1;
}

int rb_archive_scan(const char *path, const struct rb_image_limits *limits,
		    struct rb_archive_index *idx, struct rb_error *err)
{
	_cleanup_archive_ struct archive *a = open_outer(path, err);
	struct archive_entry *entry;
	uint64_t entries = 0, doc_bytes = 0;
	int r;

	memset(idx, 0, sizeof(*idx));
	if (!a)
		return -err->errnum;
	while ((r = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
		const char *raw = archive_entry_pathname(entry);
		_cleanup_free_ char *name = NULL, *link = NULL;
		mode_t type = archive_entry_filetype(entry);
		uint64_t size = (uint64_t)archive_entry_size(entry);

		if (++entries > limits->max_archive_entries)
			return rb_error_set(err, E2BIG, RB_INVALID_IMAGE, "more than %llu entries",
					    (unsigned long long)limits->max_archive_entries);
		if (!raw || !(name = normalize_name(raw)) || !*name)
			continue; /* the root, or a name outside the archive: never looked up */
		if (type == AE_IFLNK) {
			const char *t = archive_entry_symlink(entry);

			link = t ? link_target(name, t) : NULL;
			if (!link)
				continue;
			size = 0;
		} else if (type != AE_IFREG) {
			continue;
		}
		if (type == AE_IFREG && size <= limits->max_metadata_bytes &&
		    wants_document(name)) {
			_cleanup_free_ char *buf = malloc(size + 1);
			size_t head = size < SNIFF ? size : SNIFF;

			if (!buf)
				return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR,
						    "out of memory");
			if (read_exact(a, buf, head) < 0)
				return rb_error_set(err, EIO, RB_INVALID_IMAGE, "entry %s: %s",
						    name, archive_error_string(a));
			if (looks_like_json(buf, head) || !strcmp(name, "oci-layout")) {
				if (read_exact(a, buf + head, size - head) < 0)
					return rb_error_set(err, EIO, RB_INVALID_IMAGE,
							    "entry %s: %s", name,
							    archive_error_string(a));
				buf[size] = '\0';
				doc_bytes += size;
				if (doc_bytes > 8 * limits->max_metadata_bytes)
					return rb_error_set(err, E2BIG, RB_INVALID_IMAGE,
							    "JSON documents exceed %llu bytes",
							    8ULL * limits->max_metadata_bytes);
				if (add_doc(idx, name, buf, size) < 0)
					return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR,
							    "out of memory");
				TAKE_PTR(buf);
			}
		}
		if (add_name(idx, name, link, size) < 0)
			return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
		TAKE_PTR(name);
		TAKE_PTR(link);
	}
	if (r != ARCHIVE_EOF)
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE, "not a readable tar archive: %s",
				    archive_error_string(a));
	return 0;
}

void rb_archive_index_free(struct rb_archive_index *idx)
{
	for (size_t i = 0; i < idx->n_docs; i++) {
		free(idx->docs[i].name);
		free(idx->docs[i].data);
	}
	for (size_t i = 0; i < idx->n_names; i++) {
		free(idx->names[i]);
		free(idx->links[i]);
	}
	free(idx->docs);
	free(idx->names);
	free(idx->links);
	free(idx->sizes);
	memset(idx, 0, sizeof(*idx));
}

static ssize_t find_name(const struct rb_archive_index *idx, const char *name)
{
	/* later entries win, as when tar extracts */
	for (size_t i = idx->n_names; i-- > 0;)
		if (!strcmp(idx->names[i], name))
			return (ssize_t)i;
	return -1;
}

const char *rb_archive_resolve(const struct rb_archive_index *idx, const char *name, uint64_t *size)
{
	_cleanup_free_ char *norm = normalize_name(name);
	const char *cur = norm;

	for (int hop = 0; cur && hop <= MAX_LINK_HOPS; hop++) {
		ssize_t i = find_name(idx, cur);

		if (i < 0)
			return NULL;
		if (!idx->links[i]) {
			if (size)
				*size = idx->sizes[i];
			return idx->names[i];
		}
		cur = idx->links[i];
	}
	return NULL;
}

const struct rb_archive_doc *rb_archive_doc_find(const struct rb_archive_index *idx,
						 const char *name)
{
	const char *real = rb_archive_resolve(idx, name, NULL);

	if (!real)
		return NULL;
	for (size_t i = idx->n_docs; i-- > 0;)
		if (!strcmp(idx->docs[i].name, real))
			return &idx->docs[i];
	return NULL;
}

static int copy_entry(struct archive *a, const char *entry, struct rb_archive_want *w,
		      rb_archive_copy_progress progress, void *ud, struct rb_error *err)
{
	_cleanup_close_ int fd = -1;
	struct rb_hasher h;
	const void *buf;
	size_t len;
	la_int64_t off;
	uint64_t total = 0, last = 0;
	int r;

	/* a name given twice: the later entry wins, as in the scan, so start over */
	fd = open(w->dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "create %s", w->dest);
	if (rb_hasher_init(&h, w->algo) < 0)
		return rb_error_set(err, ENOTSUP, RB_INVALID_IMAGE, "digest algorithm %s", w->algo);
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		const char *p = buf;

		if ((uint64_t)off != total) {
			rb_hasher_free(&h);
			return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
					    "entry %s: sparse blobs are not supported", entry);
		}
		rb_hasher_update(&h, buf, len);
		total += len;
		while (len > 0) {
			ssize_t n = write(fd, p, len);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				int e = errno;
				rb_hasher_free(&h);
				return rb_error_sys(
				    err, e, e == ENOSPC ? RB_RESOURCE_EXHAUSTED : RB_INTERNAL_ERROR,
				    "write %s", w->dest);
			}
			p += n;
			len -= (size_t)n;
		}
		if (progress && total - last >= (4 << 20)) {
			progress(total, ud);
			last = total;
		}
	}
	if (r != ARCHIVE_EOF) {
		rb_hasher_free(&h);
		return rb_error_set(err, EIO, RB_INVALID_IMAGE, "entry %s: %s", entry,
				    archive_error_string(a));
	}
	rb_hasher_final(&h, w->digest);
	w->size = total;
	w->found = 1;
	if (progress)
		progress(total, ud);
	return 0;
}

int rb_archive_extract(const char *path, struct rb_archive_want *wants, size_t n_wants,
		       rb_archive_copy_progress progress, void *ud, struct rb_error *err)
{
	_cleanup_archive_ struct archive *a = open_outer(path, err);
	struct archive_entry *entry;
	int r;

	if (!a)
		return -err->errnum;
	while ((r = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
		_cleanup_free_ char *name = NULL;
		const char *raw = archive_entry_pathname(entry);

		if (archive_entry_filetype(entry) != AE_IFREG || !raw ||
		    !(name = normalize_name(raw)))
			continue;
		for (size_t i = 0; i < n_wants; i++) {
			if (strcmp(wants[i].entry, name))
				continue;
			r = copy_entry(a, name, &wants[i], progress, ud, err);
			if (r < 0)
				return r;
			break;
		}
	}
	if (r != ARCHIVE_EOF)
		return rb_error_set(err, EIO, RB_INVALID_IMAGE, "%s", archive_error_string(a));
	for (size_t i = 0; i < n_wants; i++)
		if (!wants[i].found)
			return rb_error_set(err, ENOENT, RB_INVALID_IMAGE,
					    "entry %s vanished between two reads", wants[i].entry);
	return 0;
}
