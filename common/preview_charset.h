/*
 * preview_charset: a fetched HTML page's bytes as UTF-8, so the HTML
 * parser (preview_html.c) only ever sees valid UTF-8 and never switches
 * encoding itself.
 *
 * The charset is chosen in this order: the charset= parameter
 * of content_type; a byte order mark (UTF-8, UTF-16 LE/BE); the first
 * <meta charset> or <meta http-equiv="Content-Type" content="...;
 * charset=..."> in the first MR_PREVIEW_PRESCAN_MAX bytes; else UTF-8 when
 * the bytes are valid UTF-8 (an incomplete sequence cut off at the end
 * does not count against it), else windows-1252. A label we cannot decode
 * is skipped and the next step decides. Labels follow WHATWG where that
 * matters: iso-8859-1, latin1 and us-ascii mean windows-1252, a <meta>
 * that says utf-16 means UTF-8. The body is transcoded to UTF-8 here
 * (iconv, or a built-in windows-1252 table) with every undecodable byte
 * replaced by U+FFFD.
 */
#ifndef MR_PREVIEW_CHARSET_H
#define MR_PREVIEW_CHARSET_H

#include <stddef.h>

#include "preview_bytes.h"

/* How far the <meta charset> prescan looks, as browsers do (WHATWG 1024). */
#define MR_PREVIEW_PRESCAN_MAX 4096

/*
 * Appends the n bytes at b, decoded as above, to out as UTF-8 (never more
 * than out->limit bytes; undecodable bytes become U+FFFD). content_type:
 * the HTTP Content-Type value or NULL. out->p is NUL-terminated and not
 * NULL on success. Returns -1 only when out of memory.
 */
int mr_preview_to_utf8(const char *b, size_t n, const char *content_type,
    struct ph_buf *out);

#endif
