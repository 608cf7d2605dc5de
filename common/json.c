/*
 * json: Matrix error bodies, printing, strict parsing and canonical JSON
 * (see json.h).
 */
#include "json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
mr_json_error_body(const struct mr_err *err)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	if (o == NULL)
		return NULL;
	if (cJSON_AddStringToObject(o, "errcode",
	    err->errcode ? err->errcode : "M_UNKNOWN") != NULL &&
	    cJSON_AddStringToObject(o, "error", err->msg) != NULL &&
	    (!err->soft_logout ||
	    cJSON_AddTrueToObject(o, "soft_logout") != NULL) &&
	    (err->retry_after_ms <= 0 || cJSON_AddNumberToObject(o,
	    "retry_after_ms", (double)err->retry_after_ms) != NULL))
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

char *
mr_json_print(const cJSON *obj)
{
	return cJSON_PrintUnformatted(obj);
}

/* --- canonical JSON --- */

/* Growing output buffer; oom sticks so callers check once at the end. */
struct json_buf {
	char *p;
	size_t len;
	size_t cap;
	int oom;
};

static void
json_buf_put(struct json_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (n >= b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (n >= cap - b->len) {
			if (cap > SIZE_MAX / 2) {
				b->oom = 1;
				return;
			}
			cap *= 2;
		}
		if ((np = realloc(b->p, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
json_buf_putc(struct json_buf *b, char c)
{
	json_buf_put(b, &c, 1);
}

/* A client-supplied key or value, shortened and escaped for a message. */
static const char *
json_quote(const char *s, char *out, size_t outsz)
{
	char cut[48];

	snprintf(cut, sizeof(cut), "%s", s);
	mr_log_escape(cut, out, outsz);
	return out;
}

static int
json_key_cmp(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a;
	const cJSON *y = *(const cJSON *const *)b;

	/* strcmp compares as unsigned char: UTF-8 byte order is code point order. */
	return strcmp(x->string, y->string);
}

/*
 * The members of object v sorted by key, in a malloc'ed array (NULL when
 * empty); refuses keyless members and duplicates.
 */
static int
json_sorted_members(const cJSON *v, const cJSON ***out, size_t *n,
    struct mr_err *err)
{
	const cJSON **m;
	const cJSON *c;
	size_t i = 0, count = 0;
	char q[160];

	*out = NULL;
	for (c = v->child; c != NULL; c = c->next)
		count++;
	*n = count;
	if (count == 0)
		return 0;
	if ((m = malloc(count * sizeof(*m))) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	for (c = v->child; c != NULL; c = c->next) {
		if (c->string == NULL) {
			free(m);
			return mr_err_set(err, 400, "M_BAD_JSON",
			    "object member without a key");
		}
		m[i++] = c;
	}
	qsort(m, count, sizeof(*m), json_key_cmp);
	for (i = 1; i < count; i++)
		if (strcmp(m[i - 1]->string, m[i]->string) == 0) {
			json_quote(m[i]->string, q, sizeof(q));
			free(m);
			return mr_err_set(err, 400, "M_BAD_JSON",
			    "duplicate key '%s'", q);
		}
	*out = m;
	return 0;
}

static int
json_canon_string(struct json_buf *b, const char *s, struct mr_err *err)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(s), run = 0;

	/* The signature is over bytes; invalid UTF-8 has no code point order. */
	if (!mr_utf8_valid(s, n))
		return mr_err_set(err, 400, "M_BAD_JSON",
		    "string is not valid UTF-8");
	json_buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 'u', '0', '0', 0, 0 };
		size_t elen = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		json_buf_put(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\t': esc[1] = 't'; break;
		case '\n': esc[1] = 'n'; break;
		case '\f': esc[1] = 'f'; break;
		case '\r': esc[1] = 'r'; break;
		default:
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xF];
			elen = 6;
		}
		json_buf_put(b, esc, elen);
	}
	json_buf_put(b, s + run, n - run);
	json_buf_putc(b, '"');
	return 0;
}

static int
json_canon_number(struct json_buf *b, double d, struct mr_err *err)
{
	char num[24];
	int n;

	/* Written so that NaN fails too; the range check makes the cast safe. */
	if (!(d >= -(double)MR_JSON_INT_MAX && d <= (double)MR_JSON_INT_MAX) ||
	    (double)(int64_t)d != d)
		return mr_err_set(err, 400, "M_BAD_JSON",
		    "numbers must be integers within +-(2^53 - 1)");
	/* -0 casts to 0, which is what the spec wants printed. */
	n = snprintf(num, sizeof(num), "%" PRId64, (int64_t)d);
	json_buf_put(b, num, (size_t)n);
	return 0;
}

static int json_canon_value(struct json_buf *b, const cJSON *v, size_t depth,
    int for_signing, struct mr_err *err);

static int
json_canon_object(struct json_buf *b, const cJSON *v, size_t depth,
    int for_signing, struct mr_err *err)
{
	const cJSON **m;
	size_t n, i;
	int first = 1, rc = 0;

	if (json_sorted_members(v, &m, &n, err) < 0)
		return -1;
	json_buf_putc(b, '{');
	for (i = 0; i < n && rc == 0; i++) {
		if (for_signing && (strcmp(m[i]->string, "signatures") == 0 ||
		    strcmp(m[i]->string, "unsigned") == 0))
			continue;
		if (!first)
			json_buf_putc(b, ',');
		first = 0;
		if ((rc = json_canon_string(b, m[i]->string, err)) == 0) {
			json_buf_putc(b, ':');
			rc = json_canon_value(b, m[i], depth + 1, 0, err);
		}
	}
	json_buf_putc(b, '}');
	free(m);
	return rc;
}

static int
json_canon_value(struct json_buf *b, const cJSON *v, size_t depth,
    int for_signing, struct mr_err *err)
{
	const cJSON *c;

	/*
	 * Each container level is a stack frame and a hand-built tree has no
	 * parse limit. Scalars do not count, as in cJSON's own limit.
	 */
	if (depth > MR_JSON_DEPTH_MAX && (cJSON_IsArray(v) || cJSON_IsObject(v)))
		return mr_err_set(err, 400, "M_BAD_JSON", "nested too deeply");
	switch (v->type & 0xFF) {
	case cJSON_NULL:
		json_buf_put(b, "null", 4);
		return 0;
	case cJSON_False:
		json_buf_put(b, "false", 5);
		return 0;
	case cJSON_True:
		json_buf_put(b, "true", 4);
		return 0;
	case cJSON_Number:
		return json_canon_number(b, v->valuedouble, err);
	case cJSON_String:
		if (v->valuestring == NULL)
			break;
		return json_canon_string(b, v->valuestring, err);
	case cJSON_Array:
		json_buf_putc(b, '[');
		for (c = v->child; c != NULL; c = c->next) {
			if (c != v->child)
				json_buf_putc(b, ',');
			if (json_canon_value(b, c, depth + 1, 0, err) < 0)
				return -1;
		}
		json_buf_putc(b, ']');
		return 0;
	case cJSON_Object:
		return json_canon_object(b, v, depth, for_signing, err);
	default:
		break;
	}
	/* cJSON_Raw and cJSON_Invalid: nothing the spec can encode. */
	return mr_err_set(err, 400, "M_BAD_JSON", "value cannot be encoded");
}

static int
json_canonical(const cJSON *v, int for_signing, char **out, size_t *len,
    struct mr_err *err)
{
	struct json_buf b = { NULL, 0, 0, 0 };

	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (v == NULL)
		return mr_err_set(err, 400, "M_BAD_JSON", "no value");
	if (json_canon_value(&b, v, 1, for_signing, err) < 0) {
		free(b.p);
		return -1;
	}
	if (b.oom) {
		free(b.p);
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	}
	*out = b.p;
	if (len != NULL)
		*len = b.len;
	return 0;
}

int
mr_json_canonical(const cJSON *v, char **out, size_t *len,
    struct mr_err *err)
{
	return json_canonical(v, 0, out, len, err);
}

int
mr_json_canonical_for_signing(const cJSON *v, char **out, size_t *len,
    struct mr_err *err)
{
	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (!cJSON_IsObject(v))
		return mr_err_set(err, 400, "M_BAD_JSON",
		    "only objects can be signed");
	return json_canonical(v, 1, out, len, err);
}

/* --- strict parsing --- */

static int
json_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Length of the RFC 8259 number at s (at most n bytes), or 0 when it is
 * malformed. cJSON hands anything made of [0-9.eE+-] to strtod, which
 * takes "01", "1." and "-.5".
 */
static size_t
json_scan_number(const char *s, size_t n)
{
	size_t i = 0, d;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && json_is_digit(s[i]))
		while (i < n && json_is_digit(s[i]))
			i++;
	else
		return 0;
	if (i < n && s[i] == '.') {
		for (d = ++i; i < n && json_is_digit(s[i]); i++)
			;
		if (i == d)
			return 0;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = i; i < n && json_is_digit(s[i]); i++)
			;
		if (i == d)
			return 0;
	}
	/* "01" or "1.2.3": the next byte must not continue a number. */
	if (i < n && (json_is_digit(s[i]) || s[i] == '.'))
		return 0;
	return i;
}

/*
 * One pass over the raw bytes before cJSON sees them, so its recursion is
 * bounded by max_depth and what it accepts too loosely never gets in.
 */
static int
json_prescan(const char *s, size_t n, size_t max_depth, struct mr_err *err)
{
	size_t depth = 0, i = 0, k;
	int in_str = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (c == 0)
			return mr_err_set(err, 400, "M_NOT_JSON", "NUL byte in JSON");
		if (in_str) {
			if (c == '"')
				in_str = 0;
			else if (c < 0x20)
				return mr_err_set(err, 400, "M_NOT_JSON",
				    "control character in string");
			else if (c == '\\' && i + 5 < n && s[i + 1] == 'u' &&
			    memcmp(s + i + 2, "0000", 4) == 0)
				return mr_err_set(err, 400, "M_BAD_JSON",
				    "\\u0000 in string is not supported");
			else if (c == '\\')
				i++;	/* the escaped byte; cJSON checks what it is */
			i++;
			continue;
		}
		if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return mr_err_set(err, 400, "M_BAD_JSON",
				    "JSON nested deeper than %zu", max_depth);
		} else if (c == ']' || c == '}') {
			if (depth > 0)
				depth--;
		} else if (c == '-' || json_is_digit((char)c)) {
			if ((k = json_scan_number(s + i, n - i)) == 0)
				return mr_err_set(err, 400, "M_NOT_JSON",
				    "malformed number");
			i += k;
			continue;
		}
		i++;
	}
	return 0;
}

/* Every key and string valid UTF-8, no duplicate keys; depth is bounded. */
static int
json_check_tree(const cJSON *v, struct mr_err *err)
{
	const cJSON **m;
	const cJSON *c;
	size_t n;

	if (cJSON_IsString(v) && !mr_utf8_valid(v->valuestring,
	    strlen(v->valuestring)))
		return mr_err_set(err, 400, "M_NOT_JSON",
		    "string is not valid UTF-8");
	if (cJSON_IsObject(v)) {
		if (json_sorted_members(v, &m, &n, err) < 0)
			return -1;
		free(m);
	}
	for (c = v->child; c != NULL; c = c->next) {
		if (c->string != NULL && !mr_utf8_valid(c->string,
		    strlen(c->string)))
			return mr_err_set(err, 400, "M_NOT_JSON",
			    "key is not valid UTF-8");
		if (json_check_tree(c, err) < 0)
			return -1;
	}
	return 0;
}

cJSON *
mr_json_parse_strict(const char *buf, size_t len, size_t max_depth,
    struct mr_err *err)
{
	const char *end = NULL;
	cJSON *v;

	if (json_prescan(buf, len, max_depth, err) < 0)
		return NULL;
	/*
	 * cJSON's require_null_terminated fails when the NUL is not counted
	 * in the length, so check what follows the value here instead.
	 */
	v = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (v == NULL) {
		/* cJSON does not tell running out of memory from bad syntax. */
		mr_err_set(err, 400, "M_NOT_JSON", "invalid JSON");
		return NULL;
	}
	for (; end < buf + len; end++)
		if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
			cJSON_Delete(v);
			mr_err_set(err, 400, "M_NOT_JSON", "data after JSON value");
			return NULL;
		}
	if (json_check_tree(v, err) < 0) {
		cJSON_Delete(v);
		return NULL;
	}
	return v;
}
