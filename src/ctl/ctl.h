/*
 * ctl.h: what every placesctl command shares: its exit codes and the way
 * it reports a failure ("placesctl: what failed: why" on stderr).
 */
#ifndef PLACESD_CTL_H
#define PLACESD_CTL_H

enum ctl_exit {
	CTL_OK = 0,             /* done */
	CTL_RUNTIME = 1,        /* the database or the system failed */
	CTL_USAGE = 2           /* bad command line or configuration */
};

void ctl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
