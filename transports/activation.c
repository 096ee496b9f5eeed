/* activation.c - systemd socket activation (see activation.h). */
#include "transports/activation.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A decimal number that fills s, or -1. */
static long parse_count(const char *s)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : -1;
    return !s || errno || end == s || *end || v < 0 ? -1 : v;
}

static void split_names(md_activation *act, const char *names)
{
    for (int i = 0; i < act->nfds; i++)
        act->names[i][0] = 0;
    for (int i = 0; names && *names && i < act->nfds; i++) {
        const char *colon = strchr(names, ':');
        size_t n = colon ? (size_t)(colon - names) : strlen(names);
        snprintf(act->names[i], sizeof act->names[i], "%.*s", (int)n, names);
        names = colon ? colon + 1 : NULL;
    }
}

int md_activation_take(md_activation *act, char *err, size_t errlen)
{
    act->nfds = 0;
    const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
    long pid = parse_count(pid_s), nfds = parse_count(fds_s);
    int rc = 0;
    if (!fds_s || !pid_s || pid != (long)getpid()) {
        /* none, or another process's (a parent's that were not unset) */
    } else if (nfds < 0 || nfds > MD_ACTIVATION_MAX_FDS) {
        snprintf(err, errlen, "LISTEN_FDS='%.20s' is not a count of 0 to %d descriptors", fds_s,
                 MD_ACTIVATION_MAX_FDS);
        rc = -1;
    } else {
        act->nfds = (int)nfds;
        split_names(act, getenv("LISTEN_FDNAMES"));
        for (int i = 0; i < act->nfds && rc == 0; i++) {
            int fd = MD_LISTEN_FDS_START + i;
            int flags = fcntl(fd, F_GETFD);
            if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
                snprintf(err, errlen, "descriptor %d of LISTEN_FDS: %s", fd, strerror(errno));
                rc = -1;
            }
        }
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return rc;
}
