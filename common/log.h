/*
 * log: the one line each request leaves on stderr, as text or as JSON
 * (log_format). A pure formatter, so the serve loop only gathers fields.
 */
#ifndef MR_LOG_H
#define MR_LOG_H

#include <stddef.h>
#include <stdint.h>

enum mr_log_format {
	MR_LOG_TEXT,
	MR_LOG_JSON,
};

/* What one request line says. NULL or "" strings are logged as "-". */
struct mr_log_fields {
	int64_t time_ms;	/* wall clock, ms since the epoch (UTC) */
	const char *program;
	const char *id;		/* request id, as in X-Request-Id */
	const char *client;	/* mr_req_client_addr */
	const char *user;	/* user id (or federation origin) once authenticated */
	const char *method;
	const char *path;	/* never the query string: it may hold a token */
	int status;
	int64_t bytes;
	int64_t duration_ms;
	const char *cause;	/* why it failed, "" when it did not */
};

/*
 * Writes the line, without its newline, into out. Strings are escaped
 * (text: non-printable bytes and backslashes as \xHH; JSON: as cJSON
 * escapes them, after the same \xHH escaping so the line stays ASCII).
 * Text keeps the shape "mediarepo PROGRAM ID: METHOD PATH STATUS BYTES
 * DURATIONms" that tools parse, then "time= client= user=", then the
 * cause. A line longer than out is cut. Returns its length.
 */
size_t mr_log_format_line(const struct mr_log_fields *f,
    enum mr_log_format format, char *out, size_t outsz);

/* time_ms as 2026-01-02T03:04:05.678Z into out (at least 25 bytes). */
void mr_log_time(int64_t time_ms, char *out, size_t outsz);

/* What one admin action did, for its log line. */
struct mr_log_admin {
	int64_t time_ms;
	const char *program;
	const char *id;		/* request id */
	const char *user;	/* the admin */
	const char *action;	/* "quarantine", "delete_media", ... */
	const char *target;	/* mxc URI, user or room id, "-" for none */
	int64_t count;		/* media it changed (or listed) */
};

/*
 * The line an admin action leaves besides the request line, so who did
 * what to which media is on record: text "mediarepo PROGRAM ID: admin
 * USER ACTION TARGET count=N time=..." or a JSON object with the keys
 * time program id admin action target count. Escaped as request lines
 * are; returns the length written (without a newline).
 */
size_t mr_log_format_admin(const struct mr_log_admin *a,
    enum mr_log_format format, char *out, size_t outsz);

#endif
