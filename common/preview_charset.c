/*
 * preview_charset: a fetched page's bytes as UTF-8 (see preview_charset.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* memmem; the Makefile defines it, a fuzz build may not */
#endif
#include "preview_charset.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

int
mr_preview_to_utf8(const char *b, size_t n, const char *content_type,
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
