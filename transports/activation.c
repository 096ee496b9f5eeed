/* activation.c - systemd socket activation and readiness (see
 * activation.h): libsystemd where configure found it, the documented
 * protocols by hand otherwise (and always built, for the unit tests). */
#include "config.h"

#include "transports/activation.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

static const char *const listen_vars[] = {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void unset_listen_vars(void)
{
    for (size_t i = 0; i < sizeof listen_vars / sizeof *listen_vars; i++)
        unsetenv(listen_vars[i]);
}

/* A decimal number that fills s (after blanks, as strtol reads it), or
 * -1. */
static long parse_count(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno || end == s || *end || v < 0 ? -1 : v;
}

/* ---- LISTEN_FDS by hand ------------------------------------------------ */

/* The names of LISTEN_FDNAMES, split at every ':' (so "" is one empty
 * name): -1 unless there are exactly nfds. Absent, each is "unknown". */
static int split_names(md_activation *act, const char *names, int nfds)
{
    bool absent = !names;
    for (int i = 0; i < nfds; i++) {
        if (absent) {
            snprintf(act->names[i], sizeof act->names[i], "unknown");
            continue;
        }
        if (!names)
            return -1; /* fewer names than descriptors */
        const char *colon = strchr(names, ':');
        size_t n = colon ? (size_t)(colon - names) : strlen(names);
        snprintf(act->names[i], sizeof act->names[i], "%.*s", (int)n, names);
        names = colon ? colon + 1 : NULL;
    }
    return names ? -1 : 0; /* more names than descriptors */
}

static int take_by_hand(md_activation *act, char *err, size_t errlen)
{
    const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
    if (!pid_s)
        return 0;
    long pid = parse_count(pid_s);
    if (pid <= 0)
        return fail(err, errlen, "LISTEN_PID='%.20s' is not a process id", pid_s);
    if (pid != (long)getpid() || !fds_s)
        return 0; /* another process's (a parent's that were not unset) */
    long nfds = parse_count(fds_s);
    if (nfds <= 0 || nfds > MD_ACTIVATION_MAX_FDS)
        return fail(err, errlen, "LISTEN_FDS='%.20s' is not a count of 1 to %d descriptors",
                    fds_s, MD_ACTIVATION_MAX_FDS);
    for (int fd = MD_LISTEN_FDS_START; fd < MD_LISTEN_FDS_START + nfds; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
            return fail(err, errlen, "descriptor %d of LISTEN_FDS: %s", fd, strerror(errno));
    }
    const char *names = getenv("LISTEN_FDNAMES");
    if (split_names(act, names, (int)nfds) < 0)
        return fail(err, errlen, "LISTEN_FDNAMES='%.40s' does not name %ld descriptors", names,
                    nfds);
    act->nfds = (int)nfds;
    return 0;
}

int md_activation_take_by_hand(md_activation *act, char *err, size_t errlen)
{
    act->nfds = 0;
    int rc = take_by_hand(act, err, errlen);
    unset_listen_vars();
    return rc;
}

/* ---- NOTIFY_SOCKET by hand ----------------------------------------------- */

int md_activation_notify_by_hand(const char *state, char *err, size_t errlen)
{
    const char *where = getenv("NOTIFY_SOCKET");
    if (!where)
        return 0; /* set but empty is an error, as for sd_notify */
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(where);
    if ((where[0] != '/' && where[0] != '@') || len >= sizeof sun.sun_path)
        return fail(err, errlen, "NOTIFY_SOCKET='%.40s' is not a Unix socket address", where);
    memcpy(sun.sun_path, where, len);
    if (where[0] == '@')
        sun.sun_path[0] = 0; /* abstract: the length counts every byte */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ssize_t sent = fd < 0 ? -1
                          : sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
                                   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    int saved = errno;
    if (fd >= 0)
        close(fd);
    if (sent < 0)
        return fail(err, errlen, "NOTIFY_SOCKET='%.40s': %s", where, strerror(saved));
    return 1;
}

/* ---- through libsystemd, or by hand ---------------------------------------- */

#ifdef HAVE_LIBSYSTEMD
/* The variables as they were, for a message: sd_listen_fds unsets them. */
static void describe_listen_vars(char *out, size_t outlen)
{
    const char *v[sizeof listen_vars / sizeof *listen_vars];
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        v[i] = getenv(listen_vars[i]);
    snprintf(out, outlen, "LISTEN_PID='%.20s' LISTEN_FDS='%.20s' LISTEN_FDNAMES='%.40s'",
             v[0] ? v[0] : "", v[1] ? v[1] : "", v[2] ? v[2] : "");
}

int md_activation_take(md_activation *act, char *err, size_t errlen)
{
    char vars[128];
    describe_listen_vars(vars, sizeof vars);
    char **names = NULL;
    act->nfds = 0;
    int n = sd_listen_fds_with_names(1, &names), rc = 0;
    if (n < 0)
        rc = fail(err, errlen, "sd_listen_fds: %s (%s)", strerror(-n), vars);
    else if (n > MD_ACTIVATION_MAX_FDS)
        rc = fail(err, errlen, "%d descriptors passed, more than %d (%s)", n,
                  MD_ACTIVATION_MAX_FDS, vars);
    else
        act->nfds = n;
    for (int i = 0; i < act->nfds; i++)
        snprintf(act->names[i], sizeof act->names[i], "%s", names[i]);
    for (int i = 0; n > 0 && names && names[i]; i++)
        free(names[i]);
    free(names);
    return rc;
}

int md_activation_notify(const char *state, char *err, size_t errlen)
{
    int rc = sd_notify(0, state);
    if (rc < 0)
        return fail(err, errlen, "sd_notify to NOTIFY_SOCKET='%.40s': %s",
                    getenv("NOTIFY_SOCKET"), strerror(-rc));
    return rc > 0;
}
#else
int md_activation_take(md_activation *act, char *err, size_t errlen)
{
    return md_activation_take_by_hand(act, err, errlen);
}

int md_activation_notify(const char *state, char *err, size_t errlen)
{
    return md_activation_notify_by_hand(state, err, errlen);
}
#endif
