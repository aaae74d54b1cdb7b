/*
 * analyze.h: the ranker's one text-analysis pipeline, shared by the text
 * index (every word of a name, description or menu item) and the query
 * (every word of q), so that both sides reach the same keys:
 *
 * - words: runs of letters and digits of UTF-8 text; runs of fewer than
 *   two characters are skipped, invalid bytes separate;
 * - case and accent folding: lower case; Latin letters lose their marks
 *   as under NFKD with the combining marks stripped (é -> e, ü -> u,
 *   ñ -> n, ç -> c), plus what NFKD leaves whole (ß -> ss, æ -> ae,
 *   œ -> oe, ø -> o, ł -> l, đ -> d, þ -> th, ı -> i); Latin-1 Supplement,
 *   Latin Extended-A, the Romanian commas, ligatures and full-width
 *   forms. A combining mark (U+0300..U+036F) after its base letter is
 *   dropped, so decomposed text folds as composed text does. Cyrillic ё
 *   reads as е; й stays a letter of its own (the Russian stemmer tells
 *   мой from мои), written decomposed (и + U+0306) too;
 * - Cyrillic -> Latin: the table of ICAO Doc 9303 (2013), which Russian
 *   passports use since 2013 (х kh, ц ts, ч ch, ш sh, щ shch, ж zh,
 *   ю iu, я ia, ы y, ъ ie, ь dropped, й i, э e, ё e; Ukrainian,
 *   Belarusian and Serbian letters as the same table says). It is the
 *   romanisation Russians meet on their own documents and signs, it is
 *   ASCII only, and it is one letter string per letter (ISO 9 needs
 *   diacritics, which would only be folded away again). Common Latin
 *   spellings that differ from it by a letter or two ("hachapuri",
 *   "borsch") meet it through typo tolerance (score.c);
 * - stems: Snowball's English stemmer for Latin words and its Russian one
 *   for Cyrillic words (libstemmer), the Cyrillic ones stemmed before
 *   they are transliterated. Words with digits or of other scripts are
 *   their own stems.
 *
 * A word yields its key (folded and transliterated, not stemmed) and the
 * key of its stem. Keys are ASCII for Latin and Cyrillic words; other
 * scripts keep their (lower-cased) UTF-8.
 *
 * Everything here is a pure function except the stemmers: an sb_stemmer
 * keeps state between calls, so each thread uses an analyzer of its own
 * (struct analyzer: the two stemmers and a cache of the stems they last
 * gave, about 280 KB); nothing is shared between analyzers.
 */
#ifndef PLACESD_ANALYZE_H
#define PLACESD_ANALYZE_H

#include <stdbool.h>
#include <stddef.h>

#define ANALYZE_KEY_MAX     64      /* bytes of a key; the rest is cut */

struct analyzer;

struct analyze_word {
	char key[ANALYZE_KEY_MAX + 1];      /* NUL terminated */
	char stem[ANALYZE_KEY_MAX + 1];
	char word[ANALYZE_KEY_MAX + 1];     /* as written, for reasons */
	size_t keylen, stemlen, wordlen;
	bool spell;                 /* key of a-z only: typos may apply */
};

/* English and Russian stemmers; NULL on ENOMEM. One per thread. */
struct analyzer *analyzer_new(void);
void analyzer_free(struct analyzer *a);

/*
 * Reads the next word of *sp into w and advances *sp past it; false at
 * the end of the string. With a NULL analyzer, w->stem is w->key.
 */
bool analyze_next(struct analyzer *a, const char **sp,
    struct analyze_word *w);
/* The same with runs of min characters or more (1: a word being typed,
 * for autocomplete). */
bool analyze_next_min(struct analyzer *a, const char **sp,
    struct analyze_word *w, size_t min);

/*
 * The optimal string alignment distance (Levenshtein with transpositions
 * of neighbours) between a[0..n) and b[0..m), compared byte by byte; any
 * value above max is returned as max + 1, found without the full table.
 */
unsigned analyze_distance(const char *a, size_t n, const char *b, size_t m,
    unsigned max);

/*
 * The edits a query word of n letters may differ by from a key of m
 * letters: none below 4 letters in the query word; else, by the longer
 * of the two, 1 from 5 letters and 2 from 9 (so "piza" finds "pizza",
 * and no 4-letter word ever meets another 4-letter word).
 */
unsigned analyze_max_edits(size_t n, size_t m);

#endif
