/*
 * preview_html: turns a fetched HTML page into the OpenGraph object of a
 * URL preview (spec.md 6.1), before the caller swaps og:image for an mxc://
 * URI. The bytes are first made UTF-8 by preview_charset.h; URLs in the
 * page are resolved by preview_resolve.h.
 *
 * Ownership: mr_preview_html_extract returns a new cJSON object that the
 * caller frees with cJSON_Delete. Nothing is kept between calls; it is
 * safe to call from several threads once xmlInitParser has run (extract
 * calls it; it is idempotent).
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

#endif
