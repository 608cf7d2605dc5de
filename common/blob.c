/*
 * blob: the backend table and the calls every caller makes (see blob.h).
 * A second backend is one module and one line in blob_backends.
 */
#include "blob.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "blob_fs.h"
#include "blob_s3.h"

/* Asked in order; the first that the config wants is used. */
static const struct mr_blob_ops *const blob_backends[] = {
	&mr_blob_s3_ops,
	&mr_blob_fs_ops,
};

struct mr_blob {
	const struct mr_blob_ops *ops;
	void *impl;
};

struct mr_blob_writer {
	struct mr_blob *b;
	void *impl;
};

struct mr_blob_reader {
	struct mr_blob *b;
	void *impl;
};

int
mr_blob_store_open(const struct mr_config *cfg, int create,
    struct mr_blob **out, struct mr_err *err)
{
	const struct mr_blob_ops *ops = NULL;
	struct mr_blob *b;

	for (size_t i = 0; i < sizeof(blob_backends) / sizeof(*blob_backends) &&
	    ops == NULL; i++)
		if (blob_backends[i]->wanted(cfg))
			ops = blob_backends[i];
	if (ops == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "no blob store configured");
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	b->ops = ops;
	if (ops->open(cfg, create, &b->impl, err) < 0) {
		free(b);
		return -1;
	}
	*out = b;
	return 0;
}

void
mr_blob_store_close(struct mr_blob *b)
{
	if (b == NULL)
		return;
	b->ops->close(b->impl);
	free(b);
}

int
mr_blob_begin(struct mr_blob *b, int64_t max_size, struct mr_blob_writer **w,
    struct mr_err *err)
{
	struct mr_blob_writer *bw = calloc(1, sizeof(*bw));

	if (bw == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	bw->b = b;
	if (b->ops->begin(b->impl, max_size, &bw->impl, err) < 0) {
		free(bw);
		return -1;
	}
	*w = bw;
	return 0;
}

int
mr_blob_write(struct mr_blob_writer *w, const void *buf, size_t n,
    struct mr_err *err)
{
	return w->b->ops->write(w->impl, buf, n, err);
}

int
mr_blob_commit(struct mr_blob_writer *w, char sha256_hex[MR_SHA256_HEX],
    int64_t *size, struct mr_err *err)
{
	int rc = w->b->ops->commit(w->b->impl, w->impl, sha256_hex, size, err);

	free(w);
	return rc;
}

void
mr_blob_abort(struct mr_blob_writer *w)
{
	if (w == NULL)
		return;
	w->b->ops->abort(w->impl);
	free(w);
}

int
mr_blob_put(struct mr_blob *b, const void *data, size_t len,
    char sha256_hex[MR_SHA256_HEX], struct mr_err *err)
{
	struct mr_blob_writer *w;

	if (mr_blob_begin(b, (int64_t)len, &w, err) < 0)
		return -1;
	if (mr_blob_write(w, data, len, err) < 0) {
		mr_blob_abort(w);
		return -1;
	}
	return mr_blob_commit(w, sha256_hex, NULL, err);
}

void
mr_blob_hash(const void *data, size_t len, char sha256_hex[MR_SHA256_HEX])
{
	unsigned char digest[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(digest, data, len);
	mr_hex_encode(digest, sizeof(digest), sha256_hex);
}

int
mr_blob_open(struct mr_blob *b, const char *sha256_hex,
    struct mr_blob_reader **r, int64_t *size, struct mr_err *err)
{
	struct mr_blob_reader *br = calloc(1, sizeof(*br));

	if (br == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	br->b = b;
	if (b->ops->open_read(b->impl, sha256_hex, &br->impl, size, err) < 0) {
		free(br);
		return -1;
	}
	*r = br;
	return 0;
}

ssize_t
mr_blob_read_at(struct mr_blob_reader *r, void *buf, size_t n, int64_t off,
    struct mr_err *err)
{
	return r->b->ops->read_at(r->impl, buf, n, off, err);
}

void
mr_blob_reader_close(struct mr_blob_reader *r)
{
	if (r == NULL)
		return;
	r->b->ops->close_read(r->impl);
	free(r);
}

int
mr_blob_map(struct mr_blob *b, const char *sha256_hex, struct mr_blob_map *m,
    struct mr_err *err)
{
	return b->ops->map(b->impl, sha256_hex, m, err);
}

void
mr_blob_unmap(struct mr_blob *b, struct mr_blob_map *m)
{
	b->ops->unmap(m);
}

int
mr_blob_stat(struct mr_blob *b, const char *sha256_hex, int64_t *size,
    struct mr_err *err)
{
	return b->ops->stat(b->impl, sha256_hex, size, err);
}

int
mr_blob_remove(struct mr_blob *b, const char *sha256_hex, struct mr_err *err)
{
	return b->ops->remove(b->impl, sha256_hex, err);
}

int64_t
mr_blob_walk(struct mr_blob *b, mr_blob_walk_fn fn, void *arg,
    struct mr_err *err)
{
	return b->ops->walk(b->impl, fn, arg, err);
}

int
mr_blob_locate(struct mr_blob *b, const char *sha256_hex,
    struct mr_blob_loc *loc, struct mr_err *err)
{
	return b->ops->locate(b->impl, sha256_hex, loc, err);
}

int
mr_blob_sweep(struct mr_blob *b, int64_t grace_ms, int64_t max_age_ms,
    struct mr_err *err)
{
	return b->ops->sweep(b->impl, grace_ms, max_age_ms, err);
}

int
mr_blob_redirect_url(struct mr_blob *b, const char *sha256_hex, char *url,
    size_t urlsz, struct mr_err *err)
{
	if (b->ops->redirect_url == NULL)
		return 0;
	return b->ops->redirect_url(b->impl, sha256_hex, url, urlsz, err);
}

int
mr_blob_check(struct mr_blob *b, struct mr_err *err)
{
	return b->ops->check(b->impl, err);
}

int
mr_blob_sweep_uploads(struct mr_blob *b, struct mr_blob_uploads *u,
    struct mr_err *err)
{
	if (b->ops->sweep_uploads == NULL)
		return 0;
	return b->ops->sweep_uploads(b->impl, u, err) < 0 ? -1 : 1;
}
