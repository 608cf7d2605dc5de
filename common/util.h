/*
 * util: the error record every common/ function fills, and small pure helpers
 * (numbers, sizes, durations, UTF-8, hex, random ids, time) that several
 * modules need. Nothing here allocates or keeps state.
 */
#ifndef MR_UTIL_H
#define MR_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A failure as the client will see it: HTTP status, Matrix errcode and a
 * lowercase message. Library code fills it and returns -1; only the serve
 * loop (or a tool's main) turns it into output.
 */
struct mr_err {
	int status;
	const char *errcode;
	char msg[256];
	int soft_logout;	/* 401 M_UNKNOWN_TOKEN: add "soft_logout": true */
	int remote_down;	/* a remote server did not answer at all */
	int64_t retry_after_ms;	/* 429: sent as retry_after_ms and Retry-After */
	const char *limit_name;	/* 429: which limit refused, for the log */
};

/*
 * The one answer to a full disk, whoever meets it first: a program writing
 * media or the database, or the web server spooling a body (its 500 page,
 * httpd-conf/errors/status-500.html, carries the same text). 500, as the
 * web servers cannot answer anything else there.
 */
#define MR_STORAGE_FULL_MSG \
	"internal error, or the server is out of storage space; try again later"
/* errno (ENOSPC, EDQUOT) or SQLite's "full": the disk is full. */
int mr_err_storage_full(struct mr_err *err);

/* Fills err and returns -1, so callers can `return mr_err_set(...)`. */
int mr_err_set(struct mr_err *err, int status, const char *errcode,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void mr_err_clear(struct mr_err *err);

/* Milliseconds since the epoch, and a monotonic clock for durations. */
int64_t mr_now_ms(void);
int64_t mr_mono_ms(void);

/*
 * Strict decimal parse of the whole string into [min, max]; no sign other
 * than a leading '-', no spaces, no trailing bytes. Magnitudes past 2^62
 * are refused whatever the range: nothing we read needs them, and it
 * keeps the overflow check simple. Returns 0 or -1.
 */
int mr_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);
/* "50M", "512K", "1G", "1048576"; binary multiples, as Synapse reads them. */
int mr_parse_size(const char *s, int64_t *out);
/* "24h", "30m", "10s", "500ms", "7d", or plain milliseconds. */
int mr_parse_duration_ms(const char *s, int64_t *out);
/* true/false/yes/no/on/off/1/0, any case. */
int mr_parse_bool(const char *s, int *out);

/* Whole-buffer UTF-8 check: shortest forms only, no surrogates, no NUL. */
int mr_utf8_valid(const char *s, size_t len);

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void mr_hex_encode(const unsigned char *in, size_t n, char *out);
/* 1 when s is exactly len lowercase hex digits. */
int mr_is_lower_hex(const char *s, size_t len);

/*
 * Random string from the URL-safe base64 alphabet [A-Za-z0-9_-], the media
 * id alphabet of the spec; len characters plus a NUL into out.
 */
void mr_random_id(char *out, size_t len);

/* ASCII case-insensitive prefix test; returns the rest of s or NULL. */
const char *mr_skip_prefix_ci(const char *s, const char *prefix);

/*
 * Copies src into a log-safe form: control and non-ASCII bytes become
 * \xNN, so a client cannot forge log lines. Always NUL-terminates.
 */
void mr_log_escape(const char *src, char *out, size_t outsz);

/*
 * Percent-decodes len bytes of src into dst (NUL-terminated). plus_space
 * turns '+' into ' ' (query strings). Returns the decoded length, or -1
 * for a bad escape or a control character (raw or decoded).
 */
ssize_t mr_pct_decode(const char *src, size_t len, char *dst,
    int plus_space);

#endif
