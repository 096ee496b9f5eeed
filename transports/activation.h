/* activation.h - systemd socket activation: the listening sockets a
 * service manager passed (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES; the
 * protocol of sd_listen_fds(3), implemented here by hand so managerd
 * needs no libsystemd). */
#ifndef MD_ACTIVATION_H
#define MD_ACTIVATION_H

#include <stddef.h>

#include "core/base/limits.h"

/* First descriptor passed (SD_LISTEN_FDS_START). */
#define MD_LISTEN_FDS_START 3

typedef struct md_activation {
    int nfds;                  /* descriptors MD_LISTEN_FDS_START.. */
    char names[MD_ACTIVATION_MAX_FDS][64];   /* LISTEN_FDNAMES, "" when absent */
} md_activation;

/* Read and unset the variables (so children do not see them). 0 with
 * nfds 0 when none were passed to this process, nfds > 0, or -1 with a
 * message when they are malformed. Every passed descriptor gets
 * close-on-exec. */
int md_activation_take(md_activation *act, char *err, size_t errlen);

#endif /* MD_ACTIVATION_H */
