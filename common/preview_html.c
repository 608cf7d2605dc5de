/*
 * preview_html: HTML page to OpenGraph object, and the URL helpers of
 * previews (see preview_html.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* memmem; the Makefile defines it, a fuzz build may not */
#endif
#include "preview_html.h"

#include <errno.h>
#include <iconv.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>

/*
 * Bounds on how text grows: decoding (U+FFFD is 3 bytes for 1), then
 * escaping in ph_canon ("&quot;" for '"'); the body limit keeps the
 * product within libxml2's int.
 */
#define PH_GROWTH 4
#define PH_CANON_GROWTH 6
#define PH_BODY_DIV 32

/* --- small byte helpers --- */

static int
ph_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static int
ph_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int
ph_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
ph_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int
ph_hexval(unsigned char c)
{
	if (ph_is_digit(c))
		return c - '0';
	c = (unsigned char)ph_lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* --- a growing byte buffer; out of memory sticks and is checked once --- */

struct ph_buf {
	char *p;
	size_t len;
	size_t cap;
	size_t limit;	/* never grows past this */
	int oom;
};

static int
ph_buf_reserve(struct ph_buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->oom)
		return -1;
	if (b->cap - b->len > more)
		return 0;
	if (more >= b->limit - b->len)
		return -1;
	cap = b->cap < 256 ? 256 : b->cap;
	while (cap - b->len <= more)
		cap = cap > b->limit / 2 ? b->limit : cap * 2;
	if ((p = realloc(b->p, cap)) == NULL) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static int
ph_buf_put(struct ph_buf *b, const void *s, size_t n)
{
	if (ph_buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int
ph_buf_put_cp(struct ph_buf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xC0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else {
		/* Only BMP code points reach here (windows-1252, U+FFFD). */
		u[0] = (unsigned char)(0xE0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	}
	return ph_buf_put(b, u, n);
}

/* --- charset choice --- */

enum ph_kind { PH_UTF8, PH_CP1252, PH_UTF16LE, PH_UTF16BE, PH_ICONV };

struct ph_charset {
	enum ph_kind kind;
	char name[48];		/* the iconv name for PH_ICONV */
};

/* The WHATWG labels whose meaning differs from what iconv would do. */
static const struct {
	const char *label;
	enum ph_kind kind;
} ph_aliases[] = {
	{ "utf-8", PH_UTF8 }, { "utf8", PH_UTF8 },
	{ "unicode-1-1-utf-8", PH_UTF8 },
	{ "windows-1252", PH_CP1252 }, { "cp1252", PH_CP1252 },
	{ "x-cp1252", PH_CP1252 }, { "iso-8859-1", PH_CP1252 },
	{ "iso8859-1", PH_CP1252 }, { "iso_8859-1", PH_CP1252 },
	{ "latin1", PH_CP1252 }, { "l1", PH_CP1252 }, { "cp819", PH_CP1252 },
	{ "us-ascii", PH_CP1252 }, { "ascii", PH_CP1252 },
	{ "x-user-defined", PH_CP1252 },
	{ "utf-16", PH_UTF16LE }, { "utf-16le", PH_UTF16LE },
	{ "unicode", PH_UTF16LE }, { "utf-16be", PH_UTF16BE },
};

/*
 * Maps a label to a decoder; -1 when neither the table nor iconv knows it.
 * Labels are restricted to [a-z0-9._:-] so nothing odd ("//TRANSLIT",
 * paths) reaches iconv_open.
 */
static int
ph_charset_lookup(const char *label, int from_meta, struct ph_charset *cs)
{
	iconv_t cd;
	size_t n = strlen(label);

	if (n == 0 || n >= sizeof(cs->name))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!ph_is_alpha((unsigned char)label[i]) &&
		    !ph_is_digit((unsigned char)label[i]) &&
		    strchr("._:-", label[i]) == NULL)
			return -1;
	for (size_t i = 0; i < sizeof(ph_aliases) / sizeof(ph_aliases[0]);
	    i++) {
		if (strcasecmp(label, ph_aliases[i].label) != 0)
			continue;
		cs->kind = ph_aliases[i].kind;
		/* A <meta> was read as ASCII, so the page is not UTF-16. */
		if (from_meta && (cs->kind == PH_UTF16LE ||
		    cs->kind == PH_UTF16BE))
			cs->kind = PH_UTF8;
		return 0;
	}
	if ((cd = iconv_open("UTF-8", label)) == (iconv_t)-1)
		return -1;
	iconv_close(cd);
	cs->kind = PH_ICONV;
	memcpy(cs->name, label, n + 1);
	return 0;
}

/*
 * The value of a "charset=" parameter in s[0, n), as in a Content-Type
 * header or a <meta content>, quoted or not; 0 when found.
 */
static int
ph_charset_param(const char *s, size_t n, char *out, size_t outsz)
{
	for (size_t i = 0; i + 7 <= n; i++) {
		size_t j = i + 7, k = 0;
		char q = 0;

		if (strncasecmp(s + i, "charset", 7) != 0)
			continue;
		while (j < n && ph_is_space((unsigned char)s[j]))
			j++;
		if (j >= n || s[j] != '=')
			continue;
		j++;
		while (j < n && ph_is_space((unsigned char)s[j]))
			j++;
		if (j < n && (s[j] == '"' || s[j] == '\''))
			q = s[j++];
		while (j < n && s[j] != q && s[j] != ';' && s[j] != ',' &&
		    !ph_is_space((unsigned char)s[j]) && k + 1 < outsz)
			out[k++] = s[j++];
		out[k] = '\0';
		return k > 0 ? 0 : -1;
	}
	return -1;
}

/* One attribute of a tag in the prescan; *i is past it. 0 at '>' or end. */
static int
ph_prescan_attr(const char *b, size_t n, size_t *i, char *name,
    size_t namesz, char *val, size_t valsz)
{
	size_t p = *i, k = 0;
	char q;

	while (p < n && (ph_is_space((unsigned char)b[p]) || b[p] == '/'))
		p++;
	if (p >= n || b[p] == '>') {
		*i = p;
		return 0;
	}
	while (p < n && b[p] != '=' && b[p] != '>' && b[p] != '/' &&
	    !ph_is_space((unsigned char)b[p])) {
		if (k + 1 < namesz)
			name[k++] = (char)ph_lower((unsigned char)b[p]);
		p++;
	}
	name[k] = '\0';
	k = 0;
	while (p < n && ph_is_space((unsigned char)b[p]))
		p++;
	if (p < n && b[p] == '=') {
		p++;
		while (p < n && ph_is_space((unsigned char)b[p]))
			p++;
		q = p < n && (b[p] == '"' || b[p] == '\'') ? b[p++] : 0;
		while (p < n && (q ? b[p] != q : (b[p] != '>' &&
		    !ph_is_space((unsigned char)b[p])))) {
			if (k + 1 < valsz)
				val[k++] = b[p];
			p++;
		}
		if (q && p < n)
			p++;
	}
	val[k] = '\0';
	*i = p;
	return 1;
}

/* The charset a <meta> declares, from its attributes; 0 when it does. */
static int
ph_prescan_meta(const char *b, size_t n, size_t *i, char *out, size_t outsz)
{
	char name[32], val[256], content[256] = "", charset[64] = "";
	int http_ctype = 0;

	while (ph_prescan_attr(b, n, i, name, sizeof(name), val,
	    sizeof(val))) {
		/* val is shorter than content; a long charset is no label. */
		if (strcmp(name, "charset") == 0 && charset[0] == '\0' &&
		    strlen(val) < sizeof(charset))
			memcpy(charset, val, strlen(val) + 1);
		else if (strcmp(name, "content") == 0 && content[0] == '\0')
			memcpy(content, val, strlen(val) + 1);
		else if (strcmp(name, "http-equiv") == 0)
			http_ctype = strcasecmp(val, "content-type") == 0;
	}
	if (charset[0] != '\0') {
		/* Trimmed here, as no quotes bound it in the unquoted form. */
		size_t k = 0, s = 0, e = strlen(charset);

		while (s < e && ph_is_space((unsigned char)charset[s]))
			s++;
		while (e > s && ph_is_space((unsigned char)charset[e - 1]))
			e--;
		for (; s < e && k + 1 < outsz; s++)
			out[k++] = charset[s];
		out[k] = '\0';
		return k > 0 ? 0 : -1;
	}
	if (http_ctype)
		return ph_charset_param(content, strlen(content), out, outsz);
	return -1;
}

/*
 * A cut-down WHATWG prescan: comments are skipped and the first <meta>
 * that names a charset decides. It reads the raw bytes, so it is only
 * run for ASCII-compatible pages (no UTF-16 BOM).
 */
static int
ph_prescan(const char *b, size_t n, char *out, size_t outsz)
{
	size_t i = 0;

	if (n > MR_PREVIEW_PRESCAN_MAX)
		n = MR_PREVIEW_PRESCAN_MAX;
	while (i < n) {
		if (n - i >= 4 && memcmp(b + i, "<!--", 4) == 0) {
			const char *end = memmem(b + i + 4, n - i - 4, "-->", 3);

			if (end == NULL)
				return -1;
			i = (size_t)(end - b) + 3;
		} else if (n - i >= 6 && b[i] == '<' &&
		    strncasecmp(b + i + 1, "meta", 4) == 0 &&
		    (ph_is_space((unsigned char)b[i + 5]) || b[i + 5] == '/')) {
			i += 5;
			if (ph_prescan_meta(b, n, &i, out, outsz) == 0)
				return 0;
		} else {
			i++;
		}
	}
	return -1;
}

/*
 * Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it
 * is invalid or NUL. *cut is set when it is only incomplete at the end.
 */
static size_t
ph_utf8_seq(const unsigned char *s, size_t n, int *cut)
{
	size_t need;
	uint32_t cp, min;

	*cut = 0;
	if (s[0] == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		need = 1;
		cp = s[0] & 0x1F;
		min = 0x80;
	} else if ((s[0] & 0xF0) == 0xE0) {
		need = 2;
		cp = s[0] & 0x0F;
		min = 0x800;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		need = 3;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	for (size_t k = 1; k <= need; k++) {
		if (k >= n) {
			*cut = 1;
			return 0;
		}
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return need + 1;
}

/* Valid UTF-8 but for NULs and a sequence cut off by the size cap. */
static int
ph_looks_utf8(const char *b, size_t n)
{
	const unsigned char *s = (const unsigned char *)b;
	size_t i = 0, k;
	int cut;

	while (i < n) {
		if (s[i] == 0) {
			i++;
			continue;
		}
		if ((k = ph_utf8_seq(s + i, n - i, &cut)) == 0)
			return cut;
		i += k;
	}
	return 1;
}

static void
ph_pick_charset(const char *b, size_t n, const char *content_type,
    struct ph_charset *cs, size_t *skip)
{
	char label[64];
	int bom = 0;	/* the BOM's kind + 1 */

	*skip = 0;
	if (n >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0)
		bom = PH_UTF8 + 1;
	else if (n >= 2 && memcmp(b, "\xFF\xFE", 2) == 0)
		bom = PH_UTF16LE + 1;
	else if (n >= 2 && memcmp(b, "\xFE\xFF", 2) == 0)
		bom = PH_UTF16BE + 1;
	if (content_type != NULL && ph_charset_param(content_type,
	    strlen(content_type), label, sizeof(label)) == 0 &&
	    ph_charset_lookup(label, 0, cs) == 0) {
		/* "utf-16" says nothing of byte order; a BOM does. */
		if (cs->kind == PH_UTF16LE && bom == PH_UTF16BE + 1 &&
		    strcasecmp(label, "utf-16") == 0)
			cs->kind = PH_UTF16BE;
	} else if (bom != 0) {
		cs->kind = (enum ph_kind)(bom - 1);
	} else if (ph_prescan(b, n, label, sizeof(label)) == 0 &&
	    ph_charset_lookup(label, 1, cs) == 0) {
		;
	} else {
		cs->kind = ph_looks_utf8(b, n) ? PH_UTF8 : PH_CP1252;
	}
	if (bom != 0 && cs->kind == (enum ph_kind)(bom - 1))
		*skip = bom == PH_UTF8 + 1 ? 3 : 2;
}

/* --- transcoding to UTF-8 --- */

/* WHATWG's windows-1252 for 0x80-0x9F; the five holes map to C1. */
static const uint16_t ph_cp1252[32] = {
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

static void
ph_from_cp1252(const char *b, size_t n, struct ph_buf *out)
{
	for (size_t i = 0; i < n && !out->oom; i++) {
		unsigned char c = (unsigned char)b[i];

		if (c >= 0x80 && c < 0xA0)
			ph_buf_put_cp(out, ph_cp1252[c - 0x80]);
		else
			ph_buf_put_cp(out, c);
	}
}

/*
 * Copies UTF-8, replacing each invalid sequence and NUL with U+FFFD, as a
 * browser would; libxml2 would otherwise switch to Latin-1 mid-document
 * or pass the bad bytes through.
 */
static void
ph_from_utf8(const char *b, size_t n, struct ph_buf *out)
{
	const unsigned char *s = (const unsigned char *)b;
	size_t i = 0, k;
	int cut;

	while (i < n && !out->oom) {
		if ((k = ph_utf8_seq(s + i, n - i, &cut)) == 0) {
			ph_buf_put_cp(out, 0xFFFD);
			i++;
			continue;
		}
		ph_buf_put(out, s + i, k);
		i += k;
	}
}

/*
 * Any other charset through iconv. An undecodable unit becomes U+FFFD and
 * decoding goes on, unlike libxml2's own iconv use, which stops the parse.
 */
static int
ph_from_iconv(const char *name, size_t unit, const char *b, size_t n,
    struct ph_buf *out)
{
	iconv_t cd = iconv_open("UTF-8", name);
	char *ip = (char *)b;
	size_t il = n;

	if (cd == (iconv_t)-1)
		return -1;
	while (il > 0) {
		char *op;
		size_t ol, r;

		if (ph_buf_reserve(out, 64) < 0)
			break;
		op = out->p + out->len;
		ol = out->cap - out->len - 1;
		r = iconv(cd, &ip, &il, &op, &ol);
		out->len = (size_t)(op - out->p);
		out->p[out->len] = '\0';
		if (r != (size_t)-1 || errno == E2BIG)
			continue;
		if (ph_buf_put_cp(out, 0xFFFD) < 0 || errno == EINVAL)
			break;
		/* EILSEQ: skip one code unit; anything else ends input. */
		if (errno != EILSEQ || il < unit)
			break;
		ip += unit;
		il -= unit;
	}
	iconv_close(cd);
	return 0;
}

/* The body as UTF-8 in out; -1 only on allocation failure. */
static int
ph_decode(const char *b, size_t n, const char *content_type,
    struct ph_buf *out)
{
	struct ph_charset cs;
	struct ph_buf tmp = { 0 };
	size_t skip;
	int rc = 0;

	ph_pick_charset(b, n, content_type, &cs, &skip);
	b += skip;
	n -= skip;
	tmp.limit = out->limit;
	switch (cs.kind) {
	case PH_UTF8:
		ph_from_utf8(b, n, out);
		break;
	case PH_CP1252:
		ph_from_cp1252(b, n, out);
		break;
	default:
		rc = ph_from_iconv(cs.kind == PH_UTF16LE ? "UTF-16LE" :
		    cs.kind == PH_UTF16BE ? "UTF-16BE" : cs.name,
		    cs.kind == PH_ICONV ? 1 : 2, b, n, &tmp);
		/* iconv may pass NULs and (for odd charsets) worse: recheck. */
		if (rc == 0 && !tmp.oom)
			ph_from_utf8(tmp.p, tmp.len, out);
		free(tmp.p);
		if (tmp.oom)
			out->oom = 1;
		break;
	}
	if (rc == 0 && out->p == NULL)
		rc = ph_buf_put(out, "", 0);
	return rc < 0 || out->oom ? -1 : 0;
}

/* --- canonical markup: what libxml2 is given --- */

/*
 * libxml2 2.9 checks each attribute against all earlier ones of its tag,
 * so one tag with 200000 distinct attributes costs half a minute. The
 * page is therefore rewritten before parsing so that libxml2 can only
 * ever see start tags we wrote: every "<" plus letter outside the tags
 * we write begins one of ours; ours hold at most PH_ATTRS_MAX attributes
 * as name="value" with '"', '<' and '>' escaped, so no "<" and no ">"
 * but the last; comments and raw text (script, style...) are dropped and
 * RCDATA (title, textarea) has its "<" escaped, so whatever state
 * libxml2's own tokenizer is in, it finds no other tag to parse. The cost
 * is a few exotic constructs a browser reads differently (a "-->" inside
 * a quoted attribute value), which matter little for a preview.
 */
#define PH_ATTRS_MAX 64
#define PH_NAME_MAX 100	/* libxml2 cuts longer names into several */

/* WHATWG raw text: dropped. RCDATA: kept, escaped. */
static const char *const ph_rawtext[] = { "script", "style", "xmp",
    "iframe", "noembed", "noframes", "plaintext" };
static const char *const ph_rcdata[] = { "title", "textarea" };

static int
ph_in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return 1;
	return 0;
}

/* A name libxml2 reads whole: [A-Za-z_:.][A-Za-z0-9_:.-]*, lower-cased. */
static int
ph_canon_name(const char *s, size_t n, char out[PH_NAME_MAX + 1])
{
	if (n == 0 || n > PH_NAME_MAX || (!ph_is_alpha((unsigned char)s[0]) &&
	    strchr("_:.", s[0]) == NULL))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!ph_is_alpha(c) && !ph_is_digit(c) && (c == '\0' ||
		    strchr("_:.-", c) == NULL))
			return -1;
		out[i] = (char)ph_lower(c);
	}
	out[n] = '\0';
	return 0;
}

static void
ph_canon_escaped(struct ph_buf *out, const char *s, size_t n, int quote)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		const char *rep = s[i] == '<' ? "&lt;" : s[i] == '>' &&
		    quote ? "&gt;" : s[i] == '"' && quote ? "&quot;" : NULL;

		if (rep == NULL)
			continue;
		ph_buf_put(out, s + run, i - run);
		ph_buf_put(out, rep, strlen(rep));
		run = i + 1;
	}
	ph_buf_put(out, s + run, n - run);
}

/* One attribute (WHATWG tokenizer states) at s[*i]; written if usable. */
static void
ph_canon_attr(const char *s, size_t n, size_t *i, struct ph_buf *out,
    int *nattrs)
{
	size_t ns = *i, ne, vs = 0, ve = 0;
	char name[PH_NAME_MAX + 1];
	int has_value = 0;

	while (*i < n && !ph_is_space((unsigned char)s[*i]) && s[*i] != '/' &&
	    s[*i] != '>' && (s[*i] != '=' || *i == ns))
		(*i)++;
	ne = *i;
	while (*i < n && ph_is_space((unsigned char)s[*i]))
		(*i)++;
	if (*i < n && s[*i] == '=') {
		(*i)++;
		while (*i < n && ph_is_space((unsigned char)s[*i]))
			(*i)++;
		has_value = 1;
		if (*i < n && (s[*i] == '"' || s[*i] == '\'')) {
			const char *q = memchr(s + *i + 1, s[*i], n - *i - 1);

			vs = *i + 1;
			ve = q != NULL ? (size_t)(q - s) : n;
			*i = q != NULL ? ve + 1 : n;
		} else {
			vs = *i;
			while (*i < n && !ph_is_space((unsigned char)s[*i]) &&
			    s[*i] != '>')
				(*i)++;
			ve = *i;
		}
	}
	if (*nattrs >= PH_ATTRS_MAX || ph_canon_name(s + ns, ne - ns, name) < 0)
		return;
	(*nattrs)++;
	ph_buf_put(out, " ", 1);
	ph_buf_put(out, name, strlen(name));
	if (!has_value)
		return;
	ph_buf_put(out, "=\"", 2);
	ph_canon_escaped(out, s + vs, ve - vs, 1);
	ph_buf_put(out, "\"", 1);
}

/* The content of a raw text or RCDATA element, up to its end tag. */
static size_t
ph_canon_raw(const char *s, size_t n, size_t i, const char *name,
    int keep, struct ph_buf *out)
{
	size_t k = strlen(name), e = i;

	while (e < n) {
		const char *lt = memchr(s + e, '<', n - e);

		if (lt == NULL) {
			e = n;
			break;
		}
		e = (size_t)(lt - s);
		if (n - e >= k + 2 && s[e + 1] == '/' &&
		    strncasecmp(s + e + 2, name, k) == 0)
			break;
		e++;
	}
	if (keep)
		ph_canon_escaped(out, s + i, e - i, 0);
	return e;
}

/* A start tag whose name begins at s[i]; returns where the input goes on. */
static size_t
ph_canon_tag(const char *s, size_t n, size_t i, struct ph_buf *out)
{
	size_t ns = i, k = 0;
	char name[PH_NAME_MAX + 1];
	int nattrs = 0, self = 0;

	while (i < n && !ph_is_space((unsigned char)s[i]) && s[i] != '/' &&
	    s[i] != '>')
		i++;
	/*
	 * The leading name characters (s[ns] is a letter), at most as many
	 * as libxml2 reads as one name; the rest of the name is dropped.
	 */
	while (k < i - ns && k < PH_NAME_MAX &&
	    (ph_is_alpha((unsigned char)s[ns + k]) ||
	    ph_is_digit((unsigned char)s[ns + k]) ||
	    strchr("_:.-", s[ns + k]) != NULL)) {
		name[k] = (char)ph_lower((unsigned char)s[ns + k]);
		k++;
	}
	name[k] = '\0';
	ph_buf_put(out, "<", 1);
	ph_buf_put(out, name, strlen(name));
	while (i < n) {
		if (ph_is_space((unsigned char)s[i]) || s[i] == '/') {
			self = s[i] == '/' && i + 1 < n && s[i + 1] == '>';
			i++;
			continue;
		}
		if (s[i] == '>') {
			i++;
			break;
		}
		self = 0;
		ph_canon_attr(s, n, &i, out, &nattrs);
	}
	ph_buf_put(out, self ? "/>" : ">", self ? 2 : 1);
	if (ph_in_list(name, ph_rawtext, sizeof(ph_rawtext) /
	    sizeof(ph_rawtext[0])))
		i = ph_canon_raw(s, n, i, name, 0, out);
	else if (ph_in_list(name, ph_rcdata, sizeof(ph_rcdata) /
	    sizeof(ph_rcdata[0])))
		i = ph_canon_raw(s, n, i, name, 1, out);
	return i;
}

static void
ph_canon(const char *s, size_t n, struct ph_buf *out)
{
	size_t i = 0;

	while (i < n && !out->oom) {
		const char *lt = memchr(s + i, '<', n - i);
		size_t e = lt != NULL ? (size_t)(lt - s) : n;

		ph_buf_put(out, s + i, e - i);
		i = e;
		if (i >= n)
			break;
		if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
			const char *end = memmem(s + i + 2, n - i - 2, "-->", 3);

			i = end != NULL ? (size_t)(end - s) + 3 : n;
		} else if (i + 1 < n && ph_is_alpha((unsigned char)s[i + 1])) {
			i = ph_canon_tag(s, n, i + 1, out);
		} else {
			ph_buf_put(out, "<", 1);
			i++;
		}
	}
}

/* --- values --- */

/* Whitespace-collapsing accumulator: bounded, fed in pieces. */
struct ph_text {
	char *p;
	size_t len;
	size_t max;
	int space;	/* a space is owed before the next byte */
	int over;	/* longer than max: will be dropped */
	int oom;
};

static void
ph_text_add(struct ph_text *t, const char *s, size_t n)
{
	for (size_t i = 0; i < n && !t->over && !t->oom; i++) {
		if (ph_is_space((unsigned char)s[i])) {
			t->space = t->len > 0;
			continue;
		}
		if (t->len + t->space + 1 > t->max) {
			t->over = 1;
			break;
		}
		if (t->p == NULL && (t->p = malloc(t->max + 1)) == NULL) {
			t->oom = 1;
			break;
		}
		if (t->space)
			t->p[t->len++] = ' ';
		t->space = 0;
		t->p[t->len++] = s[i];
	}
}

/* No C0 (whitespace is gone by now), DEL or C1 (U+0080-U+009F). */
static int
ph_has_control(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n; i++) {
		if (u[i] < 0x20 || u[i] == 0x7F)
			return 1;
		if (u[i] == 0xC2 && i + 1 < n && u[i + 1] < 0xA0)
			return 1;
	}
	return 0;
}

/* The text as a malloc'ed string, or NULL when it is to be dropped. */
static char *
ph_text_finish(struct ph_text *t)
{
	char *p = t->p;

	t->p = NULL;
	if (p == NULL || t->over || t->len == 0 || !mr_utf8_valid(p, t->len) ||
	    ph_has_control(p, t->len)) {
		free(p);
		return NULL;
	}
	p[t->len] = '\0';
	return p;
}

static char *
ph_clean(const char *s, size_t max)
{
	struct ph_text t = { NULL, 0, max, 0, 0, 0 };

	ph_text_add(&t, s, strlen(s));
	return ph_text_finish(&t);
}

/* Lower-cases and checks a meta key into out; -1 when it is unusable. */
static int
ph_key(const char *raw, char out[MR_PREVIEW_KEY_MAX + 1])
{
	size_t s = 0, e = strlen(raw), k = 0;

	while (s < e && ph_is_space((unsigned char)raw[s]))
		s++;
	while (e > s && ph_is_space((unsigned char)raw[e - 1]))
		e--;
	if (e == s || e - s > MR_PREVIEW_KEY_MAX)
		return -1;
	for (; s < e; s++) {
		char c = (char)ph_lower((unsigned char)raw[s]);

		if (!ph_is_digit((unsigned char)c) && !(c >= 'a' && c <= 'z') &&
		    strchr(":_.-", c) == NULL)
			return -1;
		out[k++] = c;
	}
	out[k] = '\0';
	return 0;
}

enum ph_vkind { PH_TEXT, PH_URL, PH_IMAGE_URL, PH_INT };

static enum ph_vkind
ph_key_kind(const char *key)
{
	static const char *const images[] = { "og:image", "og:image:url",
	    "og:image:secure_url", "twitter:image", "twitter:image:src" };
	static const char *const urls[] = { "og:url", "og:video",
	    "og:video:url", "og:video:secure_url", "og:audio", "og:audio:url",
	    "og:audio:secure_url" };
	static const char *const ints[] = { "og:image:width",
	    "og:image:height", "og:video:width", "og:video:height" };

	for (size_t i = 0; i < sizeof(images) / sizeof(images[0]); i++)
		if (strcmp(key, images[i]) == 0)
			return PH_IMAGE_URL;
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
		if (strcmp(key, urls[i]) == 0)
			return PH_URL;
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		if (strcmp(key, ints[i]) == 0)
			return PH_INT;
	return PH_TEXT;
}

/* --- the SAX pass --- */

struct ph_state {
	const char *page_url;
	char base[MR_PREVIEW_VALUE_MAX + 1];	/* <base href>, resolved */
	int has_base;
	cJSON *og;
	int nkeys;
	char *tw_title, *tw_desc, *tw_image, *tw_image_src, *desc, *img;
	struct ph_text title;
	int in_title;
	int title_seen;	/* only the first <title> counts */
	int svg;	/* open <svg> elements: their <title> is not the page's */
	unsigned long events;
	int oom;
};

/* A URL-valued attribute, resolved; NULL when it is to be dropped. */
static char *
ph_url(struct ph_state *st, const char *raw, int allow_data)
{
	char out[MR_PREVIEW_VALUE_MAX + 1], *v;

	if (allow_data && mr_skip_prefix_ci(raw + strspn(raw, " \t\n\f\r"),
	    "data:") != NULL)
		return ph_clean(raw, MR_PREVIEW_DATA_URL_MAX);
	if ((v = ph_clean(raw, MR_PREVIEW_VALUE_MAX)) == NULL)
		return NULL;
	if (mr_preview_resolve_url(st->has_base ? st->base : st->page_url, v,
	    out, sizeof(out)) < 0) {
		free(v);
		return NULL;
	}
	free(v);
	if ((v = strdup(out)) == NULL)
		st->oom = 1;
	return v;
}

static void
ph_add_string(struct ph_state *st, const char *key, char *v)
{
	if (v == NULL)
		return;
	if (cJSON_AddStringToObject(st->og, key, v) == NULL)
		st->oom = 1;
	else
		st->nkeys++;
	free(v);
}

/* The first usable occurrence of an og: key wins. */
static void
ph_put_og(struct ph_state *st, const char *key, const char *raw)
{
	enum ph_vkind kind = ph_key_kind(key);
	int64_t n;
	char *v;

	if (st->nkeys >= MR_PREVIEW_KEYS_MAX ||
	    cJSON_GetObjectItemCaseSensitive(st->og, key) != NULL)
		return;
	if (kind == PH_URL || kind == PH_IMAGE_URL) {
		ph_add_string(st, key, ph_url(st, raw, kind == PH_IMAGE_URL));
	} else if (kind == PH_INT) {
		if ((v = ph_clean(raw, 32)) != NULL && mr_parse_int64(v, 1,
		    INT32_MAX, &n) == 0) {
			if (cJSON_AddNumberToObject(st->og, key, (double)n) ==
			    NULL)
				st->oom = 1;
			else
				st->nkeys++;
		}
		free(v);
	} else {
		ph_add_string(st, key, ph_clean(raw, MR_PREVIEW_VALUE_MAX));
	}
}

/* Keeps the first usable value of a fallback key in *slot. */
static void
ph_keep(struct ph_state *st, char **slot, const char *key, const char *raw)
{
	enum ph_vkind kind = ph_key_kind(key);

	if (*slot != NULL)
		return;
	if (kind == PH_IMAGE_URL)
		*slot = ph_url(st, raw, 1);
	else
		*slot = ph_clean(raw, MR_PREVIEW_VALUE_MAX);
}

static void
ph_meta_key(struct ph_state *st, const char *raw_key, const char *content)
{
	char key[MR_PREVIEW_KEY_MAX + 1];

	if (raw_key == NULL || ph_key(raw_key, key) < 0)
		return;
	if (strncmp(key, "og:", 3) == 0)
		ph_put_og(st, key, content);
	else if (strcmp(key, "twitter:title") == 0)
		ph_keep(st, &st->tw_title, key, content);
	else if (strcmp(key, "twitter:description") == 0)
		ph_keep(st, &st->tw_desc, key, content);
	else if (strcmp(key, "twitter:image") == 0)
		ph_keep(st, &st->tw_image, key, content);
	else if (strcmp(key, "twitter:image:src") == 0)
		ph_keep(st, &st->tw_image_src, key, content);
	else if (strcmp(key, "description") == 0)
		ph_keep(st, &st->desc, key, content);
}

static const char *
ph_attr(const xmlChar **attrs, const char *name)
{
	for (size_t i = 0; attrs != NULL && attrs[i] != NULL; i += 2)
		if (strcmp((const char *)attrs[i], name) == 0)
			return (const char *)attrs[i + 1];
	return NULL;
}

static void
ph_meta(struct ph_state *st, const xmlChar **attrs)
{
	const char *prop = ph_attr(attrs, "property");
	const char *name = ph_attr(attrs, "name");
	const char *content = ph_attr(attrs, "content");

	if (content == NULL)
		return;
	ph_meta_key(st, prop, content);
	if (name != NULL && (prop == NULL || strcasecmp(name, prop) != 0))
		ph_meta_key(st, name, content);
}

/*
 * An <img> size attribute: absent is fine, else an integer (a "px"
 * suffix allowed) of at least 40. "100%" says nothing useful: skipped.
 */
static int
ph_img_dim_ok(const char *s)
{
	long v = 0;
	size_t i = 0;

	if (s == NULL)
		return 1;
	while (ph_is_space((unsigned char)s[i]))
		i++;
	if (!ph_is_digit((unsigned char)s[i]))
		return 0;
	for (; ph_is_digit((unsigned char)s[i]); i++)
		if (v < 100000)
			v = v * 10 + (s[i] - '0');
	if (strncasecmp(s + i, "px", 2) == 0)
		i += 2;
	while (ph_is_space((unsigned char)s[i]))
		i++;
	return s[i] == '\0' && v >= 40;
}

static void
ph_img(struct ph_state *st, const xmlChar **attrs)
{
	const char *src = ph_attr(attrs, "src");

	if (st->img != NULL || src == NULL ||
	    !ph_img_dim_ok(ph_attr(attrs, "width")) ||
	    !ph_img_dim_ok(ph_attr(attrs, "height")))
		return;
	/* Inline images are icons and spacers far more often than content. */
	if (mr_skip_prefix_ci(src + strspn(src, " \t\n\f\r"), "data:") != NULL)
		return;
	st->img = ph_url(st, src, 0);
}

static void
ph_base(struct ph_state *st, const xmlChar **attrs)
{
	const char *href = ph_attr(attrs, "href");
	char *v;

	if (st->has_base || href == NULL ||
	    (v = ph_clean(href, MR_PREVIEW_VALUE_MAX)) == NULL)
		return;
	st->has_base = mr_preview_resolve_url(st->page_url, v, st->base,
	    sizeof(st->base)) == 0;
	free(v);
}

static struct ph_state *
ph_state_of(void *ctx)
{
	return ((htmlParserCtxtPtr)ctx)->_private;
}

/* libxml2's HTML parser lower-cases element and attribute names. */
static void
ph_sax_start(void *ctx, const xmlChar *xname, const xmlChar **attrs)
{
	struct ph_state *st = ph_state_of(ctx);
	const char *name = (const char *)xname;

	st->events++;
	if (strcmp(name, "meta") == 0) {
		ph_meta(st, attrs);
	} else if (strcmp(name, "title") == 0) {
		if (!st->title_seen && st->svg == 0) {
			st->title_seen = 1;
			st->in_title = 1;
		}
	} else if (strcmp(name, "img") == 0) {
		ph_img(st, attrs);
	} else if (strcmp(name, "base") == 0) {
		ph_base(st, attrs);
	} else if (strcmp(name, "svg") == 0 && st->svg < INT_MAX) {
		st->svg++;
	}
}

static void
ph_sax_end(void *ctx, const xmlChar *xname)
{
	struct ph_state *st = ph_state_of(ctx);
	const char *name = (const char *)xname;

	if (strcmp(name, "title") == 0)
		st->in_title = 0;
	else if (strcmp(name, "svg") == 0 && st->svg > 0)
		st->svg--;
}

static void
ph_sax_text(void *ctx, const xmlChar *s, int n)
{
	struct ph_state *st = ph_state_of(ctx);

	st->events++;
	if (st->in_title && n > 0)
		ph_text_add(&st->title, (const char *)s, (size_t)n);
}

/* Errors are expected on real pages and must not reach stderr. */
static void
ph_sax_error(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	(void)e;
}

static int
ph_parse(struct ph_state *st, const char *utf8, size_t n)
{
	htmlParserCtxtPtr ctxt;
	htmlSAXHandlerPtr sax;

	/* Nothing left after rewriting (one unclosed comment): no events. */
	if (n == 0)
		return 0;
	xmlInitParser();
	if ((ctxt = htmlCreateMemoryParserCtxt(utf8, (int)n)) == NULL)
		return -1;
	/*
	 * No network, no error output; the encoding is ours (the bytes are
	 * UTF-8 by now, a <meta> must not switch it); no XML_PARSE_HUGE, so
	 * libxml2's own limits on names and text stay on.
	 */
	htmlCtxtUseOptions(ctxt, HTML_PARSE_NONET | HTML_PARSE_NOERROR |
	    HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER | HTML_PARSE_IGNORE_ENC);
	xmlSwitchEncoding(ctxt, XML_CHAR_ENCODING_UTF8);
	/* SAX only: no tree, so no memory or stack tied to nesting depth. */
	sax = ctxt->sax;
	memset(sax, 0, sizeof(*sax));
	sax->initialized = XML_SAX2_MAGIC;
	sax->startElement = ph_sax_start;
	sax->endElement = ph_sax_end;
	sax->characters = ph_sax_text;
	sax->ignorableWhitespace = ph_sax_text;
	sax->serror = ph_sax_error;
	ctxt->_private = st;
	htmlParseDocument(ctxt);
	if (ctxt->myDoc != NULL)
		xmlFreeDoc(ctxt->myDoc);
	htmlFreeParserCtxt(ctxt);
	return 0;
}

/* Fills key from the first non-NULL candidate when it is absent. */
static void
ph_fallback(struct ph_state *st, const char *key, char *const cands[],
    size_t n)
{
	char *v;

	if (st->nkeys >= MR_PREVIEW_KEYS_MAX ||
	    cJSON_GetObjectItemCaseSensitive(st->og, key) != NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		if (cands[i] == NULL)
			continue;
		if ((v = strdup(cands[i])) == NULL)
			st->oom = 1;
		ph_add_string(st, key, v);
		return;
	}
}

static void
ph_fallbacks(struct ph_state *st)
{
	char *title = ph_text_finish(&st->title);
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(st->og,
	    "og:image:url");
	const cJSON *su = cJSON_GetObjectItemCaseSensitive(st->og,
	    "og:image:secure_url");
	char *t[] = { st->tw_title, title };
	char *d[] = { st->tw_desc, st->desc };
	char *i[] = { cJSON_IsString(u) ? u->valuestring : NULL,
	    cJSON_IsString(su) ? su->valuestring : NULL, st->tw_image,
	    st->tw_image_src, st->img };

	ph_fallback(st, "og:title", t, 2);
	ph_fallback(st, "og:description", d, 2);
	ph_fallback(st, "og:image", i, 5);
	free(title);
}

static void
ph_state_release(struct ph_state *st)
{
	free(st->tw_title);
	free(st->tw_desc);
	free(st->tw_image);
	free(st->tw_image_src);
	free(st->desc);
	free(st->img);
	free(st->title.p);
}

cJSON *
mr_preview_html_extract(const char *body, size_t len,
    const char *content_type, const char *page_url, struct mr_err *err)
{
	struct ph_buf utf8 = { 0 }, canon = { 0 };
	struct ph_state st;

	/* libxml2 takes an int; decoding and rewriting grow the text. */
	if (body == NULL || len == 0 || len > INT_MAX / PH_BODY_DIV) {
		mr_err_set(err, 502, "M_UNKNOWN", "cannot parse html");
		return NULL;
	}
	utf8.limit = len * PH_GROWTH + 64;
	if (ph_decode(body, len, content_type, &utf8) < 0) {
		free(utf8.p);
		mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
		return NULL;
	}
	canon.limit = utf8.len * PH_CANON_GROWTH + 64;
	ph_canon(utf8.p, utf8.len, &canon);
	free(utf8.p);
	if (canon.oom || ph_buf_put(&canon, "", 0) < 0) {
		free(canon.p);
		mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
		return NULL;
	}
	memset(&st, 0, sizeof(st));
	st.page_url = page_url;
	st.title.max = MR_PREVIEW_VALUE_MAX;
	if ((st.og = cJSON_CreateObject()) == NULL ||
	    ph_parse(&st, canon.p, canon.len) < 0)
		st.oom = 1;
	free(canon.p);
	if (!st.oom)
		ph_fallbacks(&st);
	ph_state_release(&st);
	if (st.oom || st.title.oom || st.events == 0) {
		cJSON_Delete(st.og);
		if (st.oom || st.title.oom)
			mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
		else
			mr_err_set(err, 502, "M_UNKNOWN", "cannot parse html");
		return NULL;
	}
	return st.og;
}

/* --- RFC 3986 reference resolution --- */

struct ph_uri {
	const char *scheme;
	size_t scheme_len;
	const char *auth;
	size_t auth_len;
	int has_auth;
	const char *path;
	size_t path_len;
	const char *query;
	size_t query_len;
	int has_query;
};

/* RFC 3986 appendix B, by hand; the fragment is ignored. */
static void
ph_uri_split(const char *s, size_t n, struct ph_uri *u)
{
	size_t i = 0, k;

	memset(u, 0, sizeof(*u));
	if (n > 0 && ph_is_alpha((unsigned char)s[0])) {
		for (k = 1; k < n && (ph_is_alpha((unsigned char)s[k]) ||
		    ph_is_digit((unsigned char)s[k]) || s[k] == '+' ||
		    s[k] == '-' || s[k] == '.'); k++)
			;
		if (k < n && s[k] == ':') {
			u->scheme = s;
			u->scheme_len = k;
			i = k + 1;
		}
	}
	if (n - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
		i += 2;
		u->auth = s + i;
		u->has_auth = 1;
		while (i < n && s[i] != '/' && s[i] != '?' && s[i] != '#')
			i++;
		u->auth_len = (size_t)(s + i - u->auth);
	}
	u->path = s + i;
	while (i < n && s[i] != '?' && s[i] != '#')
		i++;
	u->path_len = (size_t)(s + i - u->path);
	if (i < n && s[i] == '?') {
		u->query = s + ++i;
		u->has_query = 1;
		while (i < n && s[i] != '#')
			i++;
		u->query_len = (size_t)(s + i - u->query);
	}
}

static int
ph_starts(const char *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);

	return n >= k && memcmp(s, lit, k) == 0;
}

static int
ph_is(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* RFC 3986 5.2.4 from in[0, n) into out (at most n bytes); its length. */
static size_t
ph_remove_dots(const char *in, size_t n, char *out)
{
	size_t i = 0, o = 0;

	while (i < n) {
		const char *s = in + i;
		size_t r = n - i;

		if (ph_starts(s, r, "../")) {
			i += 3;
		} else if (ph_starts(s, r, "./") || ph_starts(s, r, "/./")) {
			i += 2;
		} else if (ph_is(s, r, "/.")) {
			out[o++] = '/';
			i = n;
		} else if (ph_starts(s, r, "/../") || ph_is(s, r, "/..")) {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			if (r == 3)
				out[o++] = '/';
			i += 3;
		} else if (ph_is(s, r, ".") || ph_is(s, r, "..")) {
			i = n;
		} else {
			do
				out[o++] = in[i++];
			while (i < n && in[i] != '/');
		}
	}
	return o;
}

/* The target's parts (RFC 3986 5.2.2); path points into work. */
struct ph_target {
	const char *scheme;
	size_t scheme_len;
	const char *auth;
	size_t auth_len;
	int has_auth;
	char *path;
	size_t path_len;
	const char *query;
	size_t query_len;
	int has_query;
};

/* RFC 3986 5.2.3 merge, then dot removal, into t->path. */
static void
ph_merge(const struct ph_uri *b, const struct ph_uri *r, char *tmp,
    struct ph_target *t)
{
	size_t k = 0;

	if (b->has_auth && b->path_len == 0) {
		tmp[k++] = '/';
	} else {
		const char *slash = NULL;

		for (size_t i = 0; i < b->path_len; i++)
			if (b->path[i] == '/')
				slash = b->path + i;
		if (slash != NULL) {
			k = (size_t)(slash - b->path) + 1;
			memcpy(tmp, b->path, k);
		}
	}
	memcpy(tmp + k, r->path, r->path_len);
	t->path_len = ph_remove_dots(tmp, k + r->path_len, t->path);
}

static void
ph_transform(const struct ph_uri *b, const struct ph_uri *r, char *tmp,
    struct ph_target *t)
{
	const struct ph_uri *src = r;

	memset(t, 0, sizeof(*t));
	t->path = tmp + b->path_len + r->path_len + 2;
	if (r->scheme == NULL) {
		t->scheme = b->scheme;
		t->scheme_len = b->scheme_len;
		if (!r->has_auth) {
			src = b;
			if (r->path_len == 0) {
				memcpy(t->path, b->path, b->path_len);
				t->path_len = b->path_len;
				if (r->has_query)
					src = r;
			} else if (r->path[0] == '/') {
				t->path_len = ph_remove_dots(r->path,
				    r->path_len, t->path);
				src = r;
			} else {
				ph_merge(b, r, tmp, t);
				src = r;
			}
			t->auth = b->auth;
			t->auth_len = b->auth_len;
			t->has_auth = b->has_auth;
			t->query = src->query;
			t->query_len = src->query_len;
			t->has_query = src->has_query;
			return;
		}
	} else {
		t->scheme = r->scheme;
		t->scheme_len = r->scheme_len;
	}
	t->auth = r->auth;
	t->auth_len = r->auth_len;
	t->has_auth = r->has_auth;
	t->path_len = ph_remove_dots(r->path, r->path_len, t->path);
	t->query = r->query;
	t->query_len = r->query_len;
	t->has_query = r->has_query;
}

/* Host and port as URI characters (RFC 3986 3.2), userinfo allowed. */
static int
ph_auth_ok(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!ph_is_alpha(c) && !ph_is_digit(c) &&
		    strchr("-._~!$&'()*+,;=:@[]%", c) == NULL)
			return 0;
	}
	return 1;
}

/* Appends s[0, n), percent-encoding what may not stand in a URL. */
static int
ph_emit(char *out, size_t outsz, size_t *o, const char *s, size_t n,
    int encode)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (encode && (c <= 0x20 || c >= 0x7F ||
		    strchr("\"<>\\^`{|}", c) != NULL)) {
			if (outsz - *o <= 3)
				return -1;
			out[(*o)++] = '%';
			out[(*o)++] = hex[c >> 4];
			out[(*o)++] = hex[c & 15];
		} else {
			if (outsz - *o <= 1)
				return -1;
			out[(*o)++] = (char)(encode ? c : ph_lower(c));
		}
	}
	out[*o] = '\0';
	return 0;
}

static int
ph_target_write(const struct ph_target *t, char *out, size_t outsz)
{
	size_t o = 0;

	if (!(t->scheme_len == 4 && strncasecmp(t->scheme, "http", 4) == 0) &&
	    !(t->scheme_len == 5 && strncasecmp(t->scheme, "https", 5) == 0))
		return -1;
	if (!t->has_auth || !ph_auth_ok(t->auth, t->auth_len))
		return -1;
	if (ph_emit(out, outsz, &o, t->scheme, t->scheme_len, 0) < 0 ||
	    ph_emit(out, outsz, &o, "://", 3, 0) < 0 ||
	    outsz - o <= t->auth_len)
		return -1;
	memcpy(out + o, t->auth, t->auth_len);
	o += t->auth_len;
	if (ph_emit(out, outsz, &o, t->path, t->path_len, 1) < 0)
		return -1;
	if (t->has_query && (ph_emit(out, outsz, &o, "?", 1, 1) < 0 ||
	    ph_emit(out, outsz, &o, t->query, t->query_len, 1) < 0))
		return -1;
	return 0;
}

int
mr_preview_resolve_url(const char *base, const char *ref, char *out,
    size_t outsz)
{
	struct ph_uri b, r;
	struct ph_target t;
	size_t rn, s = 0;
	char *tmp;
	int rc;

	if (ref == NULL || out == NULL || outsz == 0)
		return -1;
	out[0] = '\0';
	rn = strlen(ref);
	while (s < rn && (unsigned char)ref[s] <= 0x20)
		s++;
	while (rn > s && (unsigned char)ref[rn - 1] <= 0x20)
		rn--;
	ph_uri_split(ref + s, rn - s, &r);
	if (r.scheme == NULL) {
		if (base == NULL)
			return -1;
		ph_uri_split(base, strlen(base), &b);
		/* A relative base resolves nothing. */
		if (b.scheme == NULL)
			return -1;
	} else {
		memset(&b, 0, sizeof(b));
	}
	/* Merge and dot removal never lengthen: two path-sized halves. */
	if ((tmp = malloc(2 * (b.path_len + r.path_len + 2))) == NULL)
		return -1;
	ph_transform(&b, &r, tmp, &t);
	rc = ph_target_write(&t, out, outsz);
	free(tmp);
	if (rc < 0)
		out[0] = '\0';
	return rc;
}

/* --- data: URLs --- */

static int
ph_b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (ph_is_digit(c))
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/*
 * WHATWG forgiving-base64 over s[0, n): whitespace skipped, "=" padding
 * optional but only at the end. With out NULL it only measures. Returns
 * the decoded length or -1.
 */
static long long
ph_b64_decode(const char *s, size_t n, unsigned char *out)
{
	size_t chars = 0, pad = 0;
	unsigned long acc = 0;
	long long o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int v;

		if (ph_is_space(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = ph_b64val(c)) < 0)
			return -1;
		acc = (acc << 6) | (unsigned long)v;
		if (++chars % 4 == 0) {
			if (out != NULL) {
				out[o] = (unsigned char)(acc >> 16);
				out[o + 1] = (unsigned char)(acc >> 8);
				out[o + 2] = (unsigned char)acc;
			}
			o += 3;
			acc = 0;
		}
	}
	if (pad > 2 || chars % 4 == 1 || (pad > 0 && (chars + pad) % 4 != 0))
		return -1;
	if (chars % 4 == 2) {
		if (out != NULL)
			out[o] = (unsigned char)(acc >> 4);
		o += 1;
	} else if (chars % 4 == 3) {
		if (out != NULL) {
			out[o] = (unsigned char)(acc >> 10);
			out[o + 1] = (unsigned char)(acc >> 2);
		}
		o += 2;
	}
	return o;
}

/* Percent-decoding; a "%" without two hex digits is malformed. */
static long long
ph_pct_decode(const char *s, size_t n, unsigned char *out)
{
	long long o = 0;

	for (size_t i = 0; i < n; i++, o++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (n - i < 3 || (hi = ph_hexval((unsigned char)s[i +
			    1])) < 0 || (lo = ph_hexval((unsigned char)s[i +
			    2])) < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (out != NULL)
			out[o] = c;
	}
	return o;
}

/* RFC 7230 tchar: what a media type's type and subtype are made of. */
static int
ph_is_tchar(unsigned char c)
{
	return ph_is_alpha(c) || ph_is_digit(c) ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The "type/subtype" before the first ';' of meta, lower-cased. */
static int
ph_data_mediatype(const char *m, size_t n, char *out, size_t outsz)
{
	size_t s = 0, e = 0, k = 0, slash = 0;

	while (e < n && m[e] != ';')
		e++;
	while (s < e && ph_is_space((unsigned char)m[s]))
		s++;
	while (e > s && ph_is_space((unsigned char)m[e - 1]))
		e--;
	if (s == e) {
		m = "text/plain";
		s = 0;
		e = strlen(m);
	}
	if (e - s >= outsz)
		return -1;
	for (; s < e; s++) {
		unsigned char c = (unsigned char)m[s];

		if (c == '/' && slash == 0 && k > 0)
			slash = k;
		else if (!ph_is_tchar(c))
			return -1;
		out[k++] = (char)ph_lower(c);
	}
	out[k] = '\0';
	return slash > 0 && slash + 1 < k ? 0 : -1;
}

/* Whether the last ';' parameter of meta is "base64". */
static int
ph_data_is_b64(const char *m, size_t n)
{
	size_t e = n, s;

	while (e > 0 && ph_is_space((unsigned char)m[e - 1]))
		e--;
	s = e;
	while (s > 0 && m[s - 1] != ';')
		s--;
	if (s == 0)
		return 0;
	while (s < e && ph_is_space((unsigned char)m[s]))
		s++;
	return e - s == 6 && strncasecmp(m + s, "base64", 6) == 0;
}

int
mr_preview_decode_data_url(const char *url, size_t max,
    unsigned char **out, size_t *outlen, char *media_type, size_t mtsz,
    struct mr_err *err)
{
	const char *meta, *comma;
	long long n;
	int b64;

	*out = NULL;
	*outlen = 0;
	if (url == NULL || (meta = mr_skip_prefix_ci(url, "data:")) == NULL ||
	    (comma = strchr(meta, ',')) == NULL ||
	    ph_data_mediatype(meta, (size_t)(comma - meta), media_type,
	    mtsz) < 0)
		return mr_err_set(err, 502, "M_UNKNOWN", "malformed data url");
	b64 = ph_data_is_b64(meta, (size_t)(comma - meta));
	comma++;
	/* Measure first, so an oversized payload costs no allocation. */
	n = b64 ? ph_b64_decode(comma, strlen(comma), NULL) :
	    ph_pct_decode(comma, strlen(comma), NULL);
	if (n < 0)
		return mr_err_set(err, 502, "M_UNKNOWN", "malformed data url");
	if ((unsigned long long)n > max)
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "data url too large");
	if ((*out = malloc(n > 0 ? (size_t)n : 1)) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	if (b64)
		ph_b64_decode(comma, strlen(comma), *out);
	else
		ph_pct_decode(comma, strlen(comma), *out);
	*outlen = (size_t)n;
	return 0;
}
