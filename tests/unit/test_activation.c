/* test_activation.c - socket activation and readiness
 * (transports/activation.c). The by-hand reading of LISTEN_PID,
 * LISTEN_FDS and LISTEN_FDNAMES gives the answers of
 * sd_listen_fds_with_names(3) for every case below (written out here, so
 * the test runs in a build without libsystemd too); in a build with
 * libsystemd, libsystemd itself must give the same count and names. Both
 * unset the variables and mark the descriptors close-on-exec. The
 * READY=1 datagram arrives at a Unix socket of the test, by hand and
 * through sd_notify alike. */
#include "config.h"

#include "tests/unit/unit.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/base/error.h"
#include "tests/unit/harness.h"
#include "transports/activation.h"

typedef int (*take_fn)(md_activation *act, char *err, size_t errlen);
typedef int (*notify_fn)(const char *state, char *err, size_t errlen);

/* ---- descriptors 3.. for the test, the runner's own put back after ---- */

#define SLOTS (MD_ACTIVATION_MAX_FDS + 1)

typedef struct slots {
    int n;              /* descriptors 3..3+n-1 saved */
    int saved[SLOTS];   /* the runner's copy (-1: it had none) */
    int flags[SLOTS];
} slots;

/* Descriptors 3.. : nopen of /dev/null (close-on-exec off), then nclosed
 * closed ones. */
static void slots_fill(slots *s, int nopen, int nclosed)
{
    s->n = nopen + nclosed;
    CU_ASSERT_FATAL(s->n <= SLOTS);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int high = null < 0 ? -1 : fcntl(null, F_DUPFD_CLOEXEC, 3 + SLOTS);
    CU_ASSERT_FATAL(high >= 0);
    close(null);
    for (int i = 0; i < s->n; i++) {
        int fd = MD_LISTEN_FDS_START + i;
        s->flags[i] = fcntl(fd, F_GETFD);
        s->saved[i] = s->flags[i] < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3 + SLOTS);
        CU_ASSERT_FATAL(s->flags[i] < 0 || s->saved[i] >= 0);
        if (i < nopen) {
            CU_ASSERT_FATAL(dup2(high, fd) == fd); /* dup2 leaves close-on-exec off */
        } else {
            close(fd);
        }
    }
    close(high);
}

static void slots_restore(slots *s)
{
    for (int i = 0; i < s->n; i++) {
        int fd = MD_LISTEN_FDS_START + i;
        if (s->saved[i] < 0) {
            close(fd);
            continue;
        }
        dup2(s->saved[i], fd);
        fcntl(fd, F_SETFD, s->flags[i]);
        close(s->saved[i]);
    }
}

static bool cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    return flags >= 0 && (flags & FD_CLOEXEC);
}

static void cloexec_off(int first, int n)
{
    for (int fd = first; fd < first + n; fd++)
        fcntl(fd, F_SETFD, 0);
}

/* ---- the cases ---------------------------------------------------------------- */

#define LONG_NAME "a-name-of-seventy-characters-which-is-longer-than-names-can-hold-here"

typedef struct act_case {
    const char *what;
    const char *pid;    /* "self", "parent", as written, NULL: unset */
    const char *fds;    /* NULL: unset */
    const char *names;  /* NULL: unset */
    int nopen;          /* descriptors open at 3.. */
    int rc;             /* what sd_listen_fds_with_names gives: */
    int nfds;
    const char *want[3]; /* the first names (NULL: not checked) */
} act_case;

static const act_case cases[] = {
    {"nothing passed", NULL, NULL, NULL, 3, 0, 0, {NULL}},
    {"LISTEN_FDS without LISTEN_PID", NULL, "1", "a", 3, 0, 0, {NULL}},
    {"LISTEN_PID without LISTEN_FDS", "self", NULL, NULL, 3, 0, 0, {NULL}},
    {"another process's", "parent", "3", "a:b:c", 3, 0, 0, {NULL}},
    {"LISTEN_PID not a number", "abc", "1", NULL, 3, -1, 0, {NULL}},
    {"LISTEN_PID zero", "0", "1", NULL, 3, -1, 0, {NULL}},
    {"LISTEN_FDS not a number", "self", "many", NULL, 3, -1, 0, {NULL}},
    {"LISTEN_FDS zero", "self", "0", NULL, 3, -1, 0, {NULL}},
    {"LISTEN_FDS negative", "self", "-1", NULL, 3, -1, 0, {NULL}},
    {"a descriptor not open", "self", "2", NULL, 1, -1, 0, {NULL}},
    {"fewer names than descriptors", "self", "3", "a:b", 3, -1, 0, {NULL}},
    {"more names than descriptors", "self", "1", "a:b", 3, -1, 0, {NULL}},
    {"a trailing colon is one more name", "self", "2", "a:b:", 3, -1, 0, {NULL}},
    {"no LISTEN_FDNAMES: unknown", "self", "2", NULL, 3, 0, 2, {"unknown", "unknown"}},
    {"an empty LISTEN_FDNAMES is one empty name", "self", "1", "", 3, 0, 1, {""}},
    {"two empty names", "self", "2", ":", 3, 0, 2, {"", ""}},
    {"three named", "self", "3", "pickle:xmlrpclib:managerd.socket", 3, 0, 3,
     {"pickle", "xmlrpclib", "managerd.socket"}},
    {"a long name is cut", "self", "1", LONG_NAME, 3, 0, 1, {NULL}},
};

static void set_or_unset(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

static void set_listen_vars(const act_case *c)
{
    char pid[32];
    const char *p = c->pid;
    if (p && (!strcmp(p, "self") || !strcmp(p, "parent"))) {
        snprintf(pid, sizeof pid, "%ld", (long)(!strcmp(p, "self") ? getpid() : getppid()));
        p = pid;
    }
    set_or_unset("LISTEN_PID", p);
    set_or_unset("LISTEN_FDS", c->fds);
    set_or_unset("LISTEN_FDNAMES", c->names);
}

static bool listen_vars_unset(void)
{
    return !getenv("LISTEN_PID") && !getenv("LISTEN_FDS") && !getenv("LISTEN_FDNAMES");
}

/* One take with the case's variables: rc, and the variables gone. */
static int take_case(const act_case *c, take_fn take, md_activation *act, char *err)
{
    set_listen_vars(c);
    memset(act, 0x5a, sizeof *act);
    err[0] = 0;
    int rc = take(act, err, MD_ERRMSG_SIZE);
    CU_ASSERT(listen_vars_unset());
    if (rc < 0)
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "LISTEN_"));
    return rc;
}

static void check_expected(const act_case *c, int rc, const md_activation *act, const char *err)
{
    if (rc != c->rc || (rc == 0 && act->nfds != c->nfds))
        fprintf(stderr, "\n    %s: rc %d nfds %d (%s)\n", c->what, rc, act->nfds, err);
    CU_ASSERT_EQUAL(rc, c->rc);
    if (rc != 0)
        return;
    CU_ASSERT_EQUAL_FATAL(act->nfds, c->nfds);
    for (int i = 0; i < c->nfds; i++) {
        if (i < (int)(sizeof c->want / sizeof *c->want) && c->want[i])
            CU_ASSERT_STRING_EQUAL(act->names[i], c->want[i]);
        CU_ASSERT(cloexec(MD_LISTEN_FDS_START + i));
    }
}

static void test_activation_by_hand_gives_sd_listen_fds_answers(void)
{
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const act_case *c = &cases[k];
        slots s;
        slots_fill(&s, c->nopen, 1);
        md_activation act;
        char err[MD_ERRMSG_SIZE];
        int rc = take_case(c, md_activation_take_by_hand, &act, err);
        check_expected(c, rc, &act, err);
        slots_restore(&s);
    }
}

static void test_activation_long_name_cut_to_fit(void)
{
    slots s;
    slots_fill(&s, 1, 0);
    md_activation act;
    char err[MD_ERRMSG_SIZE];
    const act_case c = {"long", "self", "1", LONG_NAME, 1, 0, 1, {NULL}};
    CU_ASSERT_EQUAL(take_case(&c, md_activation_take, &act, err), 0);
    CU_ASSERT_EQUAL(strlen(act.names[0]), sizeof act.names[0] - 1);
    CU_ASSERT_EQUAL(strncmp(act.names[0], LONG_NAME, sizeof act.names[0] - 1), 0);
    slots_restore(&s);
}

/* Every limit twice: MD_ACTIVATION_MAX_FDS descriptors are taken, one
 * more is refused before any is touched. */
static void test_activation_max_fds(void)
{
    char count[16];
    slots s;
    slots_fill(&s, MD_ACTIVATION_MAX_FDS + 1, 0);
    snprintf(count, sizeof count, "%d", MD_ACTIVATION_MAX_FDS);
    act_case c = {"at the limit", "self", count, NULL, 0, 0, MD_ACTIVATION_MAX_FDS, {NULL}};
    md_activation act;
    char err[MD_ERRMSG_SIZE];
    check_expected(&c, take_case(&c, md_activation_take, &act, err), &act, err);
    CU_ASSERT_STRING_EQUAL(act.names[MD_ACTIVATION_MAX_FDS - 1], "unknown");
    cloexec_off(MD_LISTEN_FDS_START, MD_ACTIVATION_MAX_FDS + 1);
    snprintf(count, sizeof count, "%d", MD_ACTIVATION_MAX_FDS + 1);
    c.rc = -1;
    CU_ASSERT_EQUAL(take_case(&c, md_activation_take, &act, err), -1);
    CU_ASSERT_EQUAL(act.nfds, 0);
    slots_restore(&s);
}

#ifdef HAVE_LIBSYSTEMD
/* The same variables, by hand and through libsystemd: the same rc,
 * count and names, and close-on-exec set by each. */
static void test_activation_libsystemd_agrees(void)
{
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const act_case *c = &cases[k];
        slots s;
        slots_fill(&s, c->nopen, 1);
        md_activation hand, lib;
        char err[MD_ERRMSG_SIZE];
        int rc_hand = take_case(c, md_activation_take_by_hand, &hand, err);
        cloexec_off(MD_LISTEN_FDS_START, c->nopen);
        int rc_lib = take_case(c, md_activation_take, &lib, err);
        check_expected(c, rc_lib, &lib, err);
        CU_ASSERT_EQUAL(rc_lib, rc_hand);
        CU_ASSERT_EQUAL(lib.nfds, hand.nfds);
        for (int i = 0; rc_lib == 0 && rc_hand == 0 && i < lib.nfds && i < hand.nfds; i++)
            CU_ASSERT_STRING_EQUAL(lib.names[i], hand.names[i]);
        slots_restore(&s);
    }
}
#endif

/* ---- READY=1 ------------------------------------------------------------------ */

/* A datagram socket at path (or, with abstract, at "@"path): its fd. */
static int notify_listener(const char *where)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(where);
    CU_ASSERT_FATAL(len < sizeof sun.sun_path);
    memcpy(sun.sun_path, where, len);
    if (where[0] == '@')
        sun.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sun,
                         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) == 0);
    return fd;
}

/* NOTIFY_SOCKET=where: notify sends READY=1 there and leaves the
 * variable set. */
static void notify_arrives(notify_fn notify, const char *where)
{
    int fd = notify_listener(where);
    setenv("NOTIFY_SOCKET", where, 1);
    char err[MD_ERRMSG_SIZE] = "";
    CU_ASSERT_EQUAL(notify("READY=1", err, sizeof err), 1);
    char got[32] = "";
    ssize_t n = recv(fd, got, sizeof got - 1, MSG_DONTWAIT); /* queued before sendto returned */
    CU_ASSERT_EQUAL(n, 7);
    CU_ASSERT_STRING_EQUAL(got, "READY=1");
    CU_ASSERT_PTR_NOT_NULL(getenv("NOTIFY_SOCKET"));
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

static void notify_cases(notify_fn notify)
{
    char dir[256], path[300], abstract[64];
    CU_ASSERT_PTR_NOT_NULL_FATAL(md_th_mkdtemp(dir, sizeof dir, "md-unit-notify"));
    snprintf(path, sizeof path, "%s/notify", dir);
    snprintf(abstract, sizeof abstract, "@md-unit-notify-%ld", (long)getpid());
    char err[MD_ERRMSG_SIZE];
    unsetenv("NOTIFY_SOCKET");
    CU_ASSERT_EQUAL(notify("READY=1", err, sizeof err), 0);
    notify_arrives(notify, path);
    unlink(path);
    notify_arrives(notify, abstract);
    /* nobody listening there now, and addresses that are no Unix ones (set
     * but empty too, as sd_notify says) */
    setenv("NOTIFY_SOCKET", path, 1);
    CU_ASSERT_EQUAL(notify("READY=1", err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "NOTIFY_SOCKET"));
    static const char *const not_unix[] = {"relative/notify", ""};
    for (size_t i = 0; i < sizeof not_unix / sizeof *not_unix; i++) {
        setenv("NOTIFY_SOCKET", not_unix[i], 1);
        CU_ASSERT_EQUAL(notify("READY=1", err, sizeof err), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "NOTIFY_SOCKET"));
    }
    unsetenv("NOTIFY_SOCKET");
    rmdir(dir);
}

static void test_activation_notify_by_hand(void)
{
    notify_cases(md_activation_notify_by_hand);
}

/* md_activation_notify is sd_notify with libsystemd: the same answers. */
static void test_activation_notify(void)
{
    notify_cases(md_activation_notify);
}

void md_test_register_activation(void)
{
    CU_pSuite s = md_test_suite("activation");
    MD_ADD_TEST(s, test_activation_by_hand_gives_sd_listen_fds_answers);
    MD_ADD_TEST(s, test_activation_long_name_cut_to_fit);
    MD_ADD_TEST(s, test_activation_max_fds);
#ifdef HAVE_LIBSYSTEMD
    MD_ADD_TEST(s, test_activation_libsystemd_agrees);
#endif
    MD_ADD_TEST(s, test_activation_notify_by_hand);
    MD_ADD_TEST(s, test_activation_notify);
}
