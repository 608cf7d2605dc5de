/*
 * preview_html: turns a fetched HTML page into the OpenGraph object of a
 * URL preview (spec.md 6.1), before the caller swaps og:image for an mxc://
 * URI. Also the two URL helpers it needs: RFC 3986 reference resolution
 * and data: URL decoding.
 *
 * Ownership: mr_preview_html_extract returns a new cJSON object that the
 * caller frees with cJSON_Delete; mr_preview_decode_data_url returns a
 * malloc'ed buffer the caller frees. Nothing is kept between calls; the
 * functions are safe to call from several threads once xmlInitParser has
 * run (extract calls it; it is idempotent).
 *
 * Decoding. The charset is chosen in this order: the charset= parameter
 * of content_type; a byte order mark (UTF-8, UTF-16 LE/BE); the first
 * <meta charset> or <meta http-equiv="Content-Type" content="...;
 * charset=..."> in the first MR_PREVIEW_PRESCAN_MAX bytes; else UTF-8 when
 * the bytes are valid UTF-8 (an incomplete sequence cut off at the end
 * does not count against it), else windows-1252. A label we cannot decode
 * is skipped and the next step decides. Labels follow WHATWG where that
 * matters: iso-8859-1, latin1 and us-ascii mean windows-1252, a <meta>
 * that says utf-16 means UTF-8. The body is transcoded to UTF-8 here
 * (iconv, or a built-in windows-1252 table) with every undecodable byte
 * replaced by U+FFFD, so libxml2 only ever sees valid UTF-8 and never
 * switches encoding itself (HTML_PARSE_IGNORE_ENC).
 *
 * Parsing is libxml2's HTML parser in recover mode, without network,
 * without error output, and in SAX mode: no tree is built, so memory stays
 * near the size of the input and nesting depth costs nothing (a 100000-deep
 * <div> nest parses in linear time). Before that the markup is rewritten
 * into a canonical form (start tags as name="value" with at most 64
 * attributes; comments, script and style contents dropped; "<" in title
 * and textarea escaped), because libxml2 2.9 is quadratic in the number
 * of attributes of one tag (200000 of them took 30 s).
 *
 * Extraction, in order of precedence for each key:
 *  - every <meta property="og:*" content> (or name="og:*"); the first
 *    usable occurrence of a key wins, one that is dropped (below) does not
 *    block a later one;
 *  - og:title <- twitter:title <- <title> (outside <svg>);
 *    og:description <- twitter:description <- <meta name="description">;
 *    og:image <- og:image:url <- og:image:secure_url <- twitter:image <-
 *    twitter:image:src <- the first <img> whose width and height
 *    attributes, where present, are integers >= 40 (so 1x1 tracking pixels
 *    are skipped), and whose src is not a data: URL.
 * Values: ASCII whitespace runs collapse to one space and the ends are
 * trimmed; a value that is then empty, not UTF-8, holds a control
 * character (C0, DEL, C1) or is longer than MR_PREVIEW_VALUE_MAX bytes is
 * dropped, never cut. URL keys (og:image, og:image:url,
 * og:image:secure_url, og:url, og:video*, og:audio*, twitter:image) are
 * resolved against the document's first <base href> or else page_url and
 * kept only when the result is absolute http or https; og:image keys (and
 * twitter:image) may instead hold a data: URL of up to
 * MR_PREVIEW_DATA_URL_MAX bytes, kept as is for the caller to decode.
 * og:image:width/height and og:video:width/height become JSON integers
 * when they are decimal integers in [1, 2^31 - 1], else they are dropped.
 * Keys are lower-cased, at most MR_PREVIEW_KEY_MAX characters of
 * [a-z0-9:_.-], and at most MR_PREVIEW_KEYS_MAX keys are returned.
 *
 * Errors are 502 M_UNKNOWN: the bytes come from a remote site.
 */
#ifndef MR_PREVIEW_HTML_H
#define MR_PREVIEW_HTML_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "util.h"

/* A longer value is dropped, not cut: half a title misleads. */
#define MR_PREVIEW_VALUE_MAX 1000
/* Inline data: images, kept for the caller; bigger ones are dropped. */
#define MR_PREVIEW_DATA_URL_MAX 65536
#define MR_PREVIEW_KEY_MAX 100
#define MR_PREVIEW_KEYS_MAX 100
/* How far the <meta charset> prescan looks, as browsers do (WHATWG 1024). */
#define MR_PREVIEW_PRESCAN_MAX 4096

/*
 * Decodes an HTML page and extracts its OpenGraph properties into a new
 * cJSON object (see above). body/len: the bytes as fetched, already capped
 * by the caller (len <= INT_MAX / 32). content_type: the HTTP Content-Type
 * value or NULL. page_url: the final URL after redirects, or NULL, in
 * which case only absolute URLs are kept. Returns NULL with err (502
 * M_UNKNOWN "cannot parse html") only when nothing can be parsed at all:
 * an empty or oversized body, or no parser event whatsoever (a body of
 * only whitespace, or one unclosed comment); a page without tags gives
 * {}. Out of memory also returns NULL (500).
 */
cJSON *mr_preview_html_extract(const char *body, size_t len,
    const char *content_type, const char *page_url, struct mr_err *err);

/*
 * Resolves the reference ref against base (RFC 3986 5.2: merge, removal
 * of "." and ".." segments, scheme-relative "//host", query-only "?q");
 * the fragment is dropped and the scheme lower-cased. base may be NULL,
 * then ref must be absolute. Leading and trailing bytes <= 0x20 of ref are
 * ignored; spaces, non-ASCII and "<>\"\\^`{|}" in the path and query are
 * percent-encoded. The result must be http or https with a non-empty
 * authority of URI characters only (no IDN: the caller would need
 * punycode). Returns 0 with a NUL-terminated out, or -1 (refused, or
 * outsz too small).
 */
int mr_preview_resolve_url(const char *base, const char *ref, char *out,
    size_t outsz);

/*
 * Decodes "data:[<type>/<subtype>][;param...][;base64],<data>" (RFC 2397;
 * base64 as WHATWG's forgiving decoder: ASCII whitespace ignored, padding
 * optional) into a malloc'ed *out of *outlen bytes (never NULL on
 * success), and its lower-cased media type without parameters
 * ("text/plain" when none) into media_type. Returns -1 with err when the
 * URL is malformed, the media type does not fit mtsz, or the data would
 * exceed max bytes (checked before allocating).
 */
int mr_preview_decode_data_url(const char *url, size_t max,
    unsigned char **out, size_t *outlen, char *media_type, size_t mtsz,
    struct mr_err *err);

#endif
