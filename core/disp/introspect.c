/* introspect.c - the server's counters, its open connections and parked
 * calls, as the #managerd.* requests managerctl sends and as Prometheus
 * metrics (see introspect.h).
 *
 * Every reply is a list of sections, each (name, columns, rows): a tuple
 * of column names and a list of row tuples of str, int, float or None.
 * One generic shape lets managerctl print any of them as a table or as
 * JSON without knowing each request, and keeps every reply bounded: at
 * most MD_INTROSPECT_MAX_ROWS rows a section, reprs cut short.
 */
#include "core/disp/introspect.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/limits.h"
#include "core/server_impl.h"

/* ====================================================================== */
/* Counters                                                                */
/* ====================================================================== */

/* Upper bounds (seconds) of the latency histogram's buckets; +Inf last. */
static const double latency_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                                        5,      10,      30,     60};
#define NBOUNDS (sizeof latency_bounds / sizeof latency_bounds[0])

typedef struct method_stats {
    const char *type, *method;   /* static strings */
    uint64_t requests, errors;
    uint64_t buckets[NBOUNDS + 1];
    double seconds;
} method_stats;

static struct {
    method_stats methods[MD_STATS_MAX_METHODS];
    size_t nmethods;
    uint64_t bytes_in, bytes_out;
    uint64_t connections_total;
    md_peer *peers;              /* open peers, newest first */
    size_t npeers;
    double started_wall, started_mono;
} st;

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The row for (type, method); past MD_STATS_MAX_METHODS labels everything
 * new shares one ("other", "other") row, so a hostile client cannot grow
 * the table (names are static strings from method tables anyway). */
static method_stats *method_row_by_name(const char *type, const char *method)
{
    for (size_t i = 0; i < st.nmethods; i++)
        if (strcmp(st.methods[i].type, type) == 0 && strcmp(st.methods[i].method, method) == 0)
            return &st.methods[i];
    if (st.nmethods == MD_STATS_MAX_METHODS - 1 && strcmp(type, "other") != 0)
        return method_row_by_name("other", "other");
    method_stats *m = &st.methods[st.nmethods++];
    m->type = type;
    m->method = method;
    return m;
}

/* Every request looks its row up: by the addresses of its static label
 * strings in an open-addressing table, so the usual case costs a hash
 * and a compare, not a walk of ~200 rows by name. Equal names at other
 * addresses (a literal in another file) map to the same row by name. */
#define LABEL_SLOTS (4 * MD_STATS_MAX_METHODS)
_Static_assert((LABEL_SLOTS & (LABEL_SLOTS - 1)) == 0, "LABEL_SLOTS is a power of two");

static struct label_slot {
    const char *type, *method;
    method_stats *row;
} label_slots[LABEL_SLOTS];
static size_t nlabel_slots;

static method_stats *method_row(const char *type, const char *method)
{
    static const char other[] = "other";
    type = type ? type : other;
    method = method ? method : other;
    uintptr_t h = ((uintptr_t)type * 31u) ^ ((uintptr_t)method * 0x9E3779B1u);
    size_t i = (size_t)(h ^ (h >> 17)) & (LABEL_SLOTS - 1);
    for (; label_slots[i].type; i = (i + 1) & (LABEL_SLOTS - 1))
        if (label_slots[i].type == type && label_slots[i].method == method)
            return label_slots[i].row;
    method_stats *row = method_row_by_name(type, method);
    if (nlabel_slots < LABEL_SLOTS / 2) { /* keep probes short; the name walk still works */
        label_slots[i] = (struct label_slot){type, method, row};
        nlabel_slots++;
    }
    return row;
}

void md_stats_start(void)
{
    if (st.started_mono == 0) {
        st.started_mono = md_now();
        st.started_wall = wall_now();
    }
}

void md_stats_peer_open(md_peer *peer)
{
    md_stats_start();
    peer->opened_at = wall_now();
    peer->stats_prev = NULL;
    peer->stats_next = st.peers;
    if (st.peers)
        st.peers->stats_prev = peer;
    st.peers = peer;
    peer->stats_linked = true;
    st.npeers++;
    st.connections_total++;
}

void md_stats_peer_close(md_peer *peer)
{
    if (!peer->stats_linked)
        return;
    if (peer->stats_prev)
        peer->stats_prev->stats_next = peer->stats_next;
    else
        st.peers = peer->stats_next;
    if (peer->stats_next)
        peer->stats_next->stats_prev = peer->stats_prev;
    peer->stats_linked = false;
    st.npeers--;
}

void md_stats_request_begin(md_peer *peer)
{
    md_stats_start();
    peer->nrequests++;
    peer->req_started = md_now();
    peer->req_type = peer->req_method = NULL;
}

void md_stats_request_label(md_peer *peer, const char *type, const char *method)
{
    peer->req_type = type;
    peer->req_method = method;
}

void md_stats_request_end(md_peer *peer, int kind)
{
    if (peer->req_started == 0)
        return; /* a reply without a request being timed (none today) */
    double secs = md_now() - peer->req_started;
    peer->req_started = 0;
    method_stats *m = method_row(peer->req_type, peer->req_method);
    m->requests++;
    if (kind == MD_OUT_ERROR || kind == MD_OUT_TRACEBACK || kind == MD_OUT_UNSERIALIZABLE)
        m->errors++;
    m->seconds += secs;
    size_t b = 0;
    while (b < NBOUNDS && secs > latency_bounds[b])
        b++;
    m->buckets[b]++;
}

void md_stats_bytes_in(size_t nbytes)
{
    st.bytes_in += nbytes;
}

void md_stats_bytes_out(size_t nbytes)
{
    st.bytes_out += nbytes;
}

/* ====================================================================== */
/* Walking the server                                                      */
/* ====================================================================== */

static void peer_describe(const md_peer *peer, md_peer_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->who, sizeof info->who, "%s", peer->name[0] ? peer->name : "?");
    snprintf(info->listener, sizeof info->listener, "?");
    info->serializer = "?";
    info->state = "?";
    if (peer->ops && peer->ops->describe)
        peer->ops->describe(peer, info);
}

static size_t count_waiters(void)
{
    size_t n = 0;
    for (md_peer *p = st.peers; p; p = p->stats_next)
        n += p->parked != NULL;
    return n;
}

static uint64_t sum_requests(bool errors)
{
    uint64_t n = 0;
    for (size_t i = 0; i < st.nmethods; i++)
        n += errors ? st.methods[i].errors : st.methods[i].requests;
    return n;
}

/* Resident set size in bytes from /proc/self/statm, or -1. */
static int64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = -1, resident = -1;
    if (!f)
        return -1;
    int n = fscanf(f, "%ld %ld", &pages, &resident);
    fclose(f);
    return n == 2 ? (int64_t)resident * sysconf(_SC_PAGESIZE) : -1;
}

/* A small string-keyed counter table, for the group-by's below. Keys
 * are static strings or copied into key[]. */
typedef struct tally {
    char key[3][160];
    uint64_t count;
} tally;

typedef struct tallies {
    tally *rows;
    size_t n, cap;
} tallies;

static int tally_add(tallies *t, const char *a, const char *b, const char *c)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->rows[i].key[0], a) && !strcmp(t->rows[i].key[1], b) &&
            !strcmp(t->rows[i].key[2], c)) {
            t->rows[i].count++;
            return 0;
        }
    if (t->n == MD_INTROSPECT_MAX_ROWS)
        return 0;
    if (md_grow(&t->rows, &t->cap, t->n + 1, sizeof *t->rows) < 0)
        return -1;
    tally *r = &t->rows[t->n++];
    snprintf(r->key[0], sizeof r->key[0], "%s", a);
    snprintf(r->key[1], sizeof r->key[1], "%s", b);
    snprintf(r->key[2], sizeof r->key[2], "%s", c);
    r->count = 1;
    return 0;
}

static int tally_objects(md_server *srv, tallies *t)
{
    for (size_t i = 0; i < srv->nbuckets; i++)
        for (md_obj *o = srv->buckets[i]; o; o = o->next_in_table)
            if (tally_add(t, o->type->name, "", "") < 0)
                return -1;
    return 0;
}

static int tally_connections(tallies *t)
{
    md_peer_info info;
    for (md_peer *p = st.peers; p; p = p->stats_next) {
        peer_describe(p, &info);
        if (tally_add(t, info.listener, info.serializer, info.state) < 0)
            return -1;
    }
    return 0;
}

static int tally_waiters(tallies *t)
{
    for (md_peer *p = st.peers; p; p = p->stats_next) {
        md_waiter *w = p->parked;
        if (w && tally_add(t, w->self ? w->self->type->name : "?",
                           w->method ? w->method->name : "?", "") < 0)
            return -1;
    }
    return 0;
}

/* ====================================================================== */
/* Reply sections                                                          */
/* ====================================================================== */

/* Values for rows: each returns a new reference or NULL (ENOMEM). */
static md_val *v_str(const char *s)
{
    return md_str_from_cstr(s ? s : "");
}

static md_val *v_u64(uint64_t u)
{
    return md_int_from_u64(u);
}

/* A row tuple of n values, stolen (NULL items make the row NULL). */
static md_val *row_steal(size_t n, md_val **items)
{
    md_val *t = md_tuple_new(n);
    bool ok = t != NULL;
    for (size_t i = 0; i < n; i++)
        ok = ok && items[i];
    if (!ok) {
        for (size_t i = 0; i < n; i++)
            md_decref(items[i]);
        md_decref(t);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        md_tuple_set_steal(t, i, items[i]);
    return t;
}

#define ROW(...)                                                                            \
    row_steal(sizeof((md_val *[]){__VA_ARGS__}) / sizeof(md_val *), (md_val *[]){__VA_ARGS__})

typedef struct section {
    md_val *rows;                /* list */
    bool failed;
} section;

static void sec_add(section *s, md_val *row)
{
    if (!s->rows) {
        md_decref(row);
        s->failed = true;
    } else if (!row || md_list_append_steal(s->rows, row) < 0) {
        s->failed = true;
    }
}

/* Append (name, columns, rows) to reply; rows is stolen. */
static void sec_finish(md_val *reply, bool *failed, const char *name, const char *const *cols,
                       section *s)
{
    size_t n = 0;
    while (cols[n])
        n++;
    md_val *c = md_tuple_new(n);
    for (size_t i = 0; c && i < n; i++) {
        md_val *v = v_str(cols[i]);
        if (!v) {
            md_decref(c);
            c = NULL;
            break;
        }
        md_tuple_set_steal(c, i, v);
    }
    md_val *nm = v_str(name);
    md_val *sec = c && nm && s->rows && !s->failed ? md_tuple_pack(3, nm, c, s->rows) : NULL;
    md_decref(nm);
    md_decref(c);
    md_decref(s->rows);
    s->rows = NULL;
    if (!sec || md_list_append_steal(reply, sec) < 0)
        *failed = true;
}

static section sec_new(void)
{
    section s = {.rows = md_list_new(0), .failed = false};
    s.failed = s.rows == NULL;
    return s;
}

static void finish_reply(md_call *call, md_val *reply, bool failed)
{
    if (failed) {
        md_decref(reply);
        md_raise_traceback(call, "MemoryError", "building the introspection reply");
        return;
    }
    md_return(call, reply);
}

/* Reply with the one section s (its rows are stolen). */
static void reply_one(md_call *call, const char *name, const char *const *cols, section *s)
{
    md_val *reply = md_list_new(0);
    bool failed = reply == NULL;
    if (reply)
        sec_finish(reply, &failed, name, cols, s);
    else
        md_decref(s->rows);
    finish_reply(call, reply, failed);
}

/* ---- #managerd.stats -------------------------------------------------------- */

static void add_server_section(md_call *call, md_val *reply, bool *failed)
{
    md_server *srv = call->server;
    static const char *const cols[] = {"name", "value", NULL};
    section s = sec_new();
    sec_add(&s, ROW(v_str("pid"), v_u64((uint64_t)getpid())));
    sec_add(&s, ROW(v_str("uptime_seconds"), md_float_new(md_now() - st.started_mono)));
    sec_add(&s, ROW(v_str("started_at"), md_float_new(st.started_wall)));
    sec_add(&s, ROW(v_str("objects"), v_u64(srv->nobjects)));
    sec_add(&s, ROW(v_str("connections"), v_u64(st.npeers)));
    sec_add(&s, ROW(v_str("connections_total"), v_u64(st.connections_total)));
    sec_add(&s, ROW(v_str("parked_waiters"), v_u64(count_waiters())));
    sec_add(&s, ROW(v_str("requests"), v_u64(sum_requests(false))));
    sec_add(&s, ROW(v_str("errors"), v_u64(sum_requests(true))));
    sec_add(&s, ROW(v_str("bytes_in"), v_u64(st.bytes_in)));
    sec_add(&s, ROW(v_str("bytes_out"), v_u64(st.bytes_out)));
    int64_t rss = rss_bytes();
    sec_add(&s, ROW(v_str("rss_bytes"), rss < 0 ? md_none() : md_int_from_i64(rss)));
    sec_finish(reply, failed, "server", cols, &s);
}

static void add_tally_section(md_val *reply, bool *failed, const char *name,
                              const char *const *cols, size_t nkeys, tallies *t)
{
    section s = sec_new();
    for (size_t i = 0; i < t->n; i++) {
        md_val *items[4] = {NULL, NULL, NULL, NULL};
        for (size_t k = 0; k < nkeys; k++)
            items[k] = v_str(t->rows[i].key[k]);
        items[nkeys] = v_u64(t->rows[i].count);
        sec_add(&s, row_steal(nkeys + 1, items));
    }
    md_free(t->rows);
    memset(t, 0, sizeof *t);
    sec_finish(reply, failed, name, cols, &s);
}

static void add_methods_section(md_val *reply, bool *failed)
{
    static const char *const cols[] = {"type", "method", "requests", "errors", "seconds", NULL};
    section s = sec_new();
    for (size_t i = 0; i < st.nmethods; i++) {
        method_stats *m = &st.methods[i];
        sec_add(&s, ROW(v_str(m->type), v_str(m->method), v_u64(m->requests),
                        v_u64(m->errors), md_float_new(m->seconds)));
    }
    sec_finish(reply, failed, "requests", cols, &s);
}

static void serve_stats(md_call *call)
{
    static const char *const obj_cols[] = {"type", "count", NULL};
    static const char *const conn_cols[] = {"listener", "serializer", "state", "count", NULL};
    static const char *const wait_cols[] = {"type", "method", "count", NULL};
    md_val *reply = md_list_new(0);
    bool failed = reply == NULL;
    if (failed) {
        finish_reply(call, reply, failed);
        return;
    }
    tallies t = {0};
    add_server_section(call, reply, &failed);
    failed |= tally_objects(call->server, &t) < 0;
    add_tally_section(reply, &failed, "objects_by_type", obj_cols, 1, &t);
    failed |= tally_connections(&t) < 0;
    add_tally_section(reply, &failed, "connections", conn_cols, 3, &t);
    failed |= tally_waiters(&t) < 0;
    add_tally_section(reply, &failed, "waiters_by_type", wait_cols, 2, &t);
    add_methods_section(reply, &failed);
    finish_reply(call, reply, failed);
}

/* ---- #managerd.objects ---------------------------------------------------- */

typedef struct obj_entry {
    md_obj *o;
    int64_t size;                /* -1: the type has no length */
} obj_entry;

/* The object's length through its own __len__ or qsize row, or -1. */
static int64_t obj_size(md_call *call, md_obj *o)
{
    const md_method *m = NULL;
    for (const md_method *r = o->type->methods; r && r->name; r++)
        if (!strcmp(r->name, "__len__") || !strcmp(r->name, "qsize"))
            m = r;
    if (!m)
        return -1;
    md_call c;
    memset(&c, 0, sizeof c);
    c.server = call->server;
    c.self = o;
    c.peer = call->peer;
    c.method = m;
    c.protocol = 4;
    int64_t n = -1;
    if (m->fn(&c) == MD_CALL_DONE && c.out_kind == MD_OUT_RETURN && c.out_value &&
        md_typeof(c.out_value) == MD_T_INT && md_int_to_i64(c.out_value, &n) < 0)
        n = -1;
    md_decref(c.out_value);
    return n;
}

/* The object's repr (str for types that have one, as debug_info shows),
 * cut to limit bytes on a character boundary. New str, or NULL. */
static md_val *obj_text(md_obj *o, size_t limit)
{
    md_buf b = MD_BUF_INIT;
    md_pyerr e;
    md_pyerr_clear(&e);
    int (*fn)(md_obj *, md_buf *, md_pyerr *) = o->type->repr ? o->type->repr : o->type->str;
    size_t old = md_val_repr_limit(limit + 64);
    int rc = fn ? fn(o, &b, &e) : -1;
    md_val_repr_limit(old);
    md_val *v;
    if (rc < 0 || md_buf_failed(&b)) {
        v = md_str_from_cstr(e.type ? "<repr failed>" : "<no repr>");
    } else {
        size_t cut = b.len;
        bool cut_short = cut > limit;
        if (cut_short) {
            cut = limit;
            while (cut && (b.data[cut] & 0xC0) == 0x80)
                cut--;
            b.len = cut;
            md_buf_puts(&b, "...");
        }
        v = md_buf_failed(&b) ? NULL : md_str_new(b.len ? (const char *)b.data : "", b.len);
    }
    md_buf_free(&b);
    return v;
}

static int sort_key;  /* 0 ident, 1 type, 2 refcount, 3 size (qsort has no argument) */

static int cmp_entries(const void *pa, const void *pb)
{
    const obj_entry *a = pa, *b = pb;
    int r = 0;
    if (sort_key == 1)
        r = strcmp(a->o->type->name, b->o->type->name);
    else if (sort_key == 2)
        r = (a->o->refcount < b->o->refcount) - (a->o->refcount > b->o->refcount);
    else if (sort_key == 3)
        r = (a->size < b->size) - (a->size > b->size);
    if (r)
        return r;
    return (a->o->id > b->o->id) - (a->o->id < b->o->id);
}

/* Optional argument i of args as a str (NULL when absent or None). */
static const char *opt_str(const md_val *args, size_t i, bool *bad)
{
    size_t n;
    md_val *const *argv = md_seq_items(args, &n);
    md_val *v = i < n ? argv[i] : NULL;
    if (!v || md_typeof(v) == MD_T_NONE)
        return NULL;
    if (md_typeof(v) != MD_T_STR) {
        *bad = true;
        return NULL;
    }
    return md_str_data(v);
}

static int parse_sort(const char *s)
{
    static const char *const keys[] = {"ident", "type", "refcount", "size"};
    if (!s)
        return 0;
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, keys[i]))
            return i;
    return -1;
}

static void add_objects_rows(section *s, const obj_entry *ents, size_t n)
{
    for (size_t i = 0; i < n && i < MD_INTROSPECT_MAX_ROWS; i++) {
        char ident[24];
        md_obj *o = ents[i].o;
        md_obj_ident(o, ident);
        int64_t size = ents[i].size;
        sec_add(s, ROW(v_str(ident), v_str(o->typeid ? o->typeid : o->type->name),
                       v_str(o->type->name), v_u64(o->refcount),
                       size < 0 ? md_none() : md_int_from_i64(size),
                       obj_text(o, MD_INTROSPECT_REPR_BYTES)));
    }
}

static void serve_objects(md_call *call, const md_val *args)
{
    static const char *const cols[] = {"ident", "typeid", "type", "refcount", "size", "repr", NULL};
    static const char *const tcols[] = {"shown", "total", NULL};
    md_server *srv = call->server;
    bool bad = false;
    const char *type = opt_str(args, 0, &bad);
    int key = parse_sort(opt_str(args, 1, &bad));
    if (bad || key < 0) {
        md_raise_traceback(call, "TypeError",
                           "#managerd.objects(type=None, sort='ident'|'type'|'refcount'|'size')");
        return;
    }
    obj_entry *ents = md_malloc((srv->nobjects ? srv->nobjects : 1) * sizeof *ents);
    md_val *reply = md_list_new(0);
    if (!ents || !reply) {
        md_free(ents);
        finish_reply(call, reply, true);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < srv->nbuckets; i++)
        for (md_obj *o = srv->buckets[i]; o && n < srv->nobjects; o = o->next_in_table)
            if (!type || !strcmp(type, o->type->name) || (o->typeid && !strcmp(type, o->typeid)))
                ents[n++] = (obj_entry){o, obj_size(call, o)};
    sort_key = key;
    qsort(ents, n, sizeof *ents, cmp_entries);
    bool failed = false;
    section s = sec_new();
    add_objects_rows(&s, ents, n);
    sec_finish(reply, &failed, "objects", cols, &s);
    s = sec_new();
    sec_add(&s, ROW(v_u64(n < MD_INTROSPECT_MAX_ROWS ? n : MD_INTROSPECT_MAX_ROWS), v_u64(n)));
    sec_finish(reply, &failed, "count", tcols, &s);
    md_free(ents);
    finish_reply(call, reply, failed);
}

/* ---- #managerd.clients, #managerd.waiters ------------------------------------ */

/* "Queue 7f3a...: get" for a parked call, or None. */
static md_val *parked_text(const md_waiter *w)
{
    if (!w)
        return md_none();
    char ident[24] = "?", text[200];
    if (w->self)
        md_obj_ident(w->self, ident);
    snprintf(text, sizeof text, "%s %s.%s", w->self ? w->self->type->name : "?", ident,
             w->method ? w->method->name : "?");
    return v_str(text);
}

static void serve_clients(md_call *call)
{
    static const char *const cols[] = {"peer",           "listener", "serializer", "protocol",
                                       "state",          "connected_since", "requests",
                                       "parked_on",      NULL};
    section s = sec_new();
    size_t n = 0;
    md_peer_info info;
    for (md_peer *p = st.peers; p && n < MD_INTROSPECT_MAX_ROWS; p = p->stats_next, n++) {
        peer_describe(p, &info);
        sec_add(&s, ROW(v_str(info.who), v_str(info.listener), v_str(info.serializer),
                        md_int_from_i64(p->protocol), v_str(info.state),
                        md_float_new(p->opened_at), v_u64(p->nrequests), parked_text(p->parked)));
    }
    reply_one(call, "clients", cols, &s);
}

static void serve_waiters(md_call *call)
{
    static const char *const cols[] = {"peer",   "ident",   "type",    "method",
                                       "since",  "waited_seconds", "timeout_seconds", NULL};
    section s = sec_new();
    size_t n = 0;
    double mono = md_now(), wall = wall_now();
    md_peer_info info;
    for (md_peer *p = st.peers; p && n < MD_INTROSPECT_MAX_ROWS; p = p->stats_next) {
        md_waiter *w = p->parked;
        if (!w)
            continue;
        n++;
        char ident[24] = "?";
        if (w->self)
            md_obj_ident(w->self, ident);
        peer_describe(p, &info);
        sec_add(&s, ROW(v_str(info.who), v_str(ident), v_str(w->self ? w->self->type->name : "?"),
                        v_str(w->method ? w->method->name : "?"),
                        md_float_new(wall - (mono - w->since)), md_float_new(mono - w->since),
                        w->deadline < 0 ? md_none() : md_float_new(w->deadline - w->since)));
    }
    reply_one(call, "waiters", cols, &s);
}

/* ---- #managerd.show ------------------------------------------------------------ */

static void serve_show(md_call *call, const md_val *args)
{
    static const char *const cols[] = {"ident", "typeid", "type", "refcount", "size", "repr", NULL};
    bool bad = false;
    const char *ident = opt_str(args, 0, &bad);
    if (bad || !ident) {
        md_raise_traceback(call, "TypeError", "#managerd.show(ident)");
        return;
    }
    md_obj *o = md_server_find(call->server, ident);
    if (!o) {
        md_raise_traceback(call, "KeyError", "no object with ident '%.40s'", ident);
        return;
    }
    section s = sec_new();
    char id[24];
    md_obj_ident(o, id);
    int64_t size = obj_size(call, o);
    sec_add(&s, ROW(v_str(id), v_str(o->typeid ? o->typeid : o->type->name), v_str(o->type->name),
                    v_u64(o->refcount), size < 0 ? md_none() : md_int_from_i64(size),
                    obj_text(o, MD_INTROSPECT_SHOW_BYTES)));
    reply_one(call, "object", cols, &s);
}

/* ---- the table of requests ------------------------------------------------------- */

enum { IR_STATS, IR_OBJECTS, IR_CLIENTS, IR_WAITERS, IR_SHOW, IR__COUNT };

static const char *const request_names[IR__COUNT] = {
    "#managerd.stats", "#managerd.objects", "#managerd.clients", "#managerd.waiters",
    "#managerd.show",
};

static int request_of(const md_val *method)
{
    if (!method || md_typeof(method) != MD_T_STR)
        return -1;
    for (int i = 0; i < IR__COUNT; i++)
        if (md_str_eq_cstr(method, request_names[i]))
            return i;
    return -1;
}

bool md_introspect_is_request(const md_val *method)
{
    return request_of(method) >= 0;
}

const char *md_introspect_name(const md_val *method)
{
    int r = request_of(method);
    return r < 0 ? NULL : request_names[r];
}

void md_introspect_serve(md_call *call, const md_val *method, const md_val *args)
{
    switch (request_of(method)) {
    case IR_STATS: serve_stats(call); break;
    case IR_OBJECTS: serve_objects(call, args); break;
    case IR_CLIENTS: serve_clients(call); break;
    case IR_WAITERS: serve_waiters(call); break;
    case IR_SHOW: serve_show(call, args); break;
    default: md_raise_traceback(call, "AssertionError", "not an introspection request");
    }
}

/* ====================================================================== */
/* Prometheus text format                                                  */
/* ====================================================================== */

/* A label value with \, " and newline escaped, as the format requires. */
static void put_label(md_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            md_buf_putc(b, '\\'), md_buf_putc(b, *s);
        else if (*s == '\n')
            md_buf_puts(b, "\\n");
        else
            md_buf_putc(b, *s);
    }
}

static void metric_head(md_buf *b, const char *name, const char *type, const char *help)
{
    md_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_tally(md_buf *b, const char *name, const char *const *labels, size_t nkeys,
                       tallies *t)
{
    for (size_t i = 0; i < t->n; i++) {
        md_buf_printf(b, "%s{", name);
        for (size_t k = 0; k < nkeys; k++) {
            md_buf_printf(b, "%s%s=\"", k ? "," : "", labels[k]);
            put_label(b, t->rows[i].key[k]);
            md_buf_putc(b, '"');
        }
        md_buf_printf(b, "} %" PRIu64 "\n", t->rows[i].count);
    }
    md_free(t->rows);
    memset(t, 0, sizeof *t);
}

static void prom_method_labels(md_buf *b, const method_stats *m)
{
    md_buf_puts(b, "type=\"");
    put_label(b, m->type);
    md_buf_puts(b, "\",method=\"");
    put_label(b, m->method);
    md_buf_putc(b, '"');
}

/* One counter per (type, method): requests, or errors. */
static void prom_method_counter(md_buf *b, const char *name, const char *help, bool errors)
{
    metric_head(b, name, "counter", help);
    for (size_t i = 0; i < st.nmethods; i++) {
        md_buf_printf(b, "%s{", name);
        prom_method_labels(b, &st.methods[i]);
        md_buf_printf(b, "} %" PRIu64 "\n", errors ? st.methods[i].errors : st.methods[i].requests);
    }
}

static void prom_methods(md_buf *b)
{
    prom_method_counter(b, "managerd_requests_total", "Requests served, by type and method.", false);
    prom_method_counter(b, "managerd_request_errors_total",
                        "Requests answered with an exception, by type and method.", true);
    metric_head(b, "managerd_request_duration_seconds", "histogram",
                "Time from a request's arrival to its reply, parked time included.");
    for (size_t i = 0; i < st.nmethods; i++) {
        const method_stats *m = &st.methods[i];
        uint64_t cum = 0;
        for (size_t k = 0; k <= NBOUNDS; k++) {
            cum += m->buckets[k];
            md_buf_puts(b, "managerd_request_duration_seconds_bucket{");
            prom_method_labels(b, m);
            if (k < NBOUNDS)
                md_buf_printf(b, ",le=\"%g\"} %" PRIu64 "\n", latency_bounds[k], cum);
            else
                md_buf_printf(b, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
        }
        md_buf_puts(b, "managerd_request_duration_seconds_sum{");
        prom_method_labels(b, m);
        md_buf_printf(b, "} %.9f\n", m->seconds);
        md_buf_puts(b, "managerd_request_duration_seconds_count{");
        prom_method_labels(b, m);
        md_buf_printf(b, "} %" PRIu64 "\n", m->requests);
    }
}

int md_stats_prometheus(md_server *srv, md_buf *b)
{
    static const char *const type_label[] = {"type"};
    static const char *const conn_labels[] = {"listener", "serializer", "state"};
    static const char *const wait_labels[] = {"type", "method"};
    md_stats_start();
    tallies t = {0};
    metric_head(b, "managerd_uptime_seconds", "gauge", "Seconds since managerd started.");
    md_buf_printf(b, "managerd_uptime_seconds %.3f\n", md_now() - st.started_mono);
    metric_head(b, "managerd_objects", "gauge", "Shared objects, by type.");
    if (tally_objects(srv, &t) < 0)
        return -1;
    prom_tally(b, "managerd_objects", type_label, 1, &t);
    metric_head(b, "managerd_connections", "gauge",
                "Open connections, by listener, serializer and state.");
    if (tally_connections(&t) < 0)
        return -1;
    prom_tally(b, "managerd_connections", conn_labels, 3, &t);
    metric_head(b, "managerd_connections_opened_total", "counter", "Connections ever opened.");
    md_buf_printf(b, "managerd_connections_opened_total %" PRIu64 "\n", st.connections_total);
    metric_head(b, "managerd_parked_waiters", "gauge", "Parked blocking calls, by type and method.");
    if (tally_waiters(&t) < 0)
        return -1;
    prom_tally(b, "managerd_parked_waiters", wait_labels, 2, &t);
    prom_methods(b);
    metric_head(b, "managerd_received_bytes_total", "counter", "Bytes read from clients.");
    md_buf_printf(b, "managerd_received_bytes_total %" PRIu64 "\n", st.bytes_in);
    metric_head(b, "managerd_sent_bytes_total", "counter", "Bytes written to clients.");
    md_buf_printf(b, "managerd_sent_bytes_total %" PRIu64 "\n", st.bytes_out);
    int64_t rss = rss_bytes();
    if (rss >= 0) {
        metric_head(b, "managerd_resident_memory_bytes", "gauge", "Resident set size.");
        md_buf_printf(b, "managerd_resident_memory_bytes %" PRId64 "\n", rss);
    }
    return md_buf_failed(b) ? -1 : 0;
}
