/* activation.h - systemd socket activation and readiness: the listening
 * sockets a service manager passed (LISTEN_PID, LISTEN_FDS,
 * LISTEN_FDNAMES, with the semantics of sd_listen_fds_with_names(3)) and
 * the READY=1 message to NOTIFY_SOCKET (sd_notify(3)). Built with
 * libsystemd (configure's --with-libsystemd) managerd calls it; without,
 * the same documented protocols are followed by hand. The by-hand
 * functions are built either way, so the unit tests can hold the two to
 * the same answers. */
#ifndef MD_ACTIVATION_H
#define MD_ACTIVATION_H

#include <stddef.h>

#include "core/base/limits.h"

/* First descriptor passed (SD_LISTEN_FDS_START). */
#define MD_LISTEN_FDS_START 3

typedef struct md_activation {
    int nfds;                  /* descriptors MD_LISTEN_FDS_START.. */
    /* LISTEN_FDNAMES, one per descriptor ("unknown" when the variable is
     * absent, as libsystemd says); longer names are cut */
    char names[MD_ACTIVATION_MAX_FDS][64];
} md_activation;

/* Read and unset the variables (so children do not see them). 0 with
 * nfds 0 when none were passed to this process (no LISTEN_PID or
 * LISTEN_FDS, or another process's id), 0 with nfds > 0, or -1 with a
 * message when they are malformed: LISTEN_PID not a process id,
 * LISTEN_FDS not a count of 1 to MD_ACTIVATION_MAX_FDS, LISTEN_FDNAMES
 * set with another number of names. Every passed descriptor gets
 * close-on-exec. libsystemd's sd_listen_fds_with_names when built with
 * it, else md_activation_take_by_hand. */
int md_activation_take(md_activation *act, char *err, size_t errlen);
int md_activation_take_by_hand(md_activation *act, char *err, size_t errlen);

/* Send state (e.g. "READY=1") to the service manager at NOTIFY_SOCKET,
 * which stays set. 1 when sent, 0 when NOTIFY_SOCKET is unset, -1 with a
 * message otherwise. libsystemd's sd_notify when built with it, else
 * md_activation_notify_by_hand (Unix socket addresses only: a path, or
 * '@' for the abstract namespace). */
int md_activation_notify(const char *state, char *err, size_t errlen);
int md_activation_notify_by_hand(const char *state, char *err, size_t errlen);

#endif /* MD_ACTIVATION_H */
