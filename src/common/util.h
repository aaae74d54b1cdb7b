/*
 * util.h: small helpers every role uses: clocks, value parsers for the
 * configuration (durations, sizes, booleans, integers) and fd flags.
 */
#ifndef PLACESD_UTIL_H
#define PLACESD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

uint64_t util_now_ms(void);
uint64_t util_now_us(void);

/* Parsers return 0 on success, -1 with a short reason in err. */
int util_parse_duration_ms(const char *s, uint64_t *ms, char *err, size_t errlen);
int util_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen);
int util_parse_bool(const char *s, bool *out, char *err, size_t errlen);
int util_parse_uint(const char *s, uint64_t *out, char *err, size_t errlen);

/* 0..15 for a hex digit, else -1. */
int util_hex_value(int c);

int util_set_nonblock(int fd);
int util_set_cloexec(int fd);
/* 0..999 from a cheap per-process sequence, to spread retries. */
unsigned util_jitter_permille(unsigned *seq);
/* A timeval of ms milliseconds, for libevent timers. */
struct timeval util_tv(uint64_t ms);
/* A thread priority: nice 0..19, or this for SCHED_IDLE (runs only on
 * CPU time nothing else wants, and yields at once to any thread that
 * wakes up). */
#define UTIL_NICE_IDLE 20
/* Lowers the calling thread's CPU priority to nice n (0: leaves it) or,
 * for UTIL_NICE_IDLE, to the SCHED_IDLE policy; -1 and errno if not. */
int util_thread_nice(int n);
/* Moves the calling process into a session, and so a scheduler autogroup,
 * of its own and gives that group nice n (1..19): with autogroups on, the
 * scheduler first shares CPU time between groups, and a thread's own
 * priority (even SCHED_IDLE) only counts inside its group. 1 if done, 0 if
 * the kernel has no autogroups, -1 and errno if not. */
int util_own_autogroup(int n);
/* Asks the scheduler for a short time slice, ns nanoseconds (the kernel
 * takes 100us..100ms), for the calling thread under its normal policy:
 * from Linux 6.12 (EEVDF) a thread that sleeps most of the time and runs
 * in short bursts, an event loop, then preempts on wake-up what runs
 * with longer slices, in its scheduler group and in others. 0 if done,
 * -1 and errno if the kernel refused; older kernels take it and ignore
 * it. */
int util_short_slice(uint64_t ns);
/* The n last decimal digits of v, zero-padded, at p; returns the end. */
char *util_put_digits(char *p, uint64_t v, int n);
/* v in decimal at p (20 bytes at most), no padding; returns the end. */
char *util_put_uint(char *p, uint64_t v);
/* Names the calling thread (15 bytes at most are kept), as top -H and
 * /proc/PID/task/TID/comm show it. */
void util_thread_name(const char *name);
unsigned util_cpu_count(void);
/* FNV-1a 64 of n bytes at p, continued from h (UTIL_FNV_BASIS to start):
 * the cursors' checks, a few dozen bytes. */
#define UTIL_FNV_BASIS 0xcbf29ce484222325ull
uint64_t util_fnv1a64(uint64_t h, const void *p, size_t n);
/* A 64-bit hash of n bytes at p, eight at a time (little-endian words,
 * so every host gives the same): the answers' ETags, which hash whole
 * bodies, several times faster than FNV-1a's byte at a time. */
uint64_t util_hash64(const void *p, size_t n);

#endif
