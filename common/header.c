/*
 * header: the media header values we parse and build (see header.h). Pure
 * string work, shared by the serving layer and the outbound clients.
 */
#include "header.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "store.h"
#include "util.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int
mr_header_filename_ok(const char *s)
{
	size_t n = strlen(s);

	if (n > MR_UPLOAD_NAME_MAX || !mr_utf8_valid(s, n))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
			return 0;
	return 1;
}

/* spec.md 2.7: the only types a browser may render inline. */
static const char *const header_inline_types[] = {
	"text/css", "text/plain", "text/csv", "application/json",
	"application/ld+json", "image/jpeg", "image/gif", "image/png",
	"image/apng", "image/webp", "image/avif", "video/mp4", "video/webm",
	"video/ogg", "video/quicktime", "audio/mp4", "audio/webm", "audio/aac",
	"audio/mpeg", "audio/ogg", "audio/wave", "audio/wav", "audio/x-wav",
	"audio/x-pn-wav", "audio/flac", "audio/x-flac",
};

/* RFC 9110 5.6.2 tchar, spelt out so no locale widens it. */
static int
header_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static size_t
header_token_len(const char *s)
{
	size_t n = 0;

	while (header_tchar((unsigned char)s[n]))
		n++;
	return n;
}

/*
 * Length of the quoted-string s opens (s[0] is '"'), or 0 when it is not
 * one. obs-text is refused with the other non-ASCII: we store and send
 * back printable ASCII only.
 */
static size_t
header_quoted_len(const char *s)
{
	size_t n = 1;

	for (;;) {
		unsigned char c = (unsigned char)s[n];

		if (c == '"')
			return n + 1;
		if (c == '\\') {
			c = (unsigned char)s[++n];
			if (c != '\t' && (c < 0x20 || c > 0x7E))
				return 0;
		} else if (c != '\t' && (c < 0x20 || c > 0x7E)) {
			return 0;	/* also the NUL of an open string */
		}
		n++;
	}
}

int
mr_header_media_type(const char *value, char *essence, size_t essence_sz)
{
	const char *p = value;
	size_t t, st, n;

	if (value == NULL || (t = header_token_len(p)) == 0 || p[t] != '/' ||
	    (st = header_token_len(p + t + 1)) == 0)
		return -1;
	p += t + 1 + st;
	while (*p != '\0') {
		p += strspn(p, " \t");
		/* Anything but ';' here, a ',' above all, makes a second
		 * type, which a browser may read in place of the first. */
		if (*p++ != ';')
			return -1;
		p += strspn(p, " \t");
		if ((n = header_token_len(p)) == 0)
			continue;	/* an empty parameter: ";;" or a final ";" */
		if (p[n] != '=')
			return -1;
		p += n + 1;
		n = *p == '"' ? header_quoted_len(p) : header_token_len(p);
		if (n == 0)
			return -1;
		p += n;
	}
	if (essence != NULL) {
		if (t + 1 + st >= essence_sz)
			return -1;
		for (size_t i = 0; i < t + 1 + st; i++)
			essence[i] = (char)tolower((unsigned char)value[i]);
		essence[t + 1 + st] = '\0';
	}
	return 0;
}

int
mr_header_content_type_clean(const char *value, char *out, size_t outsz)
{
	size_t n;

	if (value == NULL)
		return -1;
	value += strspn(value, " \t");
	n = strlen(value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	if (n == 0 || n > MR_CONTENT_TYPE_MAX || n >= outsz)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (value[i] < 0x20 || value[i] > 0x7E)
			return -1;
	memmove(out, value, n);	/* out may be value itself */
	out[n] = '\0';
	return 0;
}

int
mr_header_inline_safe(const char *content_type)
{
	char essence[MR_CONTENT_TYPE_MAX + 1];

	if (mr_header_media_type(content_type, essence, sizeof(essence)) < 0)
		return 0;
	for (size_t i = 0; i < NELEM(header_inline_types); i++)
		if (strcmp(header_inline_types[i], essence) == 0)
			return 1;
	return 0;
}

/* RFC 8187 attr-char: what may stand unescaped in filename*. */
static int
header_attr_char(unsigned char c)
{
	return isalnum(c) || (c != 0 && strchr("!#$&+-.^_`|~", c) != NULL);
}

int
mr_header_content_disposition(const char *content_type, int force_inline,
    const char *filename, char *out, size_t outsz)
{
	const char *kind = (force_inline || mr_header_inline_safe(content_type)) ?
	    "inline" : "attachment";
	size_t o;
	int plain = 1;

	if ((o = (size_t)snprintf(out, outsz, "%s", kind)) >= outsz)
		return -1;
	if (filename == NULL || filename[0] == '\0')
		return 0;
	/* Printable ASCII without quote or backslash fits a quoted-string
	 * every client reads; anything else goes percent-encoded in UTF-8. */
	for (const char *p = filename; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7E || *p == '"' || *p == '\\')
			plain = 0;
	if (plain) {
		size_t n = (size_t)snprintf(out + o, outsz - o, "; filename=\"%s\"",
		    filename);
		return n >= outsz - o ? -1 : 0;
	}
	if (o + 19 >= outsz)
		return -1;
	memcpy(out + o, "; filename*=utf-8''", 19);
	o += 19;
	for (const unsigned char *p = (const unsigned char *)filename; *p; p++) {
		if (o + (header_attr_char(*p) ? 1 : 3) >= outsz)
			return -1;
		if (header_attr_char(*p))
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, outsz - o, "%%%02X", *p);
	}
	out[o] = '\0';
	return 0;
}

/* Finds parameter name= in a header value, outside quoted strings. */
static const char *
header_find_param(const char *value, const char *name)
{
	size_t n = strlen(name);
	int quoted = 0;

	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '\\' && quoted && p[1] != '\0')
			p++;
		else if (!quoted && (p == value || p[-1] == ';' || p[-1] == ' ' ||
		    p[-1] == '\t') && strncasecmp(p, name, n) == 0)
			return p + n;
	}
	return NULL;
}

int
mr_header_disposition_filename(const char *value, char *out, size_t outsz)
{
	const char *p;
	size_t o = 0;

	if (value == NULL || outsz == 0)
		return -1;
	if ((p = header_find_param(value, "filename*=")) != NULL) {
		const char *q = strchr(p, '\'');
		/* Encoded, a name may take three times the room it needs. */
		char name[3 * MR_UPLOAD_NAME_MAX + 1];
		ssize_t n;

		/* charset'language'percent-encoded; we read UTF-8 only. */
		if (strncasecmp(p, "utf-8'", 6) == 0 && q != NULL &&
		    (q = strchr(q + 1, '\'')) != NULL) {
			size_t len = strcspn(q + 1, "; \t");

			if (len < sizeof(name) &&
			    (n = mr_pct_decode(q + 1, len, name, 0)) > 0 &&
			    (size_t)n < outsz && mr_header_filename_ok(name)) {
				memcpy(out, name, (size_t)n + 1);
				return 0;
			}
		}
	}
	if ((p = header_find_param(value, "filename=")) == NULL)
		return -1;
	if (*p == '"') {
		for (p++; *p != '\0' && *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (o + 1 >= outsz)
				return -1;
			out[o++] = *p;
		}
		if (*p != '"')
			return -1;
	} else {
		size_t len = strcspn(p, "; \t");

		if (len >= outsz)
			return -1;
		memcpy(out, p, len);
		o = len;
	}
	out[o] = '\0';
	return (o > 0 && mr_header_filename_ok(out)) ? 0 : -1;
}
