/*
 * json: cJSON helpers shared by the endpoints: Matrix error bodies and
 * compact printing. The caller owns every cJSON tree it builds and every
 * string returned here (free with free()).
 */
#ifndef MR_JSON_H
#define MR_JSON_H

#include <cjson/cJSON.h>

#include "util.h"

/* {"errcode": ..., "error": ...}; NULL only when out of memory. */
char *mr_json_error_body(const struct mr_err *err);
/* Compact JSON text of obj; NULL when out of memory. */
char *mr_json_print(const cJSON *obj);

#endif
