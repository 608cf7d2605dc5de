/*
 * preview_resolve: the URL references a page holds, made usable: relative
 * ones resolved against the page (RFC 3986), data: ones decoded (RFC
 * 2397). Pure string functions; mr_preview_decode_data_url returns a
 * malloc'ed buffer the caller frees.
 */
#ifndef MR_PREVIEW_RESOLVE_H
#define MR_PREVIEW_RESOLVE_H

#include <stddef.h>

#include "util.h"

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
