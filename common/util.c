/*
 * util: error records and the small pure helpers described in util.h.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

int
mr_err_set(struct mr_err *err, int status, const char *errcode,
    const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->status = status;
	err->errcode = errcode;
	err->soft_logout = 0;
	err->remote_down = 0;
	err->retry_after_ms = 0;
	err->limit_name = NULL;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int
mr_err_storage_full(struct mr_err *err)
{
	return mr_err_set(err, 500, "M_UNKNOWN", "%s", MR_STORAGE_FULL_MSG);
}

void
mr_err_clear(struct mr_err *err)
{
	err->status = 0;
	err->errcode = NULL;
	err->msg[0] = '\0';
	err->soft_logout = 0;
}

int64_t
mr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
mr_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
mr_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	const char *p = s;
	int neg = 0;
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (!isdigit((unsigned char)*p))
		return -1;
	for (; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		/* Stop before overflow: no value we accept needs 19 digits. */
		if (v > (UINT64_C(1) << 62) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	int64_t sv = neg ? -(int64_t)v : (int64_t)v;
	if (sv < min || sv > max)
		return -1;
	*out = sv;
	return 0;
}

/* Splits "123abc" into 123 and "abc"; the number part must be non-empty. */
static int
util_split_number(const char *s, int64_t *num, const char **unit)
{
	char digits[24];
	size_t n = 0;

	while (isdigit((unsigned char)s[n])) {
		if (n + 1 >= sizeof(digits))
			return -1;
		digits[n] = s[n];
		n++;
	}
	if (n == 0)
		return -1;
	digits[n] = '\0';
	if (mr_parse_int64(digits, 0, INT64_C(1) << 52, num) < 0)
		return -1;
	*unit = s + n;
	return 0;
}

static int
util_scale(int64_t v, int64_t mult, int64_t *out)
{
	if (v > (INT64_C(1) << 62) / mult)
		return -1;
	*out = v * mult;
	return 0;
}

int
mr_parse_size(const char *s, int64_t *out)
{
	int64_t v;
	const char *unit;

	if (s == NULL || util_split_number(s, &v, &unit) < 0)
		return -1;
	if (*unit == '\0')
		return util_scale(v, 1, out);
	if (unit[1] != '\0' && strcasecmp(unit + 1, "b") != 0)
		return -1;
	switch (toupper((unsigned char)unit[0])) {
	case 'K': return util_scale(v, INT64_C(1) << 10, out);
	case 'M': return util_scale(v, INT64_C(1) << 20, out);
	case 'G': return util_scale(v, INT64_C(1) << 30, out);
	case 'T': return util_scale(v, INT64_C(1) << 40, out);
	default: return -1;
	}
}

int
mr_parse_duration_ms(const char *s, int64_t *out)
{
	static const struct { const char *unit; int64_t ms; } units[] = {
		{ "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 }, { "w", 604800000 },
		{ "y", INT64_C(31536000000) },
	};
	int64_t v;
	const char *unit;

	if (s == NULL || util_split_number(s, &v, &unit) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(unit, units[i].unit) == 0)
			return util_scale(v, units[i].ms, out);
	return -1;
}

int
mr_parse_bool(const char *s, int *out)
{
	static const char *yes[] = { "true", "yes", "on", "1" };
	static const char *no[] = { "false", "no", "off", "0" };

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int
mr_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t need;
		uint32_t cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			need = 1;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			need = 2;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			need = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i <= need)
			return 0;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += need + 1;
	}
	return 1;
}

void
mr_hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xF];
	}
	out[2 * n] = '\0';
}

int
mr_is_lower_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[i] == '\0';
}

void
mr_random_id(char *out, size_t len)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

	/* 64 symbols: uniform_random(64) has no modulo bias. */
	for (size_t i = 0; i < len; i++)
		out[i] = alphabet[randombytes_uniform(64)];
	out[len] = '\0';
}

const char *
mr_skip_prefix_ci(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncasecmp(s, prefix, n) != 0)
		return NULL;
	return s + n;
}

void
mr_log_escape(const char *src, char *out, size_t outsz)
{
	size_t o = 0;

	if (outsz == 0)
		return;
	for (; src != NULL && *src != '\0'; src++) {
		unsigned char c = (unsigned char)*src;

		if (c >= 0x20 && c < 0x7F && c != '\\') {
			if (o + 1 >= outsz)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 >= outsz)
				break;
			snprintf(out + o, outsz - o, "\\x%02x", c);
			o += 4;
		}
	}
	out[o] = '\0';
}

static int
util_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

ssize_t
mr_pct_decode(const char *src, size_t len, char *dst, int plus_space)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = src[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = util_hexval((unsigned char)src[i + 1]);
			lo = util_hexval((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		/* No control character has a use in a path or query here, and
		 * refusing them all keeps them out of headers and logs. */
		if ((unsigned char)c < 0x20 || c == 0x7F)
			return -1;
		dst[o++] = c;
	}
	dst[o] = '\0';
	return (ssize_t)o;
}
