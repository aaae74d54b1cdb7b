/*
 * openapi.c: GET /openapi.json, the HTTP contract (docs/openapi.yaml) as
 * JSON. The bytes are docs/openapi.json, built into the program by
 * Makefile.am (src/api/openapi_json.c, generated), so that answering
 * reads no file and every worker of one version serves the same bytes;
 * they change only with the program, hence the long Cache-Control.
 */
#include "api/api.h"

void
api_openapi(struct http_req *r)
{
	http_add_header(r, "Cache-Control", "public, max-age=300");
	http_reply(r, 200, "application/json; charset=utf-8",
	    api_openapi_json, api_openapi_json_len);
}
