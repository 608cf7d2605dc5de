/*
 * json: cJSON helpers shared by the endpoints: Matrix error bodies, compact
 * printing, a strict parser for outside bytes and the canonical JSON of
 * spec.md 4.3 that signatures cover. The caller owns every cJSON tree it
 * builds or gets from here and every string returned (free with free()).
 */
#ifndef MR_JSON_H
#define MR_JSON_H

#include <cjson/cJSON.h>

#include "util.h"

/*
 * {"errcode": ..., "error": ...}, plus "soft_logout": true when the error
 * says so; NULL only when out of memory.
 */
char *mr_json_error_body(const struct mr_err *err);
/* Compact JSON text of obj; NULL when out of memory. */
char *mr_json_print(const cJSON *obj);

/*
 * Nesting bound of the canonical encoder, the same as cJSON's own parse
 * limit (CJSON_NESTING_LIMIT), so any tree cJSON parsed can be encoded and
 * a hand-built tree cannot exhaust the stack.
 */
#define MR_JSON_DEPTH_MAX 1000
/* The spec's integer range: +-(2^53 - 1), exact in a double. */
#define MR_JSON_INT_MAX 9007199254740991LL

/*
 * Canonical JSON of v (spec.md 4.3): keys sorted bytewise (= by code
 * point), no whitespace, raw UTF-8 with only the allowed escapes, integers
 * only. *out is malloc'ed and NUL-terminated; *len (when len is not NULL)
 * excludes the NUL. Refused with 400 M_BAD_JSON: numbers that are not
 * integers within +-MR_JSON_INT_MAX, NaN/inf, duplicate keys, invalid
 * UTF-8, raw or invalid items, nesting past MR_JSON_DEPTH_MAX. Out of
 * memory: 500. On failure *out is NULL.
 */
int mr_json_canonical(const cJSON *v, char **out, size_t *len,
    struct mr_err *err);
/*
 * The bytes spec.md 4.4 signs: canonical JSON of the object v without its
 * top-level "signatures" and "unsigned" members. v must be an object;
 * duplicates of those two keys are refused like any other duplicate.
 */
int mr_json_canonical_for_signing(const cJSON *v, char **out, size_t *len,
    struct mr_err *err);

/*
 * Parses exactly len bytes of JSON text (no NUL needed; only whitespace
 * may follow the value). Stricter than cJSON: RFC 8259 number syntax (no
 * leading zeros, no "1." or "-.5"), no raw control characters or NUL
 * bytes, valid UTF-8 only: otherwise 400 M_NOT_JSON. Valid JSON we still
 * refuse gets 400 M_BAD_JSON: nesting deeper than max_depth (scalars are
 * depth 0, "{}" is 1), duplicate keys (readers disagree on which one
 * wins, which is how signed and used content come apart) and "\u0000",
 * which a C string cannot hold. cJSON cannot tell running out of memory
 * from bad syntax, so that is a 400 M_NOT_JSON too.
 */
cJSON *mr_json_parse_strict(const char *buf, size_t len, size_t max_depth,
    struct mr_err *err);

#endif
