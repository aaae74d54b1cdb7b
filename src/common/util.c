/*
 * util.c: clocks, configuration value parsers and fd helpers shared by every
 * process role. Nothing here allocates or logs.
 */
#include "common/util.h"

#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

uint64_t
util_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
util_now_ms(void)
{
	return util_now_us() / 1000u;
}

/* Digits only, no sign, no blanks, no overflow. */
static int
parse_digits(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		s++;
	}
	*sp = s;
	*out = v;
	return 0;
}

int
util_parse_uint(const char *s, uint64_t *out, char *err, size_t errlen)
{
	if (parse_digits(&s, out) != 0 || *s != '\0') {
		snprintf(err, errlen, "not a non-negative integer");
		return -1;
	}
	return 0;
}

int
util_parse_duration_ms(const char *s, uint64_t *ms, char *err, size_t errlen)
{
	static const struct { const char *unit; uint64_t mult; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	uint64_t v;
	size_t i;

	if (parse_digits(&s, &v) != 0) {
		snprintf(err, errlen, "not a duration (use e.g. 250ms, 5s, 2m)");
		return -1;
	}
	if (*s == '\0') {
		snprintf(err, errlen, "duration needs a unit (ms, s, m or h)");
		return -1;
	}
	for (i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(s, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].mult / 1000) {
				snprintf(err, errlen, "duration too large");
				return -1;
			}
			*ms = v * units[i].mult;
			return 0;
		}
	}
	snprintf(err, errlen, "unknown duration unit \"%s\" (use ms, s, m or h)", s);
	return -1;
}

int
util_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
	uint64_t v, mult = 1;

	if (parse_digits(&s, &v) != 0) {
		snprintf(err, errlen, "not a size (use e.g. 8192, 8k, 1m)");
		return -1;
	}
	if (strcasecmp(s, "k") == 0)
		mult = 1024;
	else if (strcasecmp(s, "m") == 0)
		mult = 1024 * 1024;
	else if (*s != '\0') {
		snprintf(err, errlen, "unknown size unit \"%s\" (use k or m)", s);
		return -1;
	}
	if (v > UINT64_MAX / mult) {
		snprintf(err, errlen, "size too large");
		return -1;
	}
	*bytes = v * mult;
	return 0;
}

int
util_parse_bool(const char *s, bool *out, char *err, size_t errlen)
{
	static const char *yes[] = { "on", "yes", "true", "1" };
	static const char *no[] = { "off", "no", "false", "0" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	snprintf(err, errlen, "not a boolean (use on or off)");
	return -1;
}

int
util_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
util_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int
util_set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl == -1)
		return -1;
	return fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

unsigned
util_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1u : (unsigned)n;
}

int
util_thread_nice(int n)
{
	struct sched_param sp = { .sched_priority = 0 };
	int rc;

	if (n == UTIL_NICE_IDLE) {
		if ((rc = pthread_setschedparam(pthread_self(), SCHED_IDLE,
		    &sp)) != 0) {
			errno = rc;
			return -1;
		}
		return 0;
	}
	if (n <= 0)
		return 0;
	/* Linux: a thread's nice value is its own (PRIO_PROCESS on its tid) */
	return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), n);
}

char *
util_put_digits(char *p, uint64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

char *
util_put_uint(char *p, uint64_t v)
{
	uint64_t x = v;
	int n = 1;

	while (x >= 10) {
		x /= 10;
		n++;
	}
	return util_put_digits(p, v, n);
}

/* sched_setattr(2)'s argument, version 1 (the kernel's ABI; glibc 2.36
 * has no wrapper, and linux/sched/types.h clashes with sched.h) */
struct slice_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
	uint32_t sched_util_min, sched_util_max;
};

int
util_short_slice(uint64_t ns)
{
	struct slice_attr attr;
	int nice;

	errno = 0;
	nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	if (nice == -1 && errno != 0)
		return -1;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.sched_policy = SCHED_OTHER;
	attr.sched_nice = nice;     /* kept as it is */
	attr.sched_runtime = ns;
	return (int)syscall(SYS_sched_setattr, 0, &attr, 0);
}

int
util_own_autogroup(int n)
{
	char buf[8];
	int fd, len, tries, saved, rc = -1;

	if (setsid() == -1 && getsid(0) != getpid())
		return -1;
	if ((fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	len = snprintf(buf, sizeof(buf), "%d", n);
	/* unprivileged writes are limited to one per 100 ms system-wide */
	for (tries = 0; tries < 5; tries++) {
		if (write(fd, buf, (size_t)len) == len) {
			rc = 1;
			break;
		}
		if (errno != EAGAIN)
			break;
		(void)usleep(110 * 1000);
	}
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

void
util_thread_name(const char *name)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%s", name);
	(void)pthread_setname_np(pthread_self(), buf);
}

struct timeval
util_tv(uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	return tv;
}

unsigned
util_jitter_permille(unsigned *seq)
{
	*seq = *seq * 1103515245u + 12345u;
	return (*seq >> 16) % 1000;
}

static uint64_t
rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* MurmurHash3's mixing of one word into the state, and its finalizer. */
static uint64_t
hash_word(uint64_t h, uint64_t w)
{
	w *= 0x87c37b91114253d5ull;
	w = rotl64(w, 31);
	w *= 0x4cf5ad432745937full;
	h ^= w;
	return rotl64(h, 27) * 5 + 0x52dce729;
}

uint64_t
util_hash64(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;

	for (; n >= 8; b += 8, n -= 8) {
		memcpy(&w, b, 8);
		h = hash_word(h, le64toh(w));
	}
	if (n > 0) {
		w = 0;
		while (n > 0)
			w = (w << 8) | b[--n];
		h = hash_word(h, w);
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

uint64_t
util_fnv1a64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}
