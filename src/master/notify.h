/*
 * notify.h: sd_notify(3), written natively: one datagram to $NOTIFY_SOCKET.
 * A no-op when not started by systemd.
 */
#ifndef PLACESD_NOTIFY_H
#define PLACESD_NOTIFY_H

void notify_init(void);
void notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void notify_close(void);

#endif
