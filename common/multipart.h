/*
 * multipart: the multipart/mixed framing of the federation media API
 * (spec.md 3.1): exactly two parts, JSON metadata first, then either the
 * media bytes or a part with a Location header.
 *
 * Writer (server side): the media bytes are streamed, so the writer only
 * formats the constant text around them; nothing is allocated.
 *
 * Parser (client side): a push parser fed the response body in chunks of
 * any size. Its memory is one fixed struct (about 72 KiB, allocated by
 * _new, freed by _free) whatever the input: the metadata part is kept
 * whole up to MR_MULTIPART_JSON_MAX, a header block up to
 * MR_MULTIPART_HEADER_MAX, and the media body is handed to on_body as it
 * arrives, never copied whole. A delimiter split across chunks is tracked
 * as a match position in the known delimiter text, so no lookbehind buffer
 * is needed at all.
 *
 * Leniency (the spec's own examples need it): LF line endings, a missing
 * final "--", a missing final line break, and a delimiter right at the
 * start of a part body (the examples' empty Location part). Strictness:
 * exactly two parts, no header folding, no bare CR in headers.
 *
 * Every error is 502 M_UNKNOWN: the bytes come from a remote server.
 */
#ifndef MR_MULTIPART_H
#define MR_MULTIPART_H

#include <stddef.h>

#include "util.h"

#define MR_MULTIPART_BOUNDARY_LEN 32	/* what we send */
#define MR_MULTIPART_BOUNDARY_MAX 70	/* RFC 2046 5.1.1 */
#define MR_MULTIPART_JSON_MAX 65536	/* metadata part body */
#define MR_MULTIPART_HEADER_MAX 8192	/* one part's header block */

/* --- writer --- */

/*
 * A random boundary of 32 characters from [A-Za-z0-9], NUL-terminated.
 * A token, so the Content-Type needs no quoting.
 */
void mr_multipart_boundary(char out[MR_MULTIPART_BOUNDARY_LEN + 1]);

/*
 * Everything before the media bytes:
 * "--B\r\nContent-Type: application/json\r\n\r\n{}\r\n"
 * "--B\r\nContent-Type: T\r\nContent-Disposition: D\r\n\r\n".
 * Returns the length written (a NUL follows), or -1 if it does not fit, the
 * boundary is invalid or a header value holds a control character (which
 * could forge headers).
 */
int mr_multipart_head(char *out, size_t outsz, const char *boundary,
    const char *content_type, const char *disposition);
/* Everything after the media bytes: "\r\n--B--\r\n". */
int mr_multipart_tail(char *out, size_t outsz, const char *boundary);
/*
 * A whole body whose second part redirects: the JSON part, then
 * "--B\r\nLocation: URL\r\n\r\n\r\n--B--\r\n".
 */
int mr_multipart_location(char *out, size_t outsz, const char *boundary,
    const char *url);

/* --- parser --- */

/*
 * Boundary of a Content-Type value "multipart/mixed; boundary=...": type
 * and parameter names compared case-insensitively, the value a token or a
 * quoted string, 1 to 70 characters of the RFC 2046 bchars. Other
 * parameters are checked for syntax and ignored; a second boundary is an
 * error. Returns 0 or -1.
 */
int mr_multipart_parse_content_type(const char *content_type,
    char boundary[MR_MULTIPART_BOUNDARY_MAX + 1], struct mr_err *err);

/*
 * Callbacks, each optional (NULL skips it). A callback returns 0, or -1
 * after filling err; the parser then fails with that err untouched.
 * Strings passed in are valid only during the call.
 */
struct mr_multipart_handler {
	/* Part 1 body, whole (NUL-terminated too), once its end is seen. */
	int (*on_json)(void *arg, const char *json, size_t len,
	    struct mr_err *err);
	/*
	 * Each header of part 2 in order, name and value trimmed, name as
	 * received (compare case-insensitively). Part 1's headers are
	 * checked for syntax only.
	 */
	int (*on_header)(void *arg, const char *name, const char *value,
	    struct mr_err *err);
	/* Once, after part 2's headers and before any body byte. */
	int (*on_body_start)(void *arg, struct mr_err *err);
	/* Part 2 body bytes in order, in chunks of any size (never 0). */
	int (*on_body)(void *arg, const void *buf, size_t len,
	    struct mr_err *err);
	void *arg;
};

struct mr_multipart_parser;

/* boundary as from mr_multipart_parse_content_type; h is copied. */
int mr_multipart_parser_new(struct mr_multipart_parser **out,
    const char *boundary, const struct mr_multipart_handler *h,
    struct mr_err *err);
/*
 * Feeds the next bytes. Returns 0, or -1 on malformed input (502
 * M_UNKNOWN "malformed multipart: ...") or a failed callback; after -1 the
 * parser only fails.
 */
int mr_multipart_parser_feed(struct mr_multipart_parser *p, const void *buf,
    size_t len, struct mr_err *err);
/*
 * End of input. 0 when both parts are complete: the close delimiter was
 * seen (the epilogue after it is ignored), or the input ended on or right
 * after a delimiter following part 2 (no final "--", no final line break).
 * -1 otherwise, e.g. a body cut short.
 */
int mr_multipart_parser_finish(struct mr_multipart_parser *p,
    struct mr_err *err);
void mr_multipart_parser_free(struct mr_multipart_parser *p);

#endif
