/*
 * health_doc.c: the bodies of /healthz and /readyz (see health_doc.h);
 * health.c answers them.
 */
#include "api/health_doc.h"

#include <stdio.h>
#include <string.h>

size_t
api_healthz_text(unsigned slot, unsigned gen, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "{\"status\":\"ok\",\"worker\":%d,"
	    "\"generation\":%d}", (int)slot, (int)gen);

	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

json_t *
api_readyz_doc(bool db_up, bool ranker_up)
{
	json_t *missing = json_array(), *err;
	char msg[64] = "not ready:";

	if (!db_up) {
		json_array_append_new(missing, json_string("database"));
		strcat(msg, " database");
	}
	if (!ranker_up) {
		json_array_append_new(missing, json_string("ranker"));
		strcat(msg, json_array_size(missing) > 1 ? ", ranker" : " ranker");
	}
	if (json_array_size(missing) == 0) {
		json_decref(missing);
		return json_pack("{s:s}", "status", "ready");
	}
	err = json_pack("{s:s, s:s, s:o}", "code", "unavailable", "message",
	    msg, "missing", missing);
	return json_pack("{s:o}", "error", err);
}
