/*
 * http_json.c: the JSON text of answers and of the error body (see
 * http_json.h); http.c puts it on the wire.
 */
#include "runtime/http_json.h"

#include <stdlib.h>

const char http_json_oom[] = "{\"error\":{\"code\":\"internal\","
    "\"message\":\"cannot encode the answer\"}}";

json_t *
http_error_doc(const char *code, const char *message, const char *field)
{
	json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);

	if (err != NULL && field != NULL)
		json_object_set_new(err, "field", json_string(field));
	return json_pack("{s:o}", "error", err);
}

char *
http_json_text(json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);

	json_decref(body);
	return s;
}
