/*
 * analyze.c: words of UTF-8 text -> search keys (see analyze.h): folding
 * tables, the ICAO 9303 transliteration, the stemmers, and the bounded
 * edit distance that typo tolerance uses.
 */
#include "ranker/analyze.h"
#include "common/words.h"

#include <libstemmer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * The stems last found, by the stemmer's input: a direct-mapped cache,
 * since the same words come again and again (a dish on thousands of
 * menus), and a stemmer call costs several times the rest of a word's
 * analysis. Words longer than STEM_CACHE_WORD bytes go to the stemmer.
 */
#define STEM_CACHE          4096            /* entries, a power of two */
#define STEM_CACHE_WORD     32              /* bytes of input and of stem */

struct stem_entry {
	uint8_t lang;               /* 0 empty, 1 English, 2 Russian */
	uint8_t inlen, outlen;
	char in[STEM_CACHE_WORD];
	char out[STEM_CACHE_WORD];
};

struct analyzer {
	struct sb_stemmer *en;
	struct sb_stemmer *ru;
	struct stem_entry cache[STEM_CACHE];
};

/* sb_stemmer_stem() of lang's stemmer, through the cache; NULL on ENOMEM. */
static const char *
stem_word(struct analyzer *a, uint8_t lang, const char *in, size_t n,
    size_t *outlen)
{
	struct sb_stemmer *st = lang == 1 ? a->en : a->ru;
	uint32_t h = 2166136261u ^ lang;        /* FNV-1a */
	struct stem_entry *e;
	const sb_symbol *out;
	size_t i, len;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)in[i]) * 16777619u;
	e = &a->cache[h & (STEM_CACHE - 1)];
	if (e->lang == lang && e->inlen == n && memcmp(e->in, in, n) == 0) {
		*outlen = e->outlen;
		return e->out;
	}
	if ((out = sb_stemmer_stem(st, (const sb_symbol *)in, (int)n)) == NULL)
		return NULL;
	len = (size_t)sb_stemmer_length(st);
	if (n <= STEM_CACHE_WORD && len <= STEM_CACHE_WORD) {
		e->lang = lang;
		e->inlen = (uint8_t)n;
		e->outlen = (uint8_t)len;
		memcpy(e->in, in, n);
		memcpy(e->out, out, len);
	}
	*outlen = len;
	return (const char *)out;
}

struct analyzer *
analyzer_new(void)
{
	struct analyzer *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->en = sb_stemmer_new("english", NULL);
	a->ru = sb_stemmer_new("russian", NULL);
	if (a->en == NULL || a->ru == NULL) {
		analyzer_free(a);
		return NULL;
	}
	return a;
}

void
analyzer_free(struct analyzer *a)
{
	if (a == NULL)
		return;
	sb_stemmer_delete(a->en);
	sb_stemmer_delete(a->ru);
	free(a);
}

/* --- UTF-8 ------------------------------------------------------------------ */

static size_t
utf8_put(char *out, int32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* --- folding ---------------------------------------------------------------- */

static bool
is_mark(int32_t cp)
{
	return (cp >= 0x300 && cp <= 0x36f) || (cp >= 0x1ab0 && cp <= 0x1aff) ||
	    (cp >= 0x1dc0 && cp <= 0x1dff);
}

/* U+00C0..U+00FF, folded; '*' marks those folded to two letters. */
static const char latin1[] =
	"aaaaaa*ceeeeiiii"          /* À Á Â Ã Ä Å Æ Ç È É Ê Ë Ì Í Î Ï */
	"dnooooo*ouuuuy**"          /* Ð Ñ Ò Ó Ô Õ Ö × Ø Ù Ú Û Ü Ý Þ ß */
	"aaaaaa*ceeeeiiii"
	"dnooooo*ouuuuy*y";

/* U+0100..U+017F (Latin Extended-A), folded; '*' as above (Ĳ, Œ). */
static const char latin_a[] =
	"aaaaaa" "cccccccc" "dddd" "eeeeeeeeee" "gggggggg" "hhhh"
	"iiiiiiiiii" "**" "jj" "kkk" "llllllllll" "nnnnnnnnn" "oooooo" "**"
	"rrrrrr" "ssssssss" "tttttt" "uuuuuuuuuuuu" "ww" "yyy" "zzzzzz" "s";

_Static_assert(sizeof(latin1) == 65, "latin1: 64 letters");
_Static_assert(sizeof(latin_a) == 129, "latin_a: 128 letters");

/* Letters folded to more than one: the two-letter ones of the tables, the
 * ligatures, ẞ. */
static const char *
fold_multi(int32_t cp)
{
	switch (cp) {
	case 0xc6: case 0xe6:       return "ae";
	case 0xde: case 0xfe:       return "th";
	case 0xdf: case 0x1e9e:     return "ss";
	case 0x132: case 0x133:     return "ij";
	case 0x152: case 0x153:     return "oe";
	case 0xfb00:                return "ff";
	case 0xfb01:                return "fi";
	case 0xfb02:                return "fl";
	case 0xfb03:                return "ffi";
	case 0xfb04:                return "ffl";
	case 0xfb05: case 0xfb06:   return "st";
	default:                    return NULL;
	}
}

/* A single code point's fold, or -1 when it folds to more than one. */
static int32_t
fold_one(int32_t cp)
{
	if (cp >= 'A' && cp <= 'Z')
		return cp + 32;
	if (cp < 0x80)
		return cp;
	if (cp >= 0xc0 && cp <= 0xff)
		return latin1[cp - 0xc0] == '*' ? -1 : latin1[cp - 0xc0];
	if (cp >= 0x100 && cp <= 0x17f)
		return latin_a[cp - 0x100] == '*' ? -1 : latin_a[cp - 0x100];
	switch (cp) {
	case 0x1e9e:                return -1;          /* ẞ */
	case 0x1a0: case 0x1a1:     return 'o';         /* Ơ ơ */
	case 0x1af: case 0x1b0:     return 'u';         /* Ư ư */
	case 0x18f: case 0x259:     return 'e';         /* Ə ə */
	case 0x218: case 0x219:     return 's';         /* Ș ș */
	case 0x21a: case 0x21b:     return 't';         /* Ț ț */
	case 0x401: case 0x451:     return 0x435;       /* ё -> е */
	case 0x400: case 0x450:     return 0x435;       /* ѐ -> е */
	case 0x40d: case 0x45d:     return 0x438;       /* ѝ -> и */
	case 0x490:                 return 0x491;       /* Ґ */
	}
	if (cp >= 0x410 && cp <= 0x42f)
		return cp + 0x20;
	if (cp >= 0x400 && cp <= 0x40f)
		return cp + 0x50;
	if (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2)
		return cp + 0x20;       /* Greek */
	if (cp >= 0xfb00 && cp <= 0xfb06)
		return -1;              /* ligatures */
	if (cp >= 0xff21 && cp <= 0xff3a)
		return cp - 0xff21 + 'a';       /* full-width */
	if (cp >= 0xff41 && cp <= 0xff5a)
		return cp - 0xff41 + 'a';
	if (cp >= 0xff10 && cp <= 0xff19)
		return cp - 0xff10 + '0';
	return cp;
}

/* --- transliteration ---------------------------------------------------------- */

/* ICAO Doc 9303 (2013): а .. я, U+0430..U+044F. */
static const char *const icao_ru[32] = {
	"a", "b", "v", "g", "d", "e", "zh", "z", "i", "i", "k", "l", "m",
	"n", "o", "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh",
	"shch", "ie", "y", "", "e", "iu", "ia",
};

/* ... and ѐ .. џ, U+0450..U+045F (Ukrainian, Belarusian, Serbian,
 * Macedonian letters). */
static const char *const icao_ext[16] = {
	"e", "e", "d", "g", "ie", "dz", "i", "i", "j", "lj", "nj", "c", "k",
	"i", "u", "dz",
};

/* The Latin of a folded Cyrillic letter, or NULL for any other. */
static const char *
translit(int32_t cp)
{
	if (cp >= 0x430 && cp <= 0x44f)
		return icao_ru[cp - 0x430];
	if (cp >= 0x450 && cp <= 0x45f)
		return icao_ext[cp - 0x450];
	if (cp == 0x491)
		return "g";
	return NULL;
}

/* --- a word --------------------------------------------------------------------- */

#define WORD_CPS    ANALYZE_KEY_MAX     /* folded code points kept */

struct folded {
	int32_t cp[WORD_CPS];
	size_t n;
	size_t chars;               /* letters read, marks aside */
	bool latin, cyrillic;       /* every code point a-z, or Cyrillic */
};

static void
folded_add(struct folded *f, int32_t cp)
{
	if (f->n == WORD_CPS)
		return;
	f->cp[f->n++] = cp;
	if (cp < 'a' || cp > 'z')
		f->latin = false;
	if (translit(cp) == NULL)
		f->cyrillic = false;
}

/* One input code point into f. */
static void
fold_into(struct folded *f, int32_t cp)
{
	const char *m;
	int32_t c;

	if (is_mark(cp)) {
		/* и + combining breve is й; every other mark goes */
		if (cp == 0x306 && f->n > 0 && f->cp[f->n - 1] == 0x438)
			f->cp[f->n - 1] = 0x439;
		return;
	}
	f->chars++;
	if ((c = fold_one(cp)) >= 0) {
		folded_add(f, c);
		return;
	}
	for (m = fold_multi(cp); m != NULL && *m != '\0'; m++)
		folded_add(f, *m);
}

/* Appends s[0..n) to out (ANALYZE_KEY_MAX bytes) unless it overflows. */
static bool
key_put(char *out, size_t *len, const char *s, size_t n)
{
	if (*len + n > ANALYZE_KEY_MAX)
		return false;
	memcpy(out + *len, s, n);
	*len += n;
	return true;
}

/* The key of cp[0..n): Cyrillic transliterated, the rest as UTF-8. */
static size_t
key_of(const int32_t *cp, size_t n, char *out)
{
	size_t len = 0, i, k;
	const char *t;
	char buf[4];

	for (i = 0; i < n; i++) {
		if ((t = translit(cp[i])) != NULL) {
			if (!key_put(out, &len, t, strlen(t)))
				break;
		} else {
			k = utf8_put(buf, cp[i]);
			if (!key_put(out, &len, buf, k))
				break;
		}
	}
	out[len] = '\0';
	return len;
}

/* The key of the Russian stem s[0..n) (UTF-8 from the stemmer). */
static size_t
key_of_utf8(const unsigned char *s, size_t n, char *out)
{
	int32_t cp[WORD_CPS];
	const unsigned char *p = s, *end = s + n;
	size_t k = 0;
	int32_t c;

	/* the stemmer's output is NUL terminated within its length */
	while (p < end && k < WORD_CPS)
		if ((c = words_utf8_next(&p)) >= 0)
			cp[k++] = c;
	return key_of(cp, k, out);
}

static void
stem(struct analyzer *a, const struct folded *f, struct analyze_word *w)
{
	char utf8[WORD_CPS * 4];
	const char *s = NULL;
	size_t n = 0, len = 0, i;

	if (a != NULL && f->latin)
		s = stem_word(a, 1, w->key, w->keylen, &n);
	else if (a != NULL && f->cyrillic) {
		for (i = 0; i < f->n; i++)
			len += utf8_put(utf8 + len, f->cp[i]);
		s = stem_word(a, 2, utf8, len, &n);
	}
	if (s == NULL) {                /* no stemmer, or out of memory */
		memcpy(w->stem, w->key, w->keylen + 1);
		w->stemlen = w->keylen;
	} else if (f->latin) {
		if (n > ANALYZE_KEY_MAX)
			n = ANALYZE_KEY_MAX;
		memcpy(w->stem, s, n);
		w->stem[n] = '\0';
		w->stemlen = n;
	} else {
		w->stemlen = key_of_utf8((const unsigned char *)s, n, w->stem);
	}
}

/* Reads one run of word characters from *sp into f and w->word. */
static void
read_run(const unsigned char **sp, struct folded *f, struct analyze_word *w)
{
	const unsigned char *s = *sp, *next;
	int32_t cp;
	size_t n;

	memset(f, 0, sizeof(*f));
	f->latin = f->cyrillic = true;
	w->wordlen = 0;
	while (*s != '\0') {
		next = s;
		if (!words_is_char(cp = words_utf8_next(&next)))
			break;
		n = (size_t)(next - s);
		if (w->wordlen + n <= ANALYZE_KEY_MAX) {
			memcpy(w->word + w->wordlen, s, n);
			w->wordlen += n;
		}
		fold_into(f, cp);
		s = next;
	}
	w->word[w->wordlen] = '\0';
	*sp = s;
}

static bool
all_az(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < 'a' || s[i] > 'z')
			return false;
	return n > 0;
}

bool
analyze_next(struct analyzer *a, const char **sp, struct analyze_word *w)
{
	return analyze_next_min(a, sp, w, 2);
}

bool
analyze_next_min(struct analyzer *a, const char **sp, struct analyze_word *w,
    size_t min)
{
	const unsigned char *s = (const unsigned char *)*sp, *next;
	struct folded f;

	for (;;) {
		while (*s != '\0') {        /* skip separators */
			next = s;
			if (words_is_char(words_utf8_next(&next)))
				break;
			s = next;
		}
		if (*s == '\0') {
			*sp = (const char *)s;
			return false;
		}
		read_run(&s, &f, w);
		if (f.chars >= min && f.n > 0)
			break;
	}
	*sp = (const char *)s;
	w->keylen = key_of(f.cp, f.n, w->key);
	w->spell = all_az(w->key, w->keylen);
	stem(a, &f, w);
	return true;
}

/* --- edit distance -------------------------------------------------------------- */

/* Above any distance asked: a cell outside the band. */
#define FAR     (ANALYZE_KEY_MAX + 8u)

unsigned
analyze_distance(const char *a, size_t n, const char *b, size_t m,
    unsigned max)
{
	unsigned rows[3][ANALYZE_KEY_MAX + 1], *pp, *p, *c, *t, best, v;
	size_t i, j, lo, hi;

	if (n > ANALYZE_KEY_MAX || m > ANALYZE_KEY_MAX || max >= FAR)
		return max + 1;
	if ((n > m ? n - m : m - n) > max)
		return max + 1;
	pp = rows[0];
	p = rows[1];
	c = rows[2];
	for (j = 0; j <= m; j++)
		p[j] = pp[j] = j <= max ? (unsigned)j : FAR;
	/* only the cells within max of the diagonal can end up within max */
	for (i = 1; i <= n; i++) {
		lo = i > max ? i - max : 1;
		hi = i + max < m ? i + max : m;
		c[0] = i <= max ? (unsigned)i : FAR;
		if (lo > 1)
			c[lo - 1] = FAR;
		best = c[0];
		for (j = lo; j <= hi; j++) {
			v = p[j - 1] + (a[i - 1] != b[j - 1]);
			if (p[j] + 1 < v)
				v = p[j] + 1;
			if (c[j - 1] + 1 < v)
				v = c[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			c[j] = v;
			if (v < best)
				best = v;
		}
		if (hi < m)
			c[hi + 1] = FAR;
		if (best > max)
			return max + 1;
		t = pp;             /* the row before last, the last, next */
		pp = p;
		p = c;
		c = t;
	}
	return p[m] > max ? max + 1 : p[m];
}

unsigned
analyze_max_edits(size_t n, size_t m)
{
	size_t longer = n > m ? n : m;

	if (n < 4)
		return 0;
	if (longer >= 9)
		return 2;
	return longer >= 5 ? 1 : 0;
}
