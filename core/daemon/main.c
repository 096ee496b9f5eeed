/* main.c - the managerd program: command line, authkey, listeners, the
 * event loop, and a clean shutdown on SIGTERM, SIGINT or a client's
 * shutdown request. */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/disp/disp.h"
#include "core/base/limits.h"
#include "core/base/log.h"
#include "core/types/registry.h"
#include "transports/activation.h"
#include "transports/wire/address.h"
#include "transports/wire/auth.h"
#include "transports/http.h"
#include "transports/listen.h"
#include "transports/metrics.h"

#define MAX_LISTEN 32
#define MAX_REG 256

typedef struct options {
    const char *listen[MAX_LISTEN];
    size_t nlisten;
    const char *authkey_file;
    const char *reg[MAX_REG];     /* "NAME=TYPE" */
    bool reg_shared[MAX_REG];
    size_t nreg;
    size_t max_message;
    size_t max_connections;
    const char *metrics;          /* --metrics spec, or NULL */
    const char *log_file;         /* --log-file, or NULL for stderr */
    bool ignore_sigint;           /* as the server a manager's start() makes */
} options;

/* The typeids --register and --share take, from the registry's table
 * (core/types/registry.h), wrapped like the text above them. */
static void usage_types(FILE *f)
{
    enum { WIDTH = 72 };
    int col = fprintf(f, "TYPE:");
    bool listed;
    const md_type *t;
    for (size_t i = 0; (t = md_reg_builtin_at(i, &listed)); i++) {
        if (!listed)
            continue;
        if (col + 1 + (int)strlen(t->name) > WIDTH)
            col = fprintf(f, "\n     ") - 1;
        col += fprintf(f, " %s", t->name);
    }
    fputc('\n', f);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: managerd [--listen ADDRESS]... [--authkey-file FILE]\n"
            "                [--register NAME=TYPE]... [--share NAME=TYPE]...\n"
            "                [--log-level error|warning|info|debug]\n"
            "                [--log-format text|json] [--log-file FILE]\n"
            "                [--max-message BYTES] [--max-connections N]\n"
            "                [--metrics http://HOST:PORT[/PATH] | --metrics PORT | --metrics /PATH]\n"
            "                [--ignore-sigint] [--help] [--version]\n"
            "\n"
            "ADDRESS: tcp://HOST:PORT, HOST:PORT ([V6]:PORT), unix:PATH, unix:@NAME,\n"
            "         http://HOST:PORT[/PATH], each optionally ?serializer=pickle|xmlrpclib|auto\n"
            "         (default: 127.0.0.1:50000)\n"
            "The authkey is read from --authkey-file or the MANAGERD_AUTHKEY environment\n"
            "variable (never from the command line); without either, managerd makes a\n"
            "random key, writes it to a file only you can read, and prints where.\n");
    usage_types(f);
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"authkey-file", required_argument, NULL, 'k'},
        {"register", required_argument, NULL, 'r'},
        {"share", required_argument, NULL, 's'},
        {"log-level", required_argument, NULL, 'L'},
        {"max-message", required_argument, NULL, 'm'},
        {"max-connections", required_argument, NULL, 'c'},
        {"metrics", required_argument, NULL, 'M'},
        {"log-format", required_argument, NULL, 'F'},
        {"log-file", required_argument, NULL, 'O'},
        {"ignore-sigint", no_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            if (o->nlisten == MAX_LISTEN)
                return fprintf(stderr, "managerd: too many --listen\n"), -1;
            o->listen[o->nlisten++] = optarg;
            break;
        case 'k': o->authkey_file = optarg; break;
        case 'r':
        case 's':
            if (o->nreg == MAX_REG || !strchr(optarg, '='))
                return fprintf(stderr, "managerd: --%s wants NAME=TYPE\n",
                               ch == 'r' ? "register" : "share"), -1;
            o->reg_shared[o->nreg] = ch == 's';
            o->reg[o->nreg++] = optarg;
            break;
        case 'L': {
            int lv = md_log_parse_level(optarg);
            if (lv < 0)
                return fprintf(stderr, "managerd: unknown log level '%s'\n", optarg), -1;
            md_log_set_level((md_log_level)lv);
            break;
        }
        case 'm':
            if (parse_size(optarg, &o->max_message) < 0)
                return fprintf(stderr, "managerd: bad --max-message '%s'\n", optarg), -1;
            break;
        case 'c':
            if (parse_size(optarg, &o->max_connections) < 0)
                return fprintf(stderr, "managerd: bad --max-connections '%s'\n", optarg), -1;
            break;
        case 'M': o->metrics = optarg; break;
        case 'O': o->log_file = optarg; break;
        case 'F': {
            int f = md_log_parse_format(optarg);
            if (f < 0)
                return fprintf(stderr, "managerd: unknown log format '%s'\n", optarg), -1;
            md_log_set_format((md_log_format)f);
            break;
        }
        case 'I': o->ignore_sigint = true; break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf("managerd %s\n", PACKAGE_VERSION); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "managerd: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* ---- authkey ------------------------------------------------------------- */

/* An empty key would let anyone in (and HTTP take an empty password). */
static md_auth_key *key_checked(const uint8_t *key, size_t len, const char *where)
{
    if (len == 0) {
        fprintf(stderr, "managerd: the authkey from %s is empty: refusing to start\n", where);
        return NULL;
    }
    if (len < MD_AUTHKEY_WARN_BELOW)
        md_log_warning("the authkey from %s has only %zu bytes; use at least %d random bytes",
                       where, len, MD_AUTHKEY_WARN_BELOW);
    return md_auth_key_new(key, len);
}

static md_auth_key *key_from_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "managerd: cannot read authkey file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    if (more) {
        fprintf(stderr, "managerd: authkey file %s is larger than 4096 bytes\n", path);
        return NULL;
    }
    /* One trailing newline is an editor's, not the key's. */
    if (n && buf[n - 1] == '\n')
        n--;
    md_auth_key *k = key_checked(buf, n, path);
    sodium_memzero(buf, sizeof buf);
    return k;
}

/* The generated key's file and folder, removed at exit. */
static char key_file[4200];
static char key_dir[4200];

/* A folder for the key: $XDG_RUNTIME_DIR (which must be ours, 0700, not
 * a symbolic link), otherwise a fresh private one made by mkdtemp, so
 * that no other local user can have made it first. */
static int key_folder(char *dir, size_t len)
{
    char err[MD_ERRMSG_SIZE];
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && *xdg) {
        if (md_addr_check_folder(xdg, true, err, sizeof err) < 0) {
            fprintf(stderr, "managerd: XDG_RUNTIME_DIR: %s\n", err);
            return -1;
        }
        snprintf(dir, len, "%s", xdg);
        return 0;
    }
    /* mkdtemp's folder is private whatever its parent, so $TMPDIR is
     * honoured as other programs honour it. */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || tmp[0] != '/')
        tmp = "/tmp";
    int n = snprintf(dir, len, "%s/managerd-%ld.XXXXXX", tmp, (long)getuid());
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "managerd: TMPDIR is too long for the authkey's folder\n");
        return -1;
    }
    if (!mkdtemp(dir)) {
        fprintf(stderr, "managerd: cannot create a folder for the authkey: %s\n", strerror(errno));
        return -1;
    }
    snprintf(key_dir, sizeof key_dir, "%s", dir);
    return 0;
}

/* No key given: make one the user can read, and say where it is. */
static md_auth_key *key_generate(void)
{
    uint8_t raw[32];
    char hex[65];
    char dir[4096];
    if (key_folder(dir, sizeof dir) < 0)
        return NULL;
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    snprintf(key_file, sizeof key_file, "%s/managerd-authkey.%ld", dir, (long)getpid());
    /* O_EXCL: never write into a file (or FIFO) someone put there. The
     * folder is ours alone, so what is there is a crashed run's left-over
     * with our PID: remove it once. */
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = open(key_file, flags, 0600);
    if (fd < 0 && errno == EEXIST && unlink(key_file) == 0)
        fd = open(key_file, flags, 0600);
    if (fd < 0 || write(fd, hex, 64) != 64) {
        fprintf(stderr, "managerd: cannot write %s: %s\n", key_file, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(key_file);
        }
        key_file[0] = 0;
        return NULL;
    }
    close(fd);
    md_log_info("no authkey given: generated one in %s (use authkey=open(PATH, 'rb').read())", key_file);
    fprintf(stdout, "managerd: authkey file %s\n", key_file);
    fflush(stdout);
    md_auth_key *k = md_auth_key_new((const uint8_t *)hex, 64);
    sodium_memzero(hex, sizeof hex);
    return k;
}

static void key_remove_generated(void)
{
    if (key_file[0])
        unlink(key_file);
    if (key_dir[0])
        rmdir(key_dir);
}

static md_auth_key *load_key(const options *o)
{
    if (o->authkey_file)
        return key_from_file(o->authkey_file);
    const char *env = getenv("MANAGERD_AUTHKEY");
    if (env)
        return key_checked((const uint8_t *)env, strlen(env), "MANAGERD_AUTHKEY");
    return key_generate();
}

/* ---- running ------------------------------------------------------------- */

typedef struct app {
    struct event_base *base;
    md_server *srv;
    md_listeners *ls;
    md_http *http;
    md_metrics *metrics;
} app;

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    app *a = arg;
    md_log_info("signal %d: shutting down", (int)sig);
    event_base_loopbreak(a->base);
}

/* SIGHUP: logrotate moved the --log-file; write to a new one. */
static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what, (void)arg;
    if (md_log_reopen() < 0)
        md_log_error("cannot reopen the log file: %s", strerror(errno));
    else
        md_log_info("SIGHUP: log file reopened");
}

static void on_shutdown_request(void *arg)
{
    app *a = arg;
    md_log_info("shutdown requested by a client");
    md_listen_stop_accepting(a->ls);
    /* Let the reply to the shutdown request leave first. */
    struct timeval tv = {0, 100000};
    event_base_loopexit(a->base, &tv);
}

static md_val *token_address(const md_addr *a)
{
    if (a->kind == MD_ADDR_TCP) {
        md_val *host = md_str_from_cstr(a->host);
        md_val *port = md_int_from_i64(a->port);
        md_val *t = host && port ? md_tuple_pack(2, host, port) : NULL;
        md_decref(host);
        md_decref(port);
        return t;
    }
    if (a->kind == MD_ADDR_ABSTRACT) {
        char name[110];
        name[0] = 0;
        size_t n = strlen(a->path);
        memcpy(name + 1, a->path, n);
        return md_str_new(name, n + 1);
    }
    return md_str_from_cstr(a->path);
}

static int add_registrations(md_server *srv, const options *o)
{
    for (size_t i = 0; i < o->nreg; i++) {
        /* NAME=TYPE of any length (parse_options checked the '='). */
        const char *eq = strchr(o->reg[i], '=');
        char *name = md_strndup(o->reg[i], (size_t)(eq - o->reg[i]));
        char err[MD_ERRMSG_SIZE];
        int rc = name ? md_reg_add(srv, name, eq + 1,
                                   o->reg_shared[i] ? MD_REG_SHARED : MD_REG_TYPE, err, sizeof err)
                      : (snprintf(err, sizeof err, "out of memory"), -1);
        md_free(name);
        if (rc < 0) {
            fprintf(stderr, "managerd: %s\n", err);
            return -1;
        }
    }
    return 0;
}

/* Log and print a listener; the first non-HTTP one is the address
 * written into tokens. */
static void announce(app *a, const md_addr *addr, bool *have_address, const char *how)
{
    char text[300];
    md_addr_format(addr, text, sizeof text);
    md_log_info("listening on %s (serializer %s)%s", text, addr->serializer, how);
    printf("managerd: listening on %s\n", text);
    if (!*have_address && addr->kind != MD_ADDR_HTTP) {
        md_val *t = token_address(addr);
        md_server_set_address(a->srv, t);
        md_decref(t);
        *have_address = true;
    }
}

/* A passed socket's serializer: its FileDescriptorName= when that names
 * one, else pickle (what Python clients speak). */
static const char *activated_serializer(const char *name)
{
    static const char *const known[] = {"pickle", "xmlrpclib", "auto"};
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(name, known[i]))
            return known[i];
    return "pickle";
}

/* Type=notify: the service manager starts what depends on managerd once
 * every listener is up. A NOTIFY_SOCKET left over from elsewhere must not
 * stop a server that works; under systemd the start times out anyway. */
static void notify_ready(void)
{
    char err[MD_ERRMSG_SIZE];
    if (md_activation_notify("READY=1", err, sizeof err) < 0)
        md_log_warning("cannot tell the service manager managerd is ready: %s", err);
}

static int start_listeners(app *a, const options *o, const md_auth_key *key)
{
    md_listen_opts lo = {.max_message = o->max_message,
                         .max_connections = o->max_connections,
                         .key = key};
    md_http_opts ho = {.max_body = o->max_message, .key = key};
    if (o->metrics && o->metrics[0] == '/')
        ho.metrics_path = o->metrics;
    a->ls = md_listen_new(a->srv, a->base, &lo);
    ho.conns = a->ls;
    a->http = md_http_new(a->srv, a->base, &ho);
    if (!a->ls || !a->http)
        return -1;
    md_activation act;
    char err[MD_ERRMSG_SIZE];
    if (md_activation_take(&act, err, sizeof err) < 0) {
        fprintf(stderr, "managerd: socket activation: %s\n", err);
        return -1;
    }
    bool have_address = false;
    for (int i = 0; i < act.nfds; i++) {
        md_addr addr;
        if (md_listen_add_fd(a->ls, MD_LISTEN_FDS_START + i, activated_serializer(act.names[i]),
                             &addr, err, sizeof err) < 0) {
            fprintf(stderr, "managerd: socket activation: %s\n", err);
            return -1;
        }
        announce(a, &addr, &have_address, " (socket activation)");
    }
    size_t nlisten = o->nlisten;
    const char *const *specs = o->listen;
    static const char *const dflt[] = {"127.0.0.1:50000"};
    if (nlisten == 0 && act.nfds == 0)
        specs = dflt, nlisten = 1;
    for (size_t i = 0; i < nlisten; i++) {
        md_addr addr;
        if (md_addr_parse(specs[i], &addr, err, sizeof err) < 0 ||
            (addr.kind == MD_ADDR_HTTP ? md_http_listen(a->http, &addr, err, sizeof err)
                                       : md_listen_add(a->ls, &addr, err, sizeof err)) < 0) {
            fprintf(stderr, "managerd: %s\n", err);
            return -1;
        }
        announce(a, &addr, &have_address, "");
    }
    fflush(stdout);
    return 0;
}

/* --metrics: the Prometheus endpoint, off unless asked for. */
static int start_metrics(app *a, const options *o)
{
    if (!o->metrics)
        return 0;
    if (o->metrics[0] == '/') {
        if (!md_http_listening(a->http)) {
            fprintf(stderr, "managerd: --metrics %s needs an http:// listener\n", o->metrics);
            return -1;
        }
        md_log_info("metrics at %s on the http:// listener", o->metrics);
        return 0;
    }
    char url[400], err[300];
    a->metrics = md_metrics_new(a->srv, a->base, o->metrics, url, sizeof url, err, sizeof err);
    if (!a->metrics) {
        fprintf(stderr, "managerd: %s\n", err);
        return -1;
    }
    md_log_info("metrics on %s", url);
    printf("managerd: metrics on %s\n", url);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    memset(&o, 0, sizeof o);
    if (parse_options(argc, argv, &o) < 0)
        return 2;
    if (sodium_init() < 0) {
        fprintf(stderr, "managerd: libsodium failed to initialise\n");
        return 1;
    }
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        fprintf(stderr, "managerd: cannot ignore SIGPIPE: %s\n", strerror(errno));
        return 1;
    }
    if (o.log_file && md_log_open_file(o.log_file) < 0) {
        fprintf(stderr, "managerd: cannot open log file %s: %s\n", o.log_file, strerror(errno));
        return 1;
    }
    md_listen_raise_fd_limit();
    md_auth_key *key = load_key(&o);
    if (!key)
        return 1;
    app a = {0};
    int status = 1;
    a.base = md_listen_base_new();
    a.srv = a.base ? md_server_new(a.base, NULL) : NULL;
    if (!a.srv || md_reg_add_syncmanager(a.srv) < 0 || add_registrations(a.srv, &o) < 0)
        goto out;
    md_server_set_shutdown_hook(a.srv, on_shutdown_request, &a);
    if (start_listeners(&a, &o, key) < 0 || start_metrics(&a, &o) < 0)
        goto out;
    struct event *sigterm = evsignal_new(a.base, SIGTERM, on_signal, &a);
    /* A server that a program starts as its manager ignores SIGINT, as
     * CPython's manager process does (bpo-36368): Ctrl-C in the terminal
     * reaches the whole process group, and the program's clean-up after
     * KeyboardInterrupt still needs its manager. */
    struct event *sigint = NULL;
    bool sig_ok = sigterm && evsignal_add(sigterm, NULL) == 0;
    if (o.ignore_sigint)
        sig_ok = sig_ok && signal(SIGINT, SIG_IGN) != SIG_ERR;
    else {
        sigint = evsignal_new(a.base, SIGINT, on_signal, &a);
        sig_ok = sig_ok && sigint && evsignal_add(sigint, NULL) == 0;
    }
    struct event *sighup = evsignal_new(a.base, SIGHUP, on_sighup, &a);
    if (!sighup || evsignal_add(sighup, NULL) < 0)
        md_log_warning("cannot handle SIGHUP: the log file will not be reopened");
    /* Without them SIGTERM would kill the server without its clean-up. */
    if (!sig_ok)
        fprintf(stderr, "managerd: cannot set up SIGTERM and SIGINT\n");
    else {
        notify_ready();
        if (event_base_dispatch(a.base) >= 0)
            status = 0;
    }
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (sighup)
        event_free(sighup);
    md_log_info("stopped");
out:
    md_metrics_free(a.metrics);
    md_http_free(a.http);
    md_listen_free(a.ls);
    md_server_free(a.srv);
    md_gc_collect();
    if (a.base)
        event_base_free(a.base);
    md_auth_key_free(key);
    key_remove_generated();
    md_log_close_file();
    return status;
}
