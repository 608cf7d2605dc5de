/*
 * multipart: multipart/mixed for federation media (see multipart.h).
 */
#include "multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * The delimiter text we look for: "\r\n--" B, then "--" for the close
 * delimiter. A match may begin at the CR, at the LF, or (start of input,
 * start of a part body) at the first '-'.
 */
#define MP_PAT_MAX (4 + MR_MULTIPART_BOUNDARY_MAX + 2 + 1)
#define MP_AT_CR 0
#define MP_AT_LF 1
#define MP_AT_DASH 2

enum mp_state {
	MP_SCAN,	/* preamble or part body: looking for a delimiter */
	MP_DELIM_PAD,	/* after "--B" and a blank: padding, then EOL */
	MP_DELIM_CR,	/* after "--B" ... CR: LF must follow */
	MP_HEADERS,
	MP_AFTER_LAST,	/* delimiter line after part 2: input must end */
	MP_EPILOGUE,	/* after the close delimiter: ignored */
	MP_FAILED
};

struct mr_multipart_parser {
	struct mr_multipart_handler h;
	enum mp_state state;
	int part;		/* 0 preamble, 1 metadata, 2 media, 3 past */
	char pat[MP_PAT_MAX];
	size_t blen;
	/*
	 * The delimiter match in progress: the input's last bytes equal
	 * pat[mstart, mend). As they are known text, they need no buffer;
	 * on a mismatch they are handed on from pat.
	 */
	int matching;
	size_t mstart;
	size_t mend;
	char line[MR_MULTIPART_HEADER_MAX + 1];
	size_t line_len;
	size_t hdr_total;	/* bytes of this header block so far */
	int hdr_cr;		/* the last header byte was CR */
	char json[MR_MULTIPART_JSON_MAX + 1];
	size_t json_len;
};

static int
mp_malformed(struct mr_multipart_parser *p, const char *what,
    struct mr_err *err)
{
	p->state = MP_FAILED;
	return mr_err_set(err, 502, "M_UNKNOWN", "malformed multipart: %s",
	    what);
}

/* A callback failed: its err stays as it filled it. */
static int
mp_cb_failed(struct mr_multipart_parser *p)
{
	p->state = MP_FAILED;
	return -1;
}

/* RFC 2046 bchars: DIGIT / ALPHA / "'()+_,-./:=? " */
static int
mp_is_bchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z') || (c != '\0' && strchr("'()+_,-./:=? ",
	    c) != NULL);
}

/* 1 to 70 bchars, not ending in a space (RFC 2046 5.1.1). */
static int
mp_boundary_valid(const char *b)
{
	size_t n = strlen(b);

	if (n == 0 || n > MR_MULTIPART_BOUNDARY_MAX || b[n - 1] == ' ')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!mp_is_bchar((unsigned char)b[i]))
			return 0;
	return 1;
}

/* RFC 9110 tchar. */
static int
mp_is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
mp_is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* --- writer --- */

void
mr_multipart_boundary(char out[MR_MULTIPART_BOUNDARY_LEN + 1])
{
	/*
	 * We stream the media and cannot scan it for the boundary first.
	 * 32 random characters of 62 (about 190 bits) make a collision with
	 * any body negligible. Mapping '-' and '_' onto letters skews the
	 * distribution a little; it costs well under a bit.
	 */
	mr_random_id(out, MR_MULTIPART_BOUNDARY_LEN);
	for (size_t i = 0; i < MR_MULTIPART_BOUNDARY_LEN; i++) {
		if (out[i] == '-')
			out[i] = 'x';
		else if (out[i] == '_')
			out[i] = 'y';
	}
}

/* A header value we emit: no control character, so no forged header. */
static int
mp_value_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return 0;
	return 1;
}

static int
mp_fits(int n, size_t outsz)
{
	return n >= 0 && (size_t)n < outsz ? n : -1;
}

int
mr_multipart_head(char *out, size_t outsz, const char *boundary,
    const char *content_type, const char *disposition)
{
	if (!mp_boundary_valid(boundary) || !mp_value_safe(content_type) ||
	    !mp_value_safe(disposition))
		return -1;
	return mp_fits(snprintf(out, outsz,
	    "--%s\r\nContent-Type: application/json\r\n\r\n{}\r\n"
	    "--%s\r\nContent-Type: %s\r\nContent-Disposition: %s\r\n\r\n",
	    boundary, boundary, content_type, disposition), outsz);
}

int
mr_multipart_tail(char *out, size_t outsz, const char *boundary)
{
	if (!mp_boundary_valid(boundary))
		return -1;
	return mp_fits(snprintf(out, outsz, "\r\n--%s--\r\n", boundary),
	    outsz);
}

int
mr_multipart_location(char *out, size_t outsz, const char *boundary,
    const char *url)
{
	if (!mp_boundary_valid(boundary) || !mp_value_safe(url))
		return -1;
	return mp_fits(snprintf(out, outsz,
	    "--%s\r\nContent-Type: application/json\r\n\r\n{}\r\n"
	    "--%s\r\nLocation: %s\r\n\r\n\r\n--%s--\r\n",
	    boundary, boundary, url, boundary), outsz);
}

/* --- Content-Type --- */

static const char *
mp_skip_ows(const char *s)
{
	while (mp_is_blank((unsigned char)*s))
		s++;
	return s;
}

/*
 * One parameter value, token or quoted string, at *sp. When out is not
 * NULL the unquoted value is copied there (at most outsz - 1 bytes, else
 * -1). Returns 0 or -1, *sp past the value.
 */
static int
mp_ct_value(const char **sp, char *out, size_t outsz)
{
	const unsigned char *s = (const unsigned char *)*sp;
	size_t n = 0;

	if (*s != '"') {
		for (; mp_is_tchar(*s); s++) {
			if (out != NULL && n + 1 >= outsz)
				return -1;
			if (out != NULL)
				out[n++] = (char)*s;
		}
		if (s == (const unsigned char *)*sp)
			return -1;
	} else {
		for (s++; *s != '"'; s++) {
			if (*s == '\\')
				s++;
			/* qdtext and quoted-pair: HTAB, SP, VCHAR, obs-text */
			if ((*s < 0x20 && *s != '\t') || *s == 0x7f)
				return -1;
			if (out != NULL && n + 1 >= outsz)
				return -1;
			if (out != NULL)
				out[n++] = (char)*s;
		}
		s++;
	}
	if (out != NULL)
		out[n] = '\0';
	*sp = (const char *)s;
	return 0;
}

int
mr_multipart_parse_content_type(const char *content_type,
    char boundary[MR_MULTIPART_BOUNDARY_MAX + 1], struct mr_err *err)
{
	const char *s = mp_skip_ows(content_type);
	int seen = 0;

	if ((s = mr_skip_prefix_ci(s, "multipart/mixed")) == NULL ||
	    mp_is_tchar((unsigned char)*s) || *s == '/')
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "malformed multipart: content type is not multipart/mixed");
	for (;;) {
		const char *name;
		int is_b;

		s = mp_skip_ows(s);
		if (*s == '\0')
			break;
		if (*s != ';')
			goto bad;
		s = mp_skip_ows(s + 1);
		if (*s == '\0')
			break;
		for (name = s; mp_is_tchar((unsigned char)*s); s++)
			;
		if (s == name || *s != '=')
			goto bad;
		is_b = s - name == 8 && strncasecmp(name, "boundary", 8) == 0;
		if (is_b && seen++)
			return mr_err_set(err, 502, "M_UNKNOWN", "malformed "
			    "multipart: two boundary parameters");
		s++;
		/* A boundary too long for the buffer fails here, as invalid. */
		if (mp_ct_value(&s, is_b ? boundary : NULL,
		    MR_MULTIPART_BOUNDARY_MAX + 1) < 0)
			goto bad;
	}
	if (!seen)
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "malformed multipart: no boundary parameter");
	if (!mp_boundary_valid(boundary))
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "malformed multipart: invalid boundary");
	return 0;
bad:
	return mr_err_set(err, 502, "M_UNKNOWN",
	    "malformed multipart: bad content type parameters");
}

/* --- parser --- */

int
mr_multipart_parser_new(struct mr_multipart_parser **out,
    const char *boundary, const struct mr_multipart_handler *h,
    struct mr_err *err)
{
	struct mr_multipart_parser *p;

	*out = NULL;
	/* The matcher relies on this: no CR or LF inside the boundary. */
	if (!mp_boundary_valid(boundary))
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "malformed multipart: invalid boundary");
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	if (h != NULL)
		p->h = *h;
	p->blen = strlen(boundary);
	snprintf(p->pat, sizeof(p->pat), "\r\n--%s--", boundary);
	p->state = MP_SCAN;
	/* The first delimiter may open the input, as if after a line break. */
	p->matching = 1;
	p->mstart = p->mend = MP_AT_DASH;
	*out = p;
	return 0;
}

void
mr_multipart_parser_free(struct mr_multipart_parser *p)
{
	free(p);
}

/* Body bytes of the current part: dropped, kept as JSON, or passed on. */
static int
mp_sink(struct mr_multipart_parser *p, const void *buf, size_t n,
    struct mr_err *err)
{
	if (n == 0 || p->part == 0)
		return 0;
	if (p->part == 1) {
		/* The metadata is tiny ({} today); a huge one is abuse. */
		if (n > MR_MULTIPART_JSON_MAX - p->json_len)
			return mp_malformed(p, "metadata part too large", err);
		memcpy(p->json + p->json_len, buf, n);
		p->json_len += n;
		return 0;
	}
	if (p->h.on_body != NULL && p->h.on_body(p->h.arg, buf, n, err) < 0)
		return mp_cb_failed(p);
	return 0;
}

/* A delimiter line is complete: the next part's headers follow. */
static void
mp_next_part(struct mr_multipart_parser *p)
{
	p->part++;
	if (p->part > 2) {
		p->state = MP_AFTER_LAST;
		return;
	}
	p->state = MP_HEADERS;
	p->line_len = 0;
	p->hdr_total = 0;
	p->hdr_cr = 0;
}

/*
 * The bytes matched are a delimiter: the current part ends. next is the
 * state after it: MP_EPILOGUE for the close delimiter, MP_HEADERS when
 * the delimiter line is already complete.
 */
static int
mp_delimiter(struct mr_multipart_parser *p, enum mp_state next,
    struct mr_err *err)
{
	p->matching = 0;
	if (next == MP_EPILOGUE && p->part < 2)
		return mp_malformed(p, p->part == 0 ? "no parts" :
		    "only one part", err);
	if (p->part == 1) {
		p->json[p->json_len] = '\0';
		if (p->h.on_json != NULL && p->h.on_json(p->h.arg, p->json,
		    p->json_len, err) < 0)
			return mp_cb_failed(p);
	}
	if (next == MP_HEADERS) {
		mp_next_part(p);
		return 0;
	}
	p->state = next;
	return 0;
}

/* Gives up a partial match: its bytes were body after all. */
static int
mp_mismatch(struct mr_multipart_parser *p, struct mr_err *err)
{
	p->matching = 0;
	return mp_sink(p, p->pat + p->mstart, p->mend - p->mstart, err);
}

/*
 * One byte while a match is in progress. Returns 1 when c was consumed, 0
 * when it must be looked at again (the match failed), -1 on error.
 * After "\r\n--B" only "--", blanks, CR or LF make a delimiter.
 */
static int
mp_match_byte(struct mr_multipart_parser *p, unsigned char c,
    struct mr_err *err)
{
	size_t bend = 4 + p->blen;

	if (p->mend < bend && c == (unsigned char)p->pat[p->mend]) {
		p->mend++;
		return 1;
	}
	if (p->mend == bend) {
		if (c == '-') {
			p->mend++;
			return 1;
		}
		if (mp_is_blank(c))
			return mp_delimiter(p, MP_DELIM_PAD, err) < 0 ? -1 : 1;
		if (c == '\r')
			return mp_delimiter(p, MP_DELIM_CR, err) < 0 ? -1 : 1;
		if (c == '\n')
			return mp_delimiter(p, MP_HEADERS, err) < 0 ? -1 : 1;
	}
	if (p->mend == bend + 1 && c == '-')
		return mp_delimiter(p, MP_EPILOGUE, err) < 0 ? -1 : 1;
	return mp_mismatch(p, err) < 0 ? -1 : 0;
}

/*
 * Preamble or body bytes. Bytes that cannot start a delimiter go on in
 * runs, straight from the input; only CR and LF can start one, since the
 * boundary holds neither, so a failed match never hides a later start.
 * Sets *used to the bytes consumed (it stops when the state changes).
 * Returns 0 or -1.
 */
static int
mp_scan(struct mr_multipart_parser *p, const unsigned char *buf, size_t n,
    size_t *used, struct mr_err *err)
{
	size_t i = 0, j;
	int r;

	while (i < n && p->state == MP_SCAN) {
		if (p->matching) {
			if ((r = mp_match_byte(p, buf[i], err)) < 0)
				return -1;
			i += (size_t)r;
			continue;
		}
		j = i;
		while (j < n && buf[j] != '\r' && buf[j] != '\n')
			j++;
		if (mp_sink(p, buf + i, j - i, err) < 0)
			return -1;
		if (j < n) {
			p->matching = 1;
			p->mstart = buf[j] == '\r' ? MP_AT_CR : MP_AT_LF;
			p->mend = p->mstart + 1;
			j++;
		}
		i = j;
	}
	*used = i;
	return 0;
}

/* One complete header line, without its line break, in p->line. */
static int
mp_header_line(struct mr_multipart_parser *p, struct mr_err *err)
{
	char *line = p->line, *colon, *value, *end;

	line[p->line_len] = '\0';
	if (mp_is_blank((unsigned char)line[0]))
		return mp_malformed(p, "folded header line", err);
	if ((colon = memchr(line, ':', p->line_len)) == NULL)
		return mp_malformed(p, "header line without colon", err);
	end = colon;
	while (end > line && mp_is_blank((unsigned char)end[-1]))
		end--;
	if (end == line)
		return mp_malformed(p, "empty header name", err);
	for (char *s = line; s < end; s++)
		if (!mp_is_tchar((unsigned char)*s))
			return mp_malformed(p, "bad header name", err);
	*end = '\0';
	value = colon + 1;
	for (char *s = value; s < line + p->line_len; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return mp_malformed(p, "control byte in header", err);
	while (mp_is_blank((unsigned char)*value))
		value++;
	end = line + p->line_len;
	while (end > value && mp_is_blank((unsigned char)end[-1]))
		end--;
	*end = '\0';
	/* Part 1 is always application/json metadata; its headers are moot. */
	if (p->part == 2 && p->h.on_header != NULL &&
	    p->h.on_header(p->h.arg, line, value, err) < 0)
		return mp_cb_failed(p);
	return 0;
}

/* The blank line after the headers: the body begins. */
static int
mp_headers_end(struct mr_multipart_parser *p, struct mr_err *err)
{
	if (p->part == 2 && p->h.on_body_start != NULL &&
	    p->h.on_body_start(p->h.arg, err) < 0)
		return mp_cb_failed(p);
	p->json_len = 0;
	p->state = MP_SCAN;
	/*
	 * The spec's Location example has no line break between the blank
	 * line and the next delimiter, so a body may open with "--B". The
	 * boundary must not occur in any body (RFC 2046), so this takes
	 * nothing from a valid one.
	 */
	p->matching = 1;
	p->mstart = p->mend = MP_AT_DASH;
	return 0;
}

static int
mp_header_byte(struct mr_multipart_parser *p, unsigned char c,
    struct mr_err *err)
{
	/* Headers are a few short lines; a long block is abuse. */
	if (++p->hdr_total > MR_MULTIPART_HEADER_MAX)
		return mp_malformed(p, "header block too large", err);
	if (c == '\n') {
		p->hdr_cr = 0;
		if (p->line_len == 0)
			return mp_headers_end(p, err);
		if (mp_header_line(p, err) < 0)
			return -1;
		p->line_len = 0;
		return 0;
	}
	if (p->hdr_cr)
		return mp_malformed(p, "bare CR in header", err);
	if (c == '\r') {
		p->hdr_cr = 1;
		return 0;
	}
	/* hdr_total bounds line_len below the buffer's last byte. */
	p->line[p->line_len++] = (char)c;
	return 0;
}

/* One byte in a state that is not MP_SCAN. */
static int
mp_other_byte(struct mr_multipart_parser *p, unsigned char c,
    struct mr_err *err)
{
	switch (p->state) {
	case MP_DELIM_PAD:
		if (mp_is_blank(c))
			return 0;
		if (c == '\r') {
			p->state = MP_DELIM_CR;
			return 0;
		}
		if (c != '\n')
			return mp_malformed(p, "text after delimiter", err);
		mp_next_part(p);
		return 0;
	case MP_DELIM_CR:
		if (c != '\n')
			return mp_malformed(p, "bare CR after delimiter", err);
		mp_next_part(p);
		return 0;
	case MP_HEADERS:
		return mp_header_byte(p, c, err);
	case MP_AFTER_LAST:
		return mp_malformed(p, "more than two parts", err);
	default:
		return -1;
	}
}

int
mr_multipart_parser_feed(struct mr_multipart_parser *p, const void *buf,
    size_t len, struct mr_err *err)
{
	const unsigned char *b = buf;
	size_t i = 0, used;

	while (i < len) {
		if (p->state == MP_FAILED)
			return mr_err_set(err, 502, "M_UNKNOWN",
			    "malformed multipart: parser already failed");
		if (p->state == MP_EPILOGUE)
			return 0;
		if (p->state == MP_SCAN) {
			if (mp_scan(p, b + i, len - i, &used, err) < 0)
				return -1;
			i += used;
			continue;
		}
		if (mp_other_byte(p, b[i++], err) < 0)
			return -1;
	}
	return p->state == MP_FAILED ? -1 : 0;
}

int
mr_multipart_parser_finish(struct mr_multipart_parser *p,
    struct mr_err *err)
{
	switch (p->state) {
	case MP_EPILOGUE:
	case MP_AFTER_LAST:
		return 0;
	case MP_DELIM_PAD:
	case MP_DELIM_CR:
		/* A delimiter line without its line break. */
		if (p->part == 2)
			return 0;
		break;
	case MP_SCAN:
		/* "--B" right at the end: a delimiter without "--". */
		if (p->part == 2 && p->matching && p->mend == 4 + p->blen)
			return 0;
		break;
	case MP_FAILED:
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "malformed multipart: parser already failed");
	default:
		break;
	}
	p->state = MP_FAILED;
	if (p->part < 2)
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "malformed multipart: input ended before the second part");
	return mr_err_set(err, 502, "M_UNKNOWN",
	    "malformed multipart: input ended inside the second part");
}
