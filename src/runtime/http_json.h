/*
 * http_json.h: the JSON text of the worker's answers, without the HTTP
 * around it, so that a unit test can read the bytes (tests/unit/test_json).
 *
 * Strings are written as jansson writes them (JSON_COMPACT): '"', '\\'
 * and U+0001..U+001F escaped (\b \f \n \r \t, else \u00XX), everything
 * else, DEL and UTF-8 included, as it is. A string ends at its first NUL
 * byte. A string that is not valid UTF-8 cannot be encoded: a code or
 * message that is not gives no document (the answer is http_json_oom),
 * a field that is not is left out of the error body.
 */
#ifndef PLACESD_RUNTIME_HTTP_JSON_H
#define PLACESD_RUNTIME_HTTP_JSON_H

#include <jansson.h>

/* The body of a 500 answer when an answer cannot be encoded. */
extern const char http_json_oom[];

/* {"error":{"code":...,"message":...[,"field":...]}} (docs/api.md,
 * "Errors"); field may be NULL. NULL when it cannot be built. */
json_t *http_error_doc(const char *code, const char *message,
    const char *field);

/* The compact text of body (the caller frees it), or NULL when body is
 * NULL or cannot be written. Takes the reference to body. */
char *http_json_text(json_t *body);

#endif
