/*
 * preview_html: HTML page to OpenGraph object (see preview_html.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* memmem; the Makefile defines it, a fuzz build may not */
#endif
#include "preview_html.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "preview_charset.h"
#include "preview_resolve.h"

/*
 * Bounds on how text grows: decoding (U+FFFD is 3 bytes for 1), then
 * escaping in ph_canon ("&quot;" for '"'); the body limit keeps the
 * product within libxml2's int.
 */
#define PH_GROWTH 4
#define PH_CANON_GROWTH 6
#define PH_BODY_DIV 32

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
	if (mr_preview_to_utf8(body, len, content_type, &utf8) < 0) {
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
