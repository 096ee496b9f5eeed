/* managerctl - look inside a running managerd: its figures, objects,
 * clients and parked calls, as tables or JSON, over libmanagerd-client.
 *
 * managerd answers #managerd.* requests (core/disp/introspect.c) with a list
 * of sections (name, columns, rows); this program prints any section
 * generically. Against CPython's own manager server, which refuses them,
 * stats and objects fall back to number_of_objects and debug_info and
 * say so.
 *
 * The commands only send a request and read the value back through a
 * ctl_link (ctl_link.h): the pickle protocol of libmanagerd-client for
 * tcp and unix listeners, XML-RPC over HTTP (ctl_http.c) for http://.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clients/ctl_link.h"
#include "clients/mdc.h"

#define AUTHKEY_MAX 4096

typedef struct ctl {
    const char *address;
    const char *authkey_file;
    bool json;
    double timeout;
    int protocol;
    ctl_link link;
} ctl;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: managerctl [--connect ADDRESS] [--authkey-file FILE] [--json]\n"
            "                  [--timeout SECONDS] [--protocol N] [--help] [--version]\n"
            "                  COMMAND\n"
            "\n"
            "COMMAND: stats | objects [--type TYPE] [--sort ident|type|refcount|size]\n"
            "         | clients | waiters | show IDENT | shutdown\n"
            "ADDRESS: tcp://HOST:PORT, HOST:PORT ([V6]:PORT), unix:PATH, unix:@NAME,\n"
            "         http://HOST:PORT[/PATH] (XML-RPC); default 127.0.0.1:50000\n"
            "The authkey is read from --authkey-file or the MANAGERD_AUTHKEY environment\n"
            "variable, never from the command line.\n");
}

/* ---- authkey, as managerd reads it -------------------------------------- */

/* The key from the file (one trailing newline dropped) or the
 * environment into buf; its length, or -1 with a message printed. */
static long read_key(const ctl *o, char *buf, size_t cap)
{
    size_t n;
    if (o->authkey_file) {
        FILE *f = fopen(o->authkey_file, "rb");
        if (!f) {
            fprintf(stderr, "managerctl: cannot read authkey file %s: %s\n", o->authkey_file,
                    strerror(errno));
            return -1;
        }
        n = fread(buf, 1, cap, f);
        bool more = fgetc(f) != EOF;
        fclose(f);
        if (more) {
            fprintf(stderr, "managerctl: authkey file %s is larger than %d bytes\n",
                    o->authkey_file, AUTHKEY_MAX);
            return -1;
        }
        if (n && buf[n - 1] == '\n')
            n--;
    } else {
        const char *env = getenv("MANAGERD_AUTHKEY");
        if (!env) {
            fprintf(stderr, "managerctl: no authkey: use --authkey-file or MANAGERD_AUTHKEY\n");
            return -1;
        }
        n = strlen(env);
        if (n > cap) {
            fprintf(stderr, "managerctl: MANAGERD_AUTHKEY is longer than %d bytes\n", AUTHKEY_MAX);
            return -1;
        }
        memcpy(buf, env, n);
    }
    if (n == 0) {
        fprintf(stderr, "managerctl: the authkey is empty\n");
        return -1;
    }
    return (long)n;
}

/* ---- printing values ----------------------------------------------------- */

static bool is_time_column(const char *col)
{
    size_t n = strlen(col);
    return (n >= 5 && !strcmp(col + n - 5, "since")) || !strcmp(col, "started_at");
}

/* A cell as text for a table. */
static void cell_text(const mdc_value *v, const char *col, char *out, size_t n)
{
    const char *t = mdc_type_name(v);
    int64_t i;
    double d;
    if (!strcmp(t, "NoneType")) {
        snprintf(out, n, "-");
    } else if (!strcmp(t, "str")) {
        snprintf(out, n, "%s", mdc_str_get(v));
    } else if (mdc_int_get(v, &i) == 0) {
        snprintf(out, n, "%lld", (long long)i);
    } else if (mdc_float_get(v, &d) == 0 && is_time_column(col)) {
        time_t secs = (time_t)d;
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    } else if (mdc_float_get(v, &d) == 0) {
        snprintf(out, n, "%.3f", d);
    } else {
        char *r = mdc_repr(v);
        snprintf(out, n, "%s", r ? r : "?");
        free(r);
    }
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void json_value(FILE *f, const mdc_value *v)
{
    const char *t = mdc_type_name(v);
    int64_t i;
    double d;
    if (!strcmp(t, "NoneType"))
        fputs("null", f);
    else if (!strcmp(t, "str"))
        json_string(f, mdc_str_get(v));
    else if (mdc_int_get(v, &i) == 0)
        fprintf(f, "%lld", (long long)i);
    else if (mdc_float_get(v, &d) == 0 && isfinite(d))
        fprintf(f, "%.17g", d);
    else {
        char *r = mdc_repr(v);
        json_string(f, r ? r : "?");
        free(r);
    }
}

/* A tuple, or a list (XML-RPC has only arrays, which arrive as lists). */
static bool is_seq(const mdc_value *v)
{
    return !strcmp(mdc_type_name(v), "tuple") || !strcmp(mdc_type_name(v), "list");
}

/* A section is (name, columns, rows); false if v is not one. */
static bool section_parts(const mdc_value *v, const char **name, mdc_value **cols, mdc_value **rows)
{
    if (!is_seq(v) || mdc_len(v) != 3)
        return false;
    *name = mdc_str_get(mdc_item(v, 0));
    *cols = mdc_item(v, 1);
    *rows = mdc_item(v, 2);
    return *name && is_seq(*cols) && !strcmp(mdc_type_name(*rows), "list");
}

#define CELL_MAX 256
#define COLS_MAX 16

static void print_table(const char *name, const mdc_value *cols, const mdc_value *rows)
{
    size_t ncols = mdc_len(cols), nrows = mdc_len(rows);
    if (ncols > COLS_MAX)
        ncols = COLS_MAX;
    size_t width[COLS_MAX];
    char cell[CELL_MAX];
    for (size_t c = 0; c < ncols; c++)
        width[c] = strlen(mdc_str_get(mdc_item(cols, c)) ?: "?");
    for (size_t r = 0; r < nrows; r++)
        for (size_t c = 0; c < ncols && c < mdc_len(mdc_item(rows, r)); c++) {
            cell_text(mdc_item(mdc_item(rows, r), c), mdc_str_get(mdc_item(cols, c)) ?: "", cell,
                      sizeof cell);
            size_t w = strlen(cell);
            width[c] = w > width[c] ? w : width[c];
        }
    printf("%s:\n", name);
    for (size_t c = 0; c < ncols; c++)
        printf("  %-*s", (int)width[c], mdc_str_get(mdc_item(cols, c)) ?: "?");
    printf("\n");
    for (size_t r = 0; r < nrows; r++) {
        const mdc_value *row = mdc_item(rows, r);
        for (size_t c = 0; c < ncols && c < mdc_len(row); c++) {
            cell_text(mdc_item(row, c), mdc_str_get(mdc_item(cols, c)) ?: "", cell, sizeof cell);
            printf("  %-*s", (int)width[c], cell);
        }
        printf("\n");
    }
    if (nrows == 0)
        printf("  (none)\n");
    printf("\n");
}

static void print_json_rows(const mdc_value *cols, const mdc_value *rows)
{
    fputc('[', stdout);
    for (size_t r = 0; r < mdc_len(rows); r++) {
        const mdc_value *row = mdc_item(rows, r);
        fputs(r ? ", {" : "{", stdout);
        for (size_t c = 0; c < mdc_len(cols) && c < mdc_len(row); c++) {
            if (c)
                fputs(", ", stdout);
            json_string(stdout, mdc_str_get(mdc_item(cols, c)) ?: "?");
            fputs(": ", stdout);
            json_value(stdout, mdc_item(row, c));
        }
        fputc('}', stdout);
    }
    fputc(']', stdout);
}

/* Print a reply of sections; source names where the figures came from
 * ("managerd", or the fallback used against another server). */
static int print_sections(const ctl *o, const mdc_value *reply, const char *source)
{
    if (strcmp(mdc_type_name(reply), "list")) {
        fprintf(stderr, "managerctl: the server's reply is not a list of sections\n");
        return 1;
    }
    if (o->json) {
        printf("{\"source\": ");
        json_string(stdout, source);
    }
    for (size_t i = 0; i < mdc_len(reply); i++) {
        const char *name;
        mdc_value *cols, *rows;
        if (!section_parts(mdc_item(reply, i), &name, &cols, &rows)) {
            fprintf(stderr, "managerctl: malformed section in the server's reply\n");
            return 1;
        }
        if (o->json) {
            printf(", ");
            json_string(stdout, name);
            printf(": ");
            print_json_rows(cols, rows);
        } else {
            print_table(name, cols, rows);
        }
    }
    if (o->json)
        printf("}\n");
    return 0;
}

/* ---- commands ---------------------------------------------------------------- */

/* Send request with args (NULL: none); *reply unless an error. */
static int ask(ctl *o, const char *request, mdc_value *args, mdc_value **reply)
{
    int rc = o->link.call(o->link.conn, request, args, reply);
    if (rc < 0)
        fprintf(stderr, "managerctl: %s\n", o->link.errstr(o->link.conn));
    return rc;
}

/* The pickle link: libmanagerd-client's short connections. */
static int pickle_call(void *conn, const char *request, mdc_value *args, mdc_value **reply)
{
    return mdc_server_call(conn, request, args, NULL, reply);
}

static const char *pickle_errstr(const void *conn)
{
    return mdc_errstr(conn);
}

static void pickle_close(void *conn)
{
    mdc_client_free(conn);
}

static int report_remote(int rc, mdc_value *reply, const char *what)
{
    if (rc == MDC_EXCEPTION || rc == MDC_REMOTE_ERROR) {
        char *r = rc == MDC_REMOTE_ERROR ? NULL : mdc_repr(reply);
        const char *text = rc == MDC_REMOTE_ERROR ? mdc_str_get(reply) : r;
        fprintf(stderr, "managerctl: %s failed: %s\n", what, text ? text : "?");
        free(r);
    }
    mdc_value_free(reply);
    return 1;
}

/* A server method that returns a value of type want ("str", "int"). */
static mdc_value *ask_for(ctl *o, const char *method, const char *want)
{
    mdc_value *reply = NULL;
    int rc = ask(o, method, NULL, &reply);
    if (rc == MDC_RETURN && !strcmp(mdc_type_name(reply), want))
        return reply;
    if (rc == MDC_RETURN) {
        fprintf(stderr, "managerctl: %s returned a %s, not a %s\n", method,
                mdc_type_name(reply), want);
        mdc_value_free(reply);
    } else if (rc >= 0) {
        report_remote(rc, reply, method);
    }
    return NULL;
}

/* The rows of debug_info's text: "  IDENT:       refcount=N\n    STR[:75]". */
static mdc_value *parse_debug_info(const char *text)
{
    mdc_value *rows = mdc_list();
    const char *p = text;
    while (rows && p && *p) {
        const char *eol = strchr(p, '\n');
        char ident[64];
        unsigned long refcount;
        if (sscanf(p, " %63[0-9a-fx]: refcount=%lu", ident, &refcount) == 2) {
            const char *repr = eol ? eol + 1 : "";
            const char *end = strchr(repr, '\n');
            while (*repr == ' ')
                repr++;
            mdc_value *id = mdc_str(ident), *rc = mdc_int((int64_t)refcount),
                      *rp = mdc_str_n(repr, end ? (size_t)(end - repr) : strlen(repr));
            mdc_value *row = mdc_tuple(3, id, rc, rp);
            mdc_list_append(rows, row);
            mdc_value_free(id), mdc_value_free(rc), mdc_value_free(rp), mdc_value_free(row);
        }
        p = eol ? eol + 1 : NULL;
    }
    return rows;
}

/* A reply of one section, built here (for the fallbacks). Steals rows. */
static mdc_value *one_section(const char *name, mdc_value *cols, mdc_value *rows)
{
    mdc_value *n = mdc_str(name);
    mdc_value *sec = mdc_tuple(3, n, cols, rows);
    mdc_value *reply = mdc_list();
    mdc_list_append(reply, sec);
    mdc_value_free(n), mdc_value_free(sec), mdc_value_free(cols), mdc_value_free(rows);
    return reply;
}

static mdc_value *str_tuple(size_t n, const char *const *names)
{
    mdc_value *items[4];
    for (size_t i = 0; i < n; i++)
        items[i] = mdc_str(names[i]);
    mdc_value *t = n == 2 ? mdc_tuple(2, items[0], items[1]) : mdc_tuple(3, items[0], items[1], items[2]);
    for (size_t i = 0; i < n; i++)
        mdc_value_free(items[i]);
    return t;
}

/* Against a server that is not managerd: what CPython offers. */
static int fallback(ctl *o, bool objects)
{
    static const char *const stat_cols[] = {"name", "value"};
    static const char *const obj_cols[] = {"ident", "refcount", "repr"};
    const char *note = objects ? "debug_info" : "number_of_objects";
    if (!o->json)
        printf("note: this server does not answer managerctl's requests (it is not "
               "managerd);\nshowing what %s gives.\n\n", note);
    mdc_value *reply, *got = ask_for(o, note, objects ? "str" : "int");
    if (!got)
        return 1;
    if (objects) {
        reply = one_section("objects", str_tuple(3, obj_cols), parse_debug_info(mdc_str_get(got)));
    } else {
        mdc_value *k = mdc_str("objects"), *row = mdc_tuple(2, k, got);
        mdc_value *rows = mdc_list();
        mdc_list_append(rows, row);
        mdc_value_free(k), mdc_value_free(row);
        reply = one_section("server", str_tuple(2, stat_cols), rows);
    }
    mdc_value_free(got);
    int rc = print_sections(o, reply, objects ? "debug_info" : "number_of_objects");
    mdc_value_free(reply);
    return rc;
}

/* A #managerd.* request; stats and objects fall back on other servers. */
static int introspect(ctl *o, const char *request, mdc_value *args, int fallback_kind)
{
    mdc_value *reply = NULL;
    int rc = ask(o, request, args, &reply);
    if (rc < 0)
        return 1;
    if (rc == MDC_REMOTE_ERROR && fallback_kind >= 0) {
        mdc_value_free(reply);
        return fallback(o, fallback_kind == 1);
    }
    if (rc != MDC_RETURN)
        return report_remote(rc, reply, request);
    rc = print_sections(o, reply, "managerd");
    mdc_value_free(reply);
    return rc;
}

static int cmd_objects(ctl *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"type", required_argument, NULL, 't'},
        {"sort", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    const char *type = NULL, *sort = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (ch == 't')
            type = optarg;
        else if (ch == 's')
            sort = optarg;
        else
            return usage(stderr), 2;
    }
    if (optind < argc)
        return usage(stderr), 2;
    mdc_value *t = type ? mdc_str(type) : mdc_none(), *s = sort ? mdc_str(sort) : mdc_none();
    mdc_value *args = mdc_tuple(2, t, s);
    int rc = introspect(o, "#managerd.objects", args, (type || sort) ? -1 : 1);
    mdc_value_free(t), mdc_value_free(s), mdc_value_free(args);
    return rc;
}

static int cmd_show(ctl *o, int argc, char **argv)
{
    if (argc != 2)
        return usage(stderr), 2;
    mdc_value *id = mdc_str(argv[1]);
    mdc_value *args = mdc_tuple(1, id);
    int rc = introspect(o, "#managerd.show", args, -1);
    mdc_value_free(id), mdc_value_free(args);
    return rc;
}

static int cmd_shutdown(ctl *o)
{
    mdc_value *reply = NULL;
    int rc = ask(o, "shutdown", NULL, &reply);
    if (rc < 0)
        return 1;
    if (rc != MDC_RETURN)
        return report_remote(rc, reply, "shutdown");
    mdc_value_free(reply);
    if (o->json)
        printf("{\"shutdown\": true}\n");
    else
        printf("shutdown requested\n");
    return 0;
}

static int run(ctl *o, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (!strcmp(cmd, "objects"))
        return cmd_objects(o, argc, argv);
    if (!strcmp(cmd, "show"))
        return cmd_show(o, argc, argv);
    if (argc != 1)
        return usage(stderr), 2;
    if (!strcmp(cmd, "stats"))
        return introspect(o, "#managerd.stats", NULL, 0);
    if (!strcmp(cmd, "clients"))
        return introspect(o, "#managerd.clients", NULL, -1);
    if (!strcmp(cmd, "waiters"))
        return introspect(o, "#managerd.waiters", NULL, -1);
    if (!strcmp(cmd, "shutdown"))
        return cmd_shutdown(o);
    fprintf(stderr, "managerctl: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}

static int parse_options(int argc, char **argv, ctl *o)
{
    static const struct option longopts[] = {
        {"connect", required_argument, NULL, 'c'},
        {"authkey-file", required_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {"protocol", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->address = optarg; break;
        case 'k': o->authkey_file = optarg; break;
        case 'j': o->json = true; break;
        case 't':
            o->timeout = strtod(optarg, &end);
            if (*end || !(o->timeout > 0))
                return fprintf(stderr, "managerctl: bad --timeout '%s'\n", optarg), -1;
            break;
        case 'p':
            o->protocol = (int)strtol(optarg, &end, 10);
            if (*end || o->protocol < 2 || o->protocol > 5)
                return fprintf(stderr, "managerctl: --protocol must be 2..5\n"), -1;
            break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf("managerctl %s\n", PACKAGE_VERSION); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return -1;
    }
    return optind;
}

/* The link for o->address; false with a message printed. */
static bool open_link(ctl *o, const char *key, size_t keylen)
{
    char err[256] = "";
    if (ctl_http_is_address(o->address)) {
        if (ctl_http_open(&o->link, o->address, key, keylen, o->timeout, err, sizeof err) == 0)
            return true;
        fprintf(stderr, "managerctl: %s\n", err);
        return false;
    }
    mdc_client *c = mdc_client_new_err(o->address, key, keylen, err, sizeof err);
    if (!c) {
        fprintf(stderr, "managerctl: %s\n", err[0] ? err : "out of memory");
        return false;
    }
    mdc_set_timeout(c, o->timeout);
    mdc_set_protocol(c, o->protocol);
    o->link = (ctl_link){.conn = c, .call = pickle_call, .errstr = pickle_errstr,
                         .close = pickle_close};
    return true;
}

int main(int argc, char **argv)
{
    ctl o = {.address = "127.0.0.1:50000", .timeout = 10, .protocol = 4};
    int first = parse_options(argc, argv, &o);
    if (first < 0)
        return 2;
    static char key[AUTHKEY_MAX];
    long keylen = read_key(&o, key, sizeof key);
    if (keylen < 0)
        return 1;
    bool linked = open_link(&o, key, (size_t)keylen);
    memset(key, 0, sizeof key);
    if (!linked)
        return 1;
    int rc = run(&o, argc - first, argv + first);
    o.link.close(o.link.conn);
    return rc;
}
