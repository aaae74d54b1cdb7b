/*
 * words.h: what a searchable word is, shared by the ranker, whose text
 * index is made of them (ranker/analyze.c), and the workers, which refuse a
 * query without one before asking the ranker, or when it is away.
 *
 * A word is a run of two or more word characters: ASCII letters and
 * digits, and every non-ASCII code point but Latin-1 punctuation and
 * symbols, general punctuation, symbols and arrows (U+2000..U+2BFF) and
 * CJK punctuation (U+3000..U+303F). Anything else separates words, and so
 * does a byte that is not UTF-8.
 */
#ifndef PLACESD_COMMON_WORDS_H
#define PLACESD_COMMON_WORDS_H

#include <stdbool.h>
#include <stdint.h>

#define WORDS_MIN_CHARS     2       /* characters of a word, at least */

/*
 * The code point at *sp, which moves past it; -1 (and *sp one byte on)
 * for a byte that does not start a well-formed sequence. *sp must not be
 * at the terminating NUL.
 */
int32_t words_utf8_next(const unsigned char **sp);
/* Whether cp (from words_utf8_next()) is a word character. */
bool words_is_char(int32_t cp);
/* Whether the NUL-terminated s holds at least one word. */
bool words_any(const char *s);

#endif
