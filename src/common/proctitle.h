/*
 * proctitle.h: process titles in ps(1), as nginx does: "placesd: master",
 * "placesd: worker 3 (gen 2)". The argv area is overwritten in place after
 * the environment has been moved out of its way.
 */
#ifndef PLACESD_PROCTITLE_H
#define PLACESD_PROCTITLE_H

/* Call once from main() before anything reads argv or environ again. */
int proctitle_init(int argc, char **argv);
void proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
