/*
 * json_text.c: the compact form of a JSON text (json_text.h), in one pass
 * that tells the inside of a string from the outside by its quotes and
 * backslashes.
 */
#include "common/json_text.h"

#include <stdbool.h>

size_t
json_compact(char *dst, const char *src, size_t n)
{
	bool in_string = false, escaped = false;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = src[i];

		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
		} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			continue;
		} else if (c == '"') {
			in_string = true;
		}
		dst[o++] = c;
	}
	return o;
}
