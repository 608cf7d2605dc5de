/*
 * header: Content-Type and Content-Disposition values, parsed and built
 * without any HTTP machinery, so that the outbound clients (fed, preview)
 * and the serving layer share them and neither depends on the other.
 */
#ifndef MR_HEADER_H
#define MR_HEADER_H

#include <stddef.h>

/* 1 when s may be an upload name: UTF-8, no control bytes, not too long. */
int mr_header_filename_ok(const char *s);

/*
 * Parses value as exactly one media type (RFC 9110 8.3.1): type "/"
 * subtype, then parameters "; name=value" (token or quoted-string value)
 * with optional whitespace around each ';', nothing before or after.
 * 0 with the lowercased "type/subtype" in essence (may be NULL); -1 for
 * anything else: a list ("a/b, c/d", "a/b;,c/d"), a bare type, bytes
 * outside printable ASCII, an essence that does not fit.
 */
int mr_header_media_type(const char *value, char *essence, size_t essence_sz);
/*
 * The Content-Type we store and send back for value from a client or a
 * remote server: value without the whitespace around it, into out. -1
 * when it is empty, longer than MR_CONTENT_TYPE_MAX or than out, or holds
 * a byte outside printable ASCII (sent back, a control byte would reach
 * the client and a CR or LF would cost the header). out may be value.
 * A stored value need not be one media type; such a value is never
 * served inline.
 */
int mr_header_content_type_clean(const char *value, char *out, size_t outsz);
/*
 * 1 when content_type is one media type (mr_header_media_type) whose
 * type/subtype may be served inline (spec 2.7), whatever its parameters.
 */
int mr_header_inline_safe(const char *content_type);
/* "inline|attachment[; filename...]" per RFC 6266/8187. */
int mr_header_content_disposition(const char *content_type, int force_inline,
    const char *filename, char *out, size_t outsz);

/*
 * The filename of a Content-Disposition value (filename*= preferred over
 * filename=), decoded; 0 and out filled, -1 when there is none or it is
 * not valid UTF-8 without control characters.
 */
int mr_header_disposition_filename(const char *value, char *out, size_t outsz);

#endif
