/*
 * log: request log lines (see log.h).
 */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "util.h"

void
mr_log_time(int64_t time_ms, char *out, size_t outsz)
{
	time_t secs = (time_t)(time_ms / 1000);
	struct tm tm;

	if (gmtime_r(&secs, &tm) == NULL) {
		snprintf(out, outsz, "-");
		return;
	}
	snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(time_ms % 1000));
}

/* One field, escaped, "-" when empty. */
static void
log_field(const char *s, char *out, size_t outsz)
{
	if (s == NULL || s[0] == '\0')
		snprintf(out, outsz, "-");
	else
		mr_log_escape(s, out, outsz);
}

static size_t
log_json(const struct mr_log_fields *f, const char *time, const char *prog,
    const char *id, const char *client, const char *user, const char *method,
    const char *path, const char *cause, char *out, size_t outsz)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;
	size_t n = 0;

	if (o != NULL &&
	    cJSON_AddStringToObject(o, "time", time) != NULL &&
	    cJSON_AddStringToObject(o, "program", prog) != NULL &&
	    cJSON_AddStringToObject(o, "id", id) != NULL &&
	    cJSON_AddStringToObject(o, "client", client) != NULL &&
	    (f->user != NULL && f->user[0] != '\0' ?
	    cJSON_AddStringToObject(o, "user", user) :
	    cJSON_AddNullToObject(o, "user")) != NULL &&
	    cJSON_AddStringToObject(o, "method", method) != NULL &&
	    cJSON_AddStringToObject(o, "path", path) != NULL &&
	    cJSON_AddNumberToObject(o, "status", f->status) != NULL &&
	    cJSON_AddNumberToObject(o, "bytes", (double)f->bytes) != NULL &&
	    cJSON_AddNumberToObject(o, "duration_ms",
	    (double)f->duration_ms) != NULL &&
	    (f->cause != NULL && f->cause[0] != '\0' ?
	    cJSON_AddStringToObject(o, "error", cause) :
	    cJSON_AddNullToObject(o, "error")) != NULL)
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (outsz == 0)
		return 0;
	/* A line cut short would not parse: out of room, say so instead. */
	if (s == NULL || (n = strlen(s)) >= outsz)
		n = (size_t)snprintf(out, outsz,
		    "{\"program\":\"%s\",\"error\":\"log line too long\"}", prog);
	else
		memcpy(out, s, n + 1);
	free(s);
	return n < outsz ? n : outsz - 1;
}

size_t
mr_log_format_line(const struct mr_log_fields *f, enum mr_log_format format,
    char *out, size_t outsz)
{
	char time[32], prog[64], id[40], client[80], user[300], method[40];
	char path[512], cause[300];
	int n;

	mr_log_time(f->time_ms, time, sizeof(time));
	log_field(f->program, prog, sizeof(prog));
	log_field(f->id, id, sizeof(id));
	log_field(f->client, client, sizeof(client));
	log_field(f->user, user, sizeof(user));
	log_field(f->method, method, sizeof(method));
	log_field(f->path, path, sizeof(path));
	mr_log_escape(f->cause, cause, sizeof(cause));
	if (format == MR_LOG_JSON)
		return log_json(f, time, prog, id, client, user, method, path,
		    cause, out, outsz);
	if (outsz == 0)
		return 0;
	n = snprintf(out, outsz,
	    "mediarepo %s %s: %s %s %d %lld %lldms time=%s client=%s user=%s%s%s",
	    prog, id, method, path, f->status, (long long)f->bytes,
	    (long long)f->duration_ms, time, client, user,
	    cause[0] ? " " : "", cause);
	if (n < 0)
		return 0;
	return (size_t)n < outsz ? (size_t)n : outsz - 1;
}

size_t
mr_log_format_admin(const struct mr_log_admin *a, enum mr_log_format format,
    char *out, size_t outsz)
{
	char time[32], prog[64], id[40], user[300], action[64], target[600];
	cJSON *o;
	char *s = NULL;
	int n;

	if (outsz == 0)
		return 0;
	mr_log_time(a->time_ms, time, sizeof(time));
	log_field(a->program, prog, sizeof(prog));
	log_field(a->id, id, sizeof(id));
	log_field(a->user, user, sizeof(user));
	log_field(a->action, action, sizeof(action));
	log_field(a->target, target, sizeof(target));
	if (format != MR_LOG_JSON) {
		n = snprintf(out, outsz, "mediarepo %s %s: admin %s %s %s "
		    "count=%lld time=%s", prog, id, user, action, target,
		    (long long)a->count, time);
		if (n < 0)
			return 0;
		return (size_t)n < outsz ? (size_t)n : outsz - 1;
	}
	if ((o = cJSON_CreateObject()) != NULL &&
	    cJSON_AddStringToObject(o, "time", time) != NULL &&
	    cJSON_AddStringToObject(o, "program", prog) != NULL &&
	    cJSON_AddStringToObject(o, "id", id) != NULL &&
	    cJSON_AddStringToObject(o, "admin", user) != NULL &&
	    cJSON_AddStringToObject(o, "action", action) != NULL &&
	    cJSON_AddStringToObject(o, "target", target) != NULL &&
	    cJSON_AddNumberToObject(o, "count", (double)a->count) != NULL)
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s == NULL || strlen(s) >= outsz)
		n = snprintf(out, outsz, "{\"program\":\"%s\",\"error\":"
		    "\"log line too long\"}", prog);
	else
		n = snprintf(out, outsz, "%s", s);
	free(s);
	if (n < 0)
		return 0;
	return (size_t)n < outsz ? (size_t)n : outsz - 1;
}
