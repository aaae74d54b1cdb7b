/*
 * json_text.h: the compact form of a JSON text, as every answer has it
 * (docs/api.md, "Conventions"): the same text without the whitespace
 * between its tokens. PostgreSQL writes json_build_object() as
 * {"id" : 1, "name" : "x"}, json_agg() with ", " and line breaks, and
 * jsonb with ": " and ", "; the worker answers them compact.
 */
#ifndef PLACESD_JSON_TEXT_H
#define PLACESD_JSON_TEXT_H

#include <stddef.h>

/*
 * Writes the n bytes of src without the spaces, tabs, CRs and LFs that
 * stand outside its strings to dst (n bytes are room enough; dst may be
 * src) and returns how many it wrote. Strings are copied byte for byte,
 * their escapes included. src is taken to be JSON: other text comes out
 * with its whitespace outside quotes dropped.
 */
size_t json_compact(char *dst, const char *src, size_t n);

#endif
