/*
 * json: Matrix error bodies and printing (see json.h).
 */
#include "json.h"

#include <stdlib.h>

char *
mr_json_error_body(const struct mr_err *err)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	if (o == NULL)
		return NULL;
	if (cJSON_AddStringToObject(o, "errcode",
	    err->errcode ? err->errcode : "M_UNKNOWN") != NULL &&
	    cJSON_AddStringToObject(o, "error", err->msg) != NULL)
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

char *
mr_json_print(const cJSON *obj)
{
	return cJSON_PrintUnformatted(obj);
}
