/*
 * words.c: the word characters and words of words.h. The ranker's
 * analyzer (ranker/analyze.c) reads text with these, and a worker asks
 * words_any() of a query's q, so that both agree on what can be found.
 */
#include "common/words.h"

int32_t
words_utf8_next(const unsigned char **sp)
{
	const unsigned char *s = *sp;
	int32_t cp;
	int n, i;

	if (s[0] < 0x80) {
		*sp = s + 1;
		return s[0];
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 1, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 2, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 3, cp = s[0] & 0x07;
	else {
		*sp = s + 1;
		return -1;
	}
	for (i = 1; i <= n; i++) {      /* stops at the NUL, if it comes */
		if ((s[i] & 0xc0) != 0x80) {
			*sp = s + 1;
			return -1;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	*sp = s + n + 1;
	return cp;
}

bool
words_is_char(int32_t cp)
{
	if (cp < 0)
		return false;
	if (cp < 0x80)
		return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
		    (cp >= 'A' && cp <= 'Z');
	if (cp < 0xc0 || cp == 0xd7 || cp == 0xf7)
		return false;
	if ((cp >= 0x2000 && cp <= 0x2bff) || (cp >= 0x3000 && cp <= 0x303f))
		return false;
	return true;
}

bool
words_any(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned run = 0;

	while (*p != '\0') {
		if (!words_is_char(words_utf8_next(&p)))
			run = 0;
		else if (++run >= WORDS_MIN_CHARS)
			return true;
	}
	return false;
}
