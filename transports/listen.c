/* listen.c - listeners and server-side connections (see listen.h).
 *
 * Each connection is a small state machine over a socket and a libevent
 * read event:
 *   HANDSHAKE -> FIRST (one request) -> LONG (after accept_connection)
 *                                    -> CLOSING (after a short reply)
 * Frames are parsed straight out of the connection's input buffer; a
 * request that parks stops the loop until its reply is delivered, while
 * input is still read so that a vanished client is noticed. Replies are
 * written at once with one send(); only what the socket does not take is
 * kept and written when it becomes writable. (A bufferevent would cost an
 * ioctl, two epoll_ctl and a second epoll_wait per call.) Connections are
 * never freed inside their own callbacks: they are marked dead and reaped
 * when the callback returns.
 *
 * No connection may stall or sink the others: each is served at most
 * MD_TURN_REQUESTS requests (MD_TURN_BYTES) per loop turn and then comes
 * back on a zero timer, after the loop has polled every socket; its socket
 * is not read while it is behind, nor while its unsent replies are over
 * MD_OUTPUT_SOFT_BYTES (limits.h). Out of descriptors, accepting pauses.
 */
#include "transports/listen.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <limits.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/error.h"
#include "core/disp/introspect.h"
#include "core/base/limits.h"
#include "core/base/log.h"
#include "core/value/value.h"
#include "serializers/codec.h"
#include "serializers/pickle.h"
#include "transports/outq.h"
#include "transports/wire/frame.h"

typedef enum conn_state {
    CS_HANDSHAKE,
    CS_FIRST,
    CS_LONG,
    CS_CLOSING
} conn_state;

typedef struct md_conn md_conn;

typedef struct md_listener {
    struct evconnlistener *ev;
    md_addr addr;
    const md_codec_ops *codec;     /* NULL: detect per connection (auto) */
    md_listeners *owner;
    bool inherited;                /* socket activation: the file is not ours */
} md_listener;

struct md_listeners {
    md_server *srv;
    struct event_base *base;
    md_listen_opts opts;
    md_codec_limits limits;
    md_listener **ls;
    size_t nls, capls;
    md_conn *conns;
    size_t nconns;
    size_t nextern;                /* HTTP connections (md_listen_conn_reserve) */
    size_t out_total;              /* unsent reply bytes, all connections */
    struct event *evict;           /* while out_total is over its bound */
    struct evconnlistener **adopted; /* the HTTP listener(s), paused with ours */
    size_t nadopted, capadopted;
    struct event *unpause;         /* accepting paused for lack of descriptors */
    bool paused;
    bool stopped;                  /* md_listen_stop_accepting: never resume */
    md_listeners *next_set;        /* all sets, to find an adopted listener's */
};

/* Every md_listeners of the process (one in managerd): an adopted
 * listener's error callback gets libevent's HTTP server as its argument,
 * so its owner is looked up here. */
static md_listeners *all_sets;

struct md_conn {
    md_peer peer;                  /* first: the dispatcher sees an md_peer */
    md_listeners *owner;
    md_listener *listener;
    struct event *ev_read;         /* persistent */
    struct event *ev_write;        /* added while output is pending */
    evutil_socket_t fd;
    bool tcp;
    conn_state state;
    md_auth_ctx *auth;
    struct event *deadline;        /* handshake and first request */
    struct event *resume;          /* continue after a parked reply */
    const md_codec_ops *codec;
    bool in_cb;
    bool dead;
    bool authed;                   /* passed the handshake: logged */
    md_buf in;                     /* received bytes; in_off consumed */
    size_t in_off;
    md_outq pend;                  /* output the socket did not take yet */
    struct event *outwatch;        /* while output is over the soft bound */
    long long over_hard_since_ms;  /* 0: not over MD_OUTPUT_HARD_BYTES */
    long long progress_ms;         /* last time the socket took output */
    bool reading;                  /* ev_read is armed */
    bool behind;                   /* complete requests wait for a turn */
    bool hog;                      /* served at PRIO_HOG (see PRIO_NEW) */
    md_buf out;                    /* scratch for encoding replies */
    md_out_refs refs;              /* the big payloads of the reply in out */
    char who[80];
    md_conn *prev, *next;
};

static void conn_process(md_conn *c);
static void conn_sync_read(md_conn *c);
static void evict_stuck(md_listeners *ls);
static void resume_accepting(md_listeners *ls);

static md_log_rate rate_refused, rate_accept, rate_auth, rate_proto, rate_deadline, rate_output;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Event priorities: connections still in the handshake (and waiting for
 * their first request) go first, so that a new client connects in
 * milliseconds under any load; then everything else; last the "hogs",
 * connections that had more requests ready than one turn serves (only a
 * pipelining client does: Python waits for each reply). A hog is served
 * whenever nothing else is ready, MD_HOG_CALLBACKS connections at a
 * time (md_listen_base_new), and is no hog once it has caught up. */
enum { PRIO_NEW = 0, PRIO_BULK = 1, PRIO_HOG = 2, PRIO_LEVELS = 3 };

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t out_pending(const md_conn *c)
{
    return md_outq_pending(&c->pend);
}

/* No more requests are served to a connection over the soft bound, nor
 * to one that owes anything while all together owe too much. */
static bool out_blocked(const md_conn *c)
{
    size_t pending = out_pending(c);
    return pending > MD_OUTPUT_SOFT_BYTES || (pending && c->owner->out_total > MD_OUTPUT_TOTAL_BYTES);
}

/* The process's deferred trim (one event for all listener sets; NULL
 * without one, and then memory is trimmed at once). */
static struct event *trim_ev;

static void trim_now(void)
{
    md_alloc_warm_release();
    malloc_trim(0);
}

static void trim_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    trim_now();
}

/* The value pages' decay (md_val_slab_decay), every MD_SLAB_DECAY_MS
 * while a listener set exists: empty pages that no value needed for a
 * period go back to the kernel, a slice at a time (decay_more_ev). */
static struct event *decay_ev, *decay_more_ev;

static void decay_more_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    static const struct timeval gap = {0, MD_SLAB_DECAY_GAP_MS * 1000};
    if (md_val_slab_release_owed(MD_SLAB_DECAY_SLICE))
        evtimer_add(decay_more_ev, &gap);
}

static void decay_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    static const struct timeval gap = {0, MD_SLAB_DECAY_GAP_MS * 1000};
    (void)md_val_slab_decay(MD_SLAB_DECAY_SLICE);
    if (decay_more_ev && md_val_slab_release_owed(0))
        evtimer_add(decay_more_ev, &gap);
}

/* Hand freed memory back after a large request or reply, so that RSS
 * falls back after a peak instead of staying there: MD_TRIM_DELAY_MS
 * after the last one, so that a run of big messages reuses its memory
 * (limits.h). */
void md_listen_trim_after(size_t nbytes)
{
    if (nbytes < MD_TRIM_AFTER_BYTES)
        return;
    static const struct timeval delay = {0, MD_TRIM_DELAY_MS * 1000};
    if (!trim_ev || evtimer_add(trim_ev, &delay) < 0)
        trim_now();
}

/* ---- lifetime ------------------------------------------------------------ */

static void conn_free(md_conn *c)
{
    md_listeners *ls = c->owner;
    if (c->prev)
        c->prev->next = c->next;
    else
        ls->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ls->nconns--;
    ls->out_total -= out_pending(c);
    /* Parked calls of a vanished client go with it; what it owned is
     * released (see md_peer_close). */
    /* Only authenticated connections get their lines: a stranger's
     * failed handshakes are logged, rate-limited, by handle_handshake. */
    if (c->authed)
        md_log_info("%s: connection closed (%llu requests)", c->who,
                    (unsigned long long)c->peer.nrequests);
    c->state = CS_CLOSING;
    md_peer_close(&c->peer);
    if (c->deadline)
        event_free(c->deadline);
    if (c->resume)
        event_free(c->resume);
    if (c->ev_read)
        event_free(c->ev_read);
    if (c->ev_write)
        event_free(c->ev_write);
    if (c->outwatch)
        event_free(c->outwatch);
    if (c->fd >= 0)
        evutil_closesocket(c->fd);
    if (c->auth)
        md_auth_free(c->auth);
    md_buf_free(&c->in);
    /* What a vanished client was owed goes, and with it the last
     * reference to a value its reply was still being sent from. */
    md_outq_drop(&c->pend);
    size_t owed = md_outq_take_big(&c->pend);
    size_t big = c->in.cap > owed ? c->in.cap : owed;
    md_buf_free(&c->out);
    md_out_refs_free(&c->refs);
    md_free(c);
    md_listen_trim_after(big);
    resume_accepting(ls);
}

/* Close from anywhere: the connection may be on the caller's stack (a
 * reply delivered to it from another connection's callback), so it is
 * only marked dead here and freed from its own resume event. */
static void conn_close(md_conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    if (!c->in_cb)
        event_active(c->resume, EV_TIMEOUT, 0);
}

/* Close once everything queued has been written. */
static void conn_close_after_flush(md_conn *c)
{
    c->state = CS_CLOSING;
    if (!out_pending(c))
        conn_close(c);
}

static void protocol_error(md_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The one way a connection dies of bad input: one log line, close. */
static void protocol_error(md_conn *c, const char *fmt, ...)
{
    char msg[MD_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    md_log_rated(&rate_proto, MD_LOG_WARNING, "%s: %s; closing the connection", c->who, msg);
    conn_close(c);
}

/* An event of a live connection could not be armed (libevent is out of
 * memory): close the connection rather than leave it waiting for a
 * callback that will never come (replies never written, requests never
 * read, a stalled client never watched). */
static void conn_arm_failed(md_conn *c, const char *what)
{
    md_log_rated(&rate_output, MD_LOG_WARNING, "%s: out of memory arming its %s; "
                 "closing the connection", c->who, what);
    conn_close(c);
}

/* ---- writing -------------------------------------------------------------- */

/* Send now what the socket takes of m, a message not yet queued (with
 * the payloads its refs note); keep the rest for write_cb. -1 when the
 * connection is broken (it is then closed). m's bytes may be `from`'s
 * (the reply scratch; or NULL), whose memory and m's refs the queue may
 * take over (outq.h): a big reply is then written without a copy. What
 * of m's refs is not taken over is the caller's to drop. */
static int conn_send_msg(md_conn *c, md_outmsg *m, md_buf *from)
{
    bool idle = !out_pending(c);
    if (idle) {
        size_t sent = 0;
        int rc = md_outmsg_write(m, c->fd, &sent);
        md_stats_bytes_out(sent);
        if (rc < 0) {
            md_log_info("%s: send failed: %s", c->who, strerror(errno));
            conn_close(c);
            return -1;
        }
    }
    size_t left = md_outmsg_pending(m);
    if (!left)
        return 0;
    if (idle)
        c->progress_ms = now_ms();
    if (md_outq_keep(&c->pend, m, from) < 0) {
        md_log_warning("%s: out of memory queueing a reply", c->who);
        conn_close(c);
        return -1;
    }
    c->owner->out_total += left;
    if (event_add(c->ev_write, NULL) < 0) {
        conn_arm_failed(c, "write event");
        return -1;
    }
    /* While the timer is set, a scan found no one to close just now. */
    if (c->owner->out_total > MD_OUTPUT_TOTAL_BYTES && !event_pending(c->owner->evict, EV_TIMEOUT, NULL))
        evict_stuck(c->owner);
    if (out_pending(c) > MD_OUTPUT_HARD_BYTES && !c->over_hard_since_ms)
        c->over_hard_since_ms = now_ms();
    if (out_pending(c) > MD_OUTPUT_SOFT_BYTES) {
        /* Stop reading requests until the client reads its replies, and
         * watch that it does. */
        struct timeval sec = {1, 0};
        if (!event_pending(c->outwatch, EV_TIMEOUT, NULL) && evtimer_add(c->outwatch, &sec) < 0) {
            conn_arm_failed(c, "output watch");
            return -1;
        }
    }
    if (out_blocked(c))
        conn_sync_read(c);
    return 0;
}

/* All connections together owe more than MD_OUTPUT_TOTAL_BYTES: close
 * the connections that owe the most and have taken nothing for
 * MD_OUTPUT_EVICT_IDLE_MS
 * (Redis's maxmemory-clients), until the total is below the bound. A
 * client that reads its replies is never chosen. */
static void evict_stuck(md_listeners *ls)
{
    long long now = now_ms();
    while (ls->out_total > MD_OUTPUT_TOTAL_BYTES) {
        md_conn *worst = NULL;
        for (md_conn *c = ls->conns; c; c = c->next)
            if (!c->dead && now - c->progress_ms >= MD_OUTPUT_EVICT_IDLE_MS && out_pending(c) &&
                (!worst || out_pending(c) > out_pending(worst)))
                worst = c;
        if (!worst) {
            /* none stuck long enough yet: look again soon */
            struct timeval sec = {0, MD_OUTPUT_EVICT_IDLE_MS * 1000};
            /* Unarmed (out of memory), the next reply queued over the
             * bound scans again: conn_send calls here while the timer is
             * not pending. */
            if (!event_pending(ls->evict, EV_TIMEOUT, NULL))
                (void)evtimer_add(ls->evict, &sec);
            return;
        }
        md_log_rated(&rate_output, MD_LOG_WARNING,
                     "%s: %zu bytes of replies not read while all clients owe more than %zu; "
                     "closing the connection", worst->who, out_pending(worst),
                     (size_t)MD_OUTPUT_TOTAL_BYTES);
        ls->out_total -= out_pending(worst);
        md_outq_drop(&worst->pend); /* no longer owed */
        conn_close(worst);
    }
}

/* Once a second while a connection's output is over the soft bound:
 * close it when it stays over the hard bound, or takes nothing at all,
 * for too long (Redis's client-output-buffer-limit). */
static void outwatch_cb(evutil_socket_t fd, short what, void *arg)
{
    md_conn *c = arg;
    size_t pending = out_pending(c);
    if (pending <= MD_OUTPUT_SOFT_BYTES)
        return;
    long long now = now_ms();
    bool hard = c->over_hard_since_ms && now - c->over_hard_since_ms >= MD_OUTPUT_HARD_MS;
    if (hard || now - c->progress_ms >= MD_OUTPUT_STALL_MS) {
        md_log_rated(&rate_output, MD_LOG_WARNING,
                     "%s: %zu bytes of replies not read for %lld ms; closing the connection",
                     c->who, pending, now - c->progress_ms);
        conn_free(c);
        return;
    }
    struct timeval sec = {1, 0};
    if (evtimer_add(c->outwatch, &sec) < 0) {
        md_log_rated(&rate_output, MD_LOG_WARNING, "%s: out of memory arming its output "
                     "watch; closing the connection", c->who);
        conn_free(c);
    }
}

/* Send len bytes of data (copied if the socket does not take them all). */
static int conn_send(md_conn *c, const uint8_t *data, size_t len)
{
    md_outmsg m = {.buf = {(uint8_t *)data, len, len, false}};
    return conn_send_msg(c, &m, NULL);
}

/* c->out holds MD_FRAME_HDR_MAX spare bytes, then the payload, with the
 * big payloads of c->refs inserted: put the header right before the
 * payload and send it all with one call. */
static int write_frame(md_conn *c)
{
    uint8_t hdr[MD_FRAME_HDR_MAX];
    size_t len = c->out.len - MD_FRAME_HDR_MAX + c->refs.nbytes;
    /* Long frames only for peers that read them (3.8+, protocol 4+). */
    int hlen = md_frame_header(hdr, len, c->peer.protocol >= 4);
    if (hlen < 0)
        return -1;
    size_t start = MD_FRAME_HDR_MAX - (size_t)hlen;
    memcpy(c->out.data + start, hdr, (size_t)hlen);
    md_outmsg m = {.buf = c->out, .off = start, .refs = c->refs};
    conn_send_msg(c, &m, &c->out);
    /* The refs the queue did not take (sent, or a failure) go now. */
    c->refs = m.refs;
    md_out_refs_truncate(&c->refs, 0);
    return 0;
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    md_conn *c = arg;
    bool was_over = out_blocked(c);
    size_t sent = 0;
    int rc = md_outq_write(&c->pend, fd, &sent);
    if (sent) {
        md_stats_bytes_out(sent);
        c->owner->out_total -= sent;
        c->progress_ms = now_ms();
    }
    if (rc < 0) {
        conn_free(c);
        return;
    }
    if (out_pending(c) <= MD_OUTPUT_HARD_BYTES)
        c->over_hard_since_ms = 0;
    if (out_pending(c)) {
        if (was_over && !out_blocked(c))
            conn_sync_read(c);
        return;
    }
    event_del(c->ev_write);
    /* md_outq_write freed what it held: idle connections keep no output
     * memory. */
    md_listen_trim_after(md_outq_take_big(&c->pend));
    if (c->state == CS_CLOSING) {
        conn_free(c);
        return;
    }
    if (was_over)
        conn_sync_read(c);
}

/* What the codec must know of a reply's payload to spell it for the peer. */
static md_codec_payload payload_of(int kind)
{
    if (kind == MD_OUT_TRACEBACK || kind == MD_OUT_UNSERIALIZABLE)
        return MD_CODEC_TEXT;
    return kind == MD_OUT_ERROR ? MD_CODEC_EXCEPTION : MD_CODEC_RESULT;
}

static int encode_and_write(md_conn *c, int kind, md_val *payload, md_codec_err *err)
{
    static const uint8_t spare[MD_FRAME_HDR_MAX];
    md_buf_reset(&c->out);
    md_buf_append(&c->out, spare, sizeof spare);
    /* Big bytes are sent from their value, not copied into c->out. */
    if (md_codec_encode_reply_refs(c->codec, c->peer.protocol, md_out_kind_text(kind),
                                   payload_of(kind), payload, &c->out, &c->refs, err) < 0)
        return -1;
    if (write_frame(c) < 0) {
        md_out_refs_truncate(&c->refs, 0);
        return -1;
    }
    return 0;
}

/* The #TRACEBACK of an error of the connection itself (md_proto_traceback:
 * a new str, NULL when out of memory): "Class: what went wrong: why". */
static md_val *traceback_text(const char *what, const char *why)
{
    char text[400];
    snprintf(text, sizeof text, "%s: %s", what, why);
    return md_proto_traceback(text);
}

static void conn_deliver(md_peer *peer, int kind, md_val *payload)
{
    md_conn *c = (md_conn *)peer;
    if (c->state == CS_CLOSING || c->dead || !c->codec) {
        md_decref(payload);
        return;
    }
    md_codec_err err;
    memset(&err, 0, sizeof err);
    if (encode_and_write(c, kind, payload, &err) < 0) {
        /* Tell the client what could not be sent, as CPython does. */
        md_codec_err err2;
        md_val *text = traceback_text("TypeError: the reply cannot be serialized", err.msg);
        if (encode_and_write(c, MD_OUT_UNSERIALIZABLE, text, &err2) < 0) {
            protocol_error(c, "cannot send a reply: %s", err.msg);
            return;
        }
    }
    if (md_buf_failed(&c->out) || c->out.cap > 1 << 20)
        md_buf_free(&c->out); /* do not keep a huge buffer per idle connection */
    if (c->state == CS_FIRST)
        conn_close_after_flush(c);
    else if (c->state == CS_LONG && c->resume && !c->in_cb)
        event_active(c->resume, EV_TIMEOUT, 0); /* a parked call finished */
}

static void conn_describe(const md_peer *peer, md_peer_info *out)
{
    static const char *const states[] = {
        [CS_HANDSHAKE] = "handshake", [CS_FIRST] = "short", [CS_LONG] = "long",
        [CS_CLOSING] = "closing"};
    const md_conn *c = (const md_conn *)peer;
    snprintf(out->who, sizeof out->who, "%s", c->who);
    md_addr_format(&c->listener->addr, out->listener, sizeof out->listener);
    out->serializer = c->codec ? c->codec->name : "auto";
    out->state = states[c->state];
}

static const md_peer_ops conn_ops = {.deliver = conn_deliver, .describe = conn_describe,
                                     .encodes_at_once = true};

/* ---- requests ------------------------------------------------------------- */

static void handle_request(md_conn *c, const uint8_t *payload, size_t len)
{
    if (!c->codec) {
        c->codec = md_codec_detect(payload, len);
        if (!c->codec) {
            protocol_error(c, "the first message is neither a pickle nor XML");
            return;
        }
    }
    md_codec_msg msg;
    md_codec_err err;
    memset(&err, 0, sizeof err);
    md_codec_limits lim = c->owner->limits;
    md_gift gift = {NULL, 0, NULL};
    if (len >= MD_GIFT_MIN_BYTES && c->in_off == c->in.len) {
        /* A big message that ends the input: its big bytes value may keep
         * the buffer, so that a fresh q.put() touches its payload's pages
         * once (in recv), not twice. */
        gift.block = c->in.data;
        gift.size = c->in.cap;
        lim.gift = &gift;
    }
    int rc = md_codec_decode_request(c->codec, payload, len, &lim, &msg, &err);
    if (md_gift_close(&gift)) {
        /* The buffer is the value's now (or was freed with it). */
        md_buf_init(&c->in);
        c->in_off = 0;
        md_listen_trim_after(len);
    }
    c->peer.protocol = msg.protocol;
    if (rc < 0) {
        md_log_info("%s: undecodable request: %s", c->who, err.msg);
        conn_deliver(&c->peer, MD_OUT_TRACEBACK,
                     traceback_text("ValueError: managerd could not decode the request", err.msg));
        return;
    }
    c->peer.may_carry_proxies = msg.may_carry_proxies;
    md_val *req = msg.value;
    bool was_long = c->state == CS_LONG;
    if (c->state == CS_FIRST) {
        bool is_accept = false;
        if (md_disp_is_server_method(req, &is_accept) && is_accept) {
            /* accept_connection itself is a server method; what follows
             * on this connection are object calls. */
            c->state = CS_LONG;
            event_priority_set(c->ev_read, PRIO_BULK);
            event_priority_set(c->resume, PRIO_BULK);
            if (c->deadline)
                event_del(c->deadline);
        }
    }
    md_disp_request(c->owner->srv, &c->peer, req, was_long);
    md_decref(req);
}

/* A connection's first line, once it proved it knows the key. */
static void log_opened(const md_conn *c)
{
    char where[160];
    md_addr_format(&c->listener->addr, where, sizeof where);
    md_log_info("%s: connection opened on %s", c->who, where);
}

static void handle_handshake(md_conn *c, const uint8_t *payload, size_t len)
{
    md_buf out = MD_BUF_INIT;
    int rc = md_auth_feed(c->auth, payload, len, &out);
    if (out.len && conn_send(c, out.data, out.len) < 0) {
        md_buf_free(&out);
        return;
    }
    md_buf_free(&out);
    if (rc == MD_AUTH_DONE) {
        c->state = CS_FIRST;
        md_auth_free(c->auth);
        c->auth = NULL;
        c->authed = true;
        log_opened(c);
    } else if (rc < 0) {
        md_log_rated(&rate_auth, MD_LOG_WARNING, "%s: authentication failed: %s", c->who,
                     md_auth_errstr(c->auth));
        conn_close_after_flush(c);
    }
}

/* How many more bytes the frame at the head of the input needs; 0 when
 * it is complete. -1: protocol error (the connection is closed). */
static int64_t frame_needs(md_conn *c, size_t *hdr_len, uint64_t *plen)
{
    size_t avail = c->in.len - c->in_off;
    size_t max = c->state == CS_HANDSHAKE ? MD_HANDSHAKE_MAX : c->owner->opts.max_message;
    int rc = md_frame_parse(c->in.data + c->in_off, avail, max, hdr_len, plen);
    if (rc == MD_FRAME_NEED_MORE)
        return (int64_t)(MD_FRAME_HDR_MAX > avail ? MD_FRAME_HDR_MAX - avail : 1);
    if (rc < 0) {
        protocol_error(c, "%s", rc == MD_ETOOBIG ? "message longer than the limit" : "bad frame header");
        return -1;
    }
    return (int64_t)md_frame_missing(avail, *hdr_len, *plen);
}

/* Whether the frame at the head of the input is complete (and another
 * request is waiting to be served). */
static bool head_complete(md_conn *c)
{
    size_t hdr_len = 0;
    uint64_t plen = 0;
    return c->in_off < c->in.len && !c->dead && frame_needs(c, &hdr_len, &plen) == 0;
}

/* Serve the complete frames in the input buffer, at most one turn's
 * worth: a pipelining client must not keep the others waiting. */
static void conn_process(md_conn *c)
{
    unsigned served = 0;
    size_t nbytes = 0;
    bool turn_over = false;
    long long turn_end = now_us() + MD_TURN_USEC;
    while (!c->dead && c->state != CS_CLOSING && !c->peer.parked && c->in_off < c->in.len &&
           !out_blocked(c)) {
        if (served >= MD_TURN_REQUESTS || nbytes >= MD_TURN_BYTES ||
            (served && (now_us() >= turn_end || out_pending(c) >= MD_TURN_BYTES))) {
            turn_over = true;
            break;
        }
        size_t hdr_len = 0;
        uint64_t plen = 0;
        int64_t need = frame_needs(c, &hdr_len, &plen);
        if (need != 0)
            break;
        const uint8_t *payload = c->in.data + c->in_off + hdr_len;
        c->in_off += hdr_len + (size_t)plen;
        served++;
        nbytes += hdr_len + (size_t)plen;
        if (c->state == CS_HANDSHAKE)
            handle_handshake(c, payload, (size_t)plen);
        else
            handle_request(c, payload, (size_t)plen);
    }
    if (c->dead)
        return;
    if (c->in_off == c->in.len) {
        c->in_off = 0;
        md_buf_reset(&c->in);
        if (c->in.cap > 16384) {
            size_t cap = c->in.cap;
            md_buf_free(&c->in); /* idle connections keep little memory */
            md_listen_trim_after(cap);
        }
    }
    /* Behind: requests wait while the turn is over, or a parked call holds
     * more than a turn's input; the socket is not read meanwhile. */
    bool waiting = head_complete(c);
    if (c->dead)
        return;
    c->behind = waiting && (turn_over || c->in.len - c->in_off >= MD_TURN_BYTES);
    if (c->state == CS_LONG && (c->behind ? !c->hog : c->hog && c->in_off == c->in.len)) {
        /* Fails only for an event already active: it keeps its level. */
        c->hog = c->behind;
        event_priority_set(c->ev_read, c->hog ? PRIO_HOG : PRIO_BULK);
        event_priority_set(c->resume, c->hog ? PRIO_HOG : PRIO_BULK);
    }
    if (turn_over && waiting) {
        /* A zero timer runs after the loop has polled every socket. */
        static const struct timeval now = {0, 0};
        if (evtimer_add(c->resume, &now) < 0) {
            conn_arm_failed(c, "resume timer");
            return;
        }
    }
    conn_sync_read(c);
}

/* Arm the read event exactly when the connection may take more input. */
static void conn_sync_read(md_conn *c)
{
    if (c->dead || !c->ev_read)
        return;
    bool want = !c->behind && !out_blocked(c);
    if (want == c->reading)
        return;
    c->reading = want;
    if (want) {
        if (event_add(c->ev_read, NULL) < 0) {
            conn_arm_failed(c, "read event");
            return;
        }
        /* Requests held back by the output bound are served now. */
        if (!c->in_cb && head_complete(c) && !c->peer.parked) {
            static const struct timeval now = {0, 0};
            if (evtimer_add(c->resume, &now) < 0)
                conn_arm_failed(c, "resume timer");
        }
    } else {
        event_del(c->ev_read);
    }
}

/* ---- callbacks ------------------------------------------------------------ */

static void quickack(md_conn *c)
{
    /* Acknowledge at once: a Python client writes its #WELCOME# and its
     * first request as two small writes, and with Nagle on its side the
     * second waits for our ACK of the first (CPython's 40 ms stall). */
    if (c->tcp) {
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
}

/* Before the buffer grows for a big frame at the head of the input:
 * place the frame so that a big bytes payload in it lies where its value
 * can take the buffer over without moving it (md_gift_skew), which
 * saved a 10 MB memmove per q.put(). That needs the opcodes before the
 * payload, so until MD_GIFT_PREFIX_BYTES of the message are in (Python
 * sends a big message's header apart), false: read a modest chunk
 * first. */
static bool place_big_frame(md_conn *c, size_t hdr_len, uint64_t plen)
{
    size_t avail = c->in.len - c->in_off;
    if (avail < hdr_len + MD_GIFT_PREFIX_BYTES)
        return false;
    const uint8_t *msg = c->in.data + c->in_off + hdr_len;
    size_t at = md_pickle_guess_big_bytes(msg, avail - hdr_len, (size_t)plen, MD_GIFT_MIN_BYTES);
    if (!at || md_buf_reserve(&c->in, sizeof(void *)) < 0)
        return true; /* no payload seen, or no room: placed as it is */
    size_t skew = md_gift_skew(hdr_len + at, (size_t)plen);
    if (c->in_off != skew) {
        memmove(c->in.data + skew, c->in.data + c->in_off, avail);
        c->in_off = skew;
        c->in.len = skew + avail;
    }
    return true;
}

/* Read what the socket has: enough for the frame at the head of the
 * input when it is known, a modest chunk otherwise. false: the peer
 * closed or the read failed. */
static bool conn_read(md_conn *c)
{
    /* Move unconsumed bytes to the front before growing. */
    if (c->in_off && c->in_off == c->in.len) {
        c->in_off = 0;
        md_buf_reset(&c->in);
    } else if (c->in_off > 65536 && c->in_off > c->in.len / 2) {
        memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in_off = 0;
    }
    size_t want = 16384;
    size_t hdr_len = 0;
    uint64_t plen = 0;
    if (c->in.len > c->in_off && c->state != CS_CLOSING) {
        int64_t need = frame_needs(c, &hdr_len, &plen);
        if (need < 0)
            return true; /* closed by protocol_error */
        if ((uint64_t)need > want &&
            (plen < MD_GIFT_MIN_BYTES || c->in.cap - c->in.len > (size_t)need ||
             place_big_frame(c, hdr_len, plen)))
            want = (size_t)need;
        else if (need > 0 && c->in.cap - c->in.len > (size_t)need)
            /* The end of a frame the buffer was sized for: read into the
             * room there is. Reserving a modest chunk more doubled a 10 MB
             * message's buffer (a realloc) at its last read. */
            want = c->in.cap - c->in.len - 1;
    }
    /* A frame's rest is written whole: a fresh big buffer is faulted in
     * at once. */
    int rc = hdr_len ? md_buf_reserve_filled(&c->in, want) : md_buf_reserve(&c->in, want);
    if (rc < 0) {
        protocol_error(c, "out of memory reading a %zu-byte message", want);
        return true;
    }
    ssize_t n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1, 0);
    if (n > 0) {
        c->in.len += (size_t)n;
        md_stats_bytes_in((size_t)n);
        return true;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return true;
    return false;
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    md_conn *c = arg;
    c->in_cb = true;
    if (c->state == CS_HANDSHAKE || c->state == CS_FIRST)
        quickack(c);
    if (!conn_read(c)) {
        c->dead = true; /* end of file or error: the client is gone */
    } else if (c->state == CS_CLOSING) {
        c->in_off = 0; /* a short connection's extra requests are ignored */
        md_buf_reset(&c->in);
    } else if (!c->dead) {
        conn_process(c);
        /* A frame whose header came without its payload: Python writes
         * the header of a message over 16 KiB apart, and its Nagle holds
         * the payload until we acknowledge the header (a 40 ms stall). */
        if (!c->dead && c->in_off < c->in.len && !head_complete(c))
            quickack(c);
    }
    c->in_cb = false;
    if (c->dead)
        conn_free(c);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    md_conn *c = arg;
    c->in_cb = true;
    conn_process(c);
    c->in_cb = false;
    if (c->dead)
        conn_free(c);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    md_conn *c = arg;
    md_log_rated(&rate_deadline, MD_LOG_INFO, "%s: no handshake or request in time; closing", c->who);
    conn_free(c);
}

static void describe_peer(md_conn *c, const struct sockaddr *sa, int salen)
{
    char host[64] = "?";
    if (sa->sa_family == AF_INET)
        evutil_inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof host),
            snprintf(c->who, sizeof c->who, "%s:%d", host,
                     ntohs(((const struct sockaddr_in *)sa)->sin_port));
    else if (sa->sa_family == AF_INET6)
        evutil_inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof host),
            snprintf(c->who, sizeof c->who, "[%s]:%d", host,
                     ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
    else
        snprintf(c->who, sizeof c->who, "unix client fd %d", (int)c->fd);
}

static void accept_cb(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    md_listener *l = arg;
    md_listeners *ls = l->owner;
    if (!md_listen_conn_reserve(ls)) {
        evutil_closesocket(fd);
        return;
    }
    ls->nextern--; /* the slot is this list's from here on */
    md_conn *c = md_calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    md_peer_init(&c->peer, &conn_ops, ls->srv);
    c->peer.protocol = 4;
    c->owner = ls;
    c->listener = l;
    c->fd = fd;
    c->tcp = sa->sa_family == AF_INET || sa->sa_family == AF_INET6;
    c->codec = l->codec;
    describe_peer(c, sa, salen);
    c->next = ls->conns;
    if (ls->conns)
        ls->conns->prev = c;
    ls->conns = c;
    ls->nconns++;
    if (c->tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
    evutil_make_socket_nonblocking(fd);
    c->ev_read = event_new(ls->base, fd, EV_READ | EV_PERSIST, read_cb, c);
    c->ev_write = event_new(ls->base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
    c->auth = md_auth_new(MD_AUTH_SERVER, ls->opts.key, NULL);
    c->deadline = evtimer_new(ls->base, deadline_cb, c);
    c->resume = evtimer_new(ls->base, resume_cb, c);
    c->outwatch = evtimer_new(ls->base, outwatch_cb, c);
    c->reading = true;
    if (c->ev_read && c->resume) {
        event_priority_set(c->ev_read, PRIO_NEW);
        event_priority_set(c->resume, PRIO_NEW);
    }
    /* The deadline is armed before a byte is sent: a stranger without
     * one could hold its slot for ever, so failing to arm it closes the
     * connection like any other failure here. */
    md_buf out = MD_BUF_INIT;
    struct timeval tv = {MD_HANDSHAKE_DEADLINE_MS / 1000, (MD_HANDSHAKE_DEADLINE_MS % 1000) * 1000};
    if (!c->ev_read || !c->ev_write || !c->auth || !c->deadline || !c->resume || !c->outwatch ||
        md_auth_start(c->auth, &out) < 0 || event_add(c->ev_read, NULL) < 0 ||
        evtimer_add(c->deadline, &tv) < 0) {
        md_buf_free(&out);
        conn_free(c);
        return;
    }
    (void)conn_send(c, out.data, out.len);   /* on failure it closes c */
    md_buf_free(&out);
}

/* ---- accepting, descriptors and the connection count ------------------- */

static void set_accepting(md_listeners *ls, bool on)
{
    for (size_t i = 0; i < ls->nls; i++)
        if (ls->ls[i]->ev)
            on ? evconnlistener_enable(ls->ls[i]->ev) : evconnlistener_disable(ls->ls[i]->ev);
    for (size_t i = 0; i < ls->nadopted; i++)
        on ? evconnlistener_enable(ls->adopted[i]) : evconnlistener_disable(ls->adopted[i]);
}

static void resume_accepting(md_listeners *ls)
{
    if (!ls->paused)
        return;
    ls->paused = false;
    evtimer_del(ls->unpause);
    if (!ls->stopped)
        set_accepting(ls, true);
}

static void unpause_cb(evutil_socket_t fd, short what, void *arg)
{
    resume_accepting(arg);
}

static void evict_cb(evutil_socket_t fd, short what, void *arg)
{
    evict_stuck(arg);
}

/* Out of descriptors, the listening socket stays readable and every
 * accept fails at once: stop accepting until a connection closes (or
 * MD_ACCEPT_PAUSE_MS, for descriptors freed elsewhere) instead of
 * spinning. Other errors (a connection reset before accept) pass. */
static void accept_failed(md_listeners *ls, int err)
{
    md_log_rated(&rate_accept, MD_LOG_WARNING, "accept failed: %s%s",
                 evutil_socket_error_to_string(err),
                 err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM
                     ? "; accepting paused until a connection closes" : "");
    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
        return;
    if (!ls->paused) {
        ls->paused = true;
        set_accepting(ls, false);
    }
    struct timeval tv = {MD_ACCEPT_PAUSE_MS / 1000, (MD_ACCEPT_PAUSE_MS % 1000) * 1000};
    /* Without the timer nothing but a closing connection would resume
     * accepting, and with none open the listeners would stay deaf for
     * good: accept on, failing (rate-logged) until descriptors free up. */
    if (evtimer_add(ls->unpause, &tv) < 0)
        resume_accepting(ls);
}

static void accept_error_cb(struct evconnlistener *ev, void *arg)
{
    md_listener *l = arg;
    accept_failed(l->owner, EVUTIL_SOCKET_ERROR());
}

static void adopted_error_cb(struct evconnlistener *ev, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    for (md_listeners *ls = all_sets; ls; ls = ls->next_set)
        for (size_t i = 0; i < ls->nadopted; i++)
            if (ls->adopted[i] == ev) {
                accept_failed(ls, err);
                return;
            }
}

int md_listen_adopt(md_listeners *ls, struct evconnlistener *ev)
{
    if (md_grow(&ls->adopted, &ls->capadopted, ls->nadopted + 1, sizeof *ls->adopted) < 0)
        return -1;
    ls->adopted[ls->nadopted++] = ev;
    evconnlistener_set_error_cb(ev, adopted_error_cb);
    return 0;
}

bool md_listen_conn_reserve(md_listeners *ls)
{
    if (ls->nconns + ls->nextern >= ls->opts.max_connections) {
        md_log_rated(&rate_refused, MD_LOG_WARNING, "connection refused: %zu connections is the limit",
                     ls->nconns + ls->nextern);
        return false;
    }
    ls->nextern++;
    return true;
}

void md_listen_conn_release(md_listeners *ls)
{
    if (ls->nextern)
        ls->nextern--;
    resume_accepting(ls);
}

struct event_base *md_listen_base_new(void)
{
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return NULL;
    event_config_set_max_dispatch_interval(cfg, NULL, MD_HOG_CALLBACKS, PRIO_HOG);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (base && event_base_priority_init(base, PRIO_LEVELS) < 0) {
        event_base_free(base);
        return NULL;
    }
    return base;
}

long md_listen_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            rl.rlim_cur = was;
    }
    return rl.rlim_cur == RLIM_INFINITY ? LONG_MAX : (long)rl.rlim_cur;
}

/* The connection limit: as asked, but never more than the descriptors
 * the process may open, less a reserve, so that running out shows as a
 * refused connection, not as failing accepts and files. */
static size_t cap_connections(size_t asked)
{
    struct rlimit rl;
    size_t limit = asked ? asked : MD_MAX_CONNECTIONS_DEFAULT;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return limit;
    size_t fds = rl.rlim_cur > 2 * MD_FD_RESERVE ? (size_t)rl.rlim_cur - MD_FD_RESERVE
                                                 : (size_t)rl.rlim_cur / 2;
    if (limit > fds) {
        if (asked)
            md_log_warning("--max-connections %zu is above the descriptor limit; using %zu",
                           asked, fds);
        limit = fds;
    }
    return limit;
}

/* ---- listeners ------------------------------------------------------------ */

md_listeners *md_listen_new(md_server *srv, struct event_base *base, const md_listen_opts *opts)
{
    md_listeners *ls = md_calloc(1, sizeof *ls);
    if (!ls)
        return NULL;
    ls->srv = srv;
    ls->base = base;
    ls->opts = *opts;
    if (!ls->opts.max_message)
        ls->opts.max_message = MD_MAX_MESSAGE_DEFAULT;
    if (ls->opts.max_message < MD_MAX_MESSAGE_MIN)
        ls->opts.max_message = MD_MAX_MESSAGE_MIN;
    if (ls->opts.max_message > MD_MAX_MESSAGE_MAX)
        ls->opts.max_message = MD_MAX_MESSAGE_MAX;
    ls->opts.max_connections = cap_connections(ls->opts.max_connections);
    md_alloc_tune_for_server();
    md_codec_limits_default(&ls->limits);
    ls->limits.max_bytes = ls->opts.max_message;
    /* For a base not made by md_listen_base_new: the priorities without
     * the dispatch limit. Events made from here on default to PRIO_BULK. */
    if (event_base_get_npriorities(base) < PRIO_LEVELS)
        event_base_priority_init(base, PRIO_LEVELS);
    ls->unpause = evtimer_new(base, unpause_cb, ls);
    ls->evict = evtimer_new(base, evict_cb, ls);
    if (!ls->unpause || !ls->evict) {
        if (ls->unpause)
            event_free(ls->unpause);
        md_free(ls);
        return NULL;
    }
    if (!trim_ev) {
        trim_ev = evtimer_new(base, trim_cb, NULL); /* NULL: trims at once */
        md_alloc_warm_enable(trim_ev != NULL);     /* the trim gives them back */
    }
    if (!decay_ev) {
        static const struct timeval period = {MD_SLAB_DECAY_MS / 1000,
                                              MD_SLAB_DECAY_MS % 1000 * 1000};
        decay_ev = event_new(base, -1, EV_PERSIST, decay_cb, NULL);
        decay_more_ev = evtimer_new(base, decay_more_cb, NULL);
        md_val_slab_keep(decay_ev && decay_more_ev && event_add(decay_ev, &period) == 0);
    }
    ls->next_set = all_sets;
    all_sets = ls;
    return ls;
}

static void fill_actual_address(md_listener *l, evutil_socket_t fd)
{
    if (l->addr.kind != MD_ADDR_TCP)
        return;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            l->addr.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            l->addr.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
}

/* A new listener for addr (not yet listening), or NULL with a message. */
static md_listener *listener_new(md_listeners *ls, const md_addr *addr, char *err, size_t errlen)
{
    if (addr->kind == MD_ADDR_HTTP) {
        snprintf(err, errlen, "HTTP listeners are not served by this module");
        return NULL;
    }
    md_listener *l = md_calloc(1, sizeof *l);
    if (!l || md_grow(&ls->ls, &ls->capls, ls->nls + 1, sizeof *ls->ls) < 0) {
        md_free(l);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->addr = *addr;
    l->owner = ls;
    l->codec = strcmp(addr->serializer, "auto") == 0 ? NULL : md_codec_find(addr->serializer);
    if (!l->codec && strcmp(addr->serializer, "auto") != 0) {
        snprintf(err, errlen, "serializer '%s' is not available", addr->serializer);
        md_free(l);
        return NULL;
    }
    return l;
}

/* The listener listens: take it into the set. */
static void listener_added(md_listeners *ls, md_listener *l, md_addr *addr)
{
    evconnlistener_set_error_cb(l->ev, accept_error_cb);
    fill_actual_address(l, evconnlistener_get_fd(l->ev));
    *addr = l->addr;
    ls->ls[ls->nls++] = l;
}

int md_listen_add(md_listeners *ls, md_addr *addr, char *err, size_t errlen)
{
    md_listener *l = listener_new(ls, addr, err, errlen);
    if (!l)
        return -1;
    if (addr->kind == MD_ADDR_UNIX) {
        /* No one else may replace the socket: check its folder. */
        if (md_addr_check_socket_folder(addr, err, errlen) < 0) {
            md_free(l);
            return -1;
        }
        /* A stale socket file from an earlier run would make bind fail. */
        struct stat st;
        if (lstat(addr->path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(addr->path);
    }
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC;
    if (addr->kind == MD_ADDR_TCP)
        flags |= LEV_OPT_REUSEABLE;
    /* The socket file is created 0600 (umask), then widened to ?mode=. */
    mode_t old_umask = umask(0177);
    l->ev = evconnlistener_new_bind(ls->base, accept_cb, l, flags, 1024,
                                    (struct sockaddr *)&addr->ss, (int)addr->sslen);
    umask(old_umask);
    if (l->ev && addr->kind == MD_ADDR_UNIX && addr->mode && chmod(addr->path, addr->mode) < 0) {
        snprintf(err, errlen, "cannot chmod %s: %s", addr->path, strerror(errno));
        evconnlistener_free(l->ev);
        md_free(l);
        return -1;
    }
    if (!l->ev) {
        char a[300];
        md_addr_format(addr, a, sizeof a);
        snprintf(err, errlen, "cannot listen on %s: %s", a, strerror(errno));
        md_free(l);
        return -1;
    }
    listener_added(ls, l, addr);
    return 0;
}

/* The address a passed socket is bound to, or -1 if it is no listening
 * stream socket of a kind managerd serves. */
static int inherited_address(int fd, const char *serializer, md_addr *a)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int listening = 0, type = 0;
    socklen_t olen = sizeof listening, tlen = sizeof type;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) < 0 || !listening ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 || type != SOCK_STREAM)
        return -1;
    memset(a, 0, sizeof *a);
    snprintf(a->serializer, sizeof a->serializer, "%s", serializer);
    memcpy(&a->ss, &ss, len);
    a->sslen = len;
    if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
        a->kind = MD_ADDR_TCP;
        const void *ip = ss.ss_family == AF_INET ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
                                                 : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
        evutil_inet_ntop(ss.ss_family, ip, a->host, sizeof a->host);
        return 0;
    }
    if (ss.ss_family != AF_UNIX)
        return -1;
    const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
    size_t n = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
    a->kind = n && un->sun_path[0] == 0 ? MD_ADDR_ABSTRACT : MD_ADDR_UNIX;
    size_t skip = a->kind == MD_ADDR_ABSTRACT;
    n = n > skip ? n - skip : 0;
    n = n < sizeof a->path - 1 ? n : sizeof a->path - 1;
    memcpy(a->path, un->sun_path + skip, n);
    a->path[n] = 0;
    return 0;
}

int md_listen_add_fd(md_listeners *ls, int fd, const char *serializer, md_addr *addr, char *err,
                     size_t errlen)
{
    if (inherited_address(fd, serializer, addr) < 0) {
        snprintf(err, errlen, "passed descriptor %d is not a listening TCP or Unix stream socket", fd);
        return -1;
    }
    md_listener *l = listener_new(ls, addr, err, errlen);
    if (!l)
        return -1;
    l->inherited = true;
    evutil_make_socket_nonblocking(fd);
    l->ev = evconnlistener_new(ls->base, accept_cb, l, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                               -1, fd);
    if (!l->ev) {
        snprintf(err, errlen, "cannot serve passed descriptor %d: %s", fd, strerror(errno));
        md_free(l);
        return -1;
    }
    listener_added(ls, l, addr);
    return 0;
}

void md_listen_stop_accepting(md_listeners *ls)
{
    ls->stopped = true;
    for (size_t i = 0; i < ls->nls; i++)
        if (ls->ls[i]->ev)
            evconnlistener_disable(ls->ls[i]->ev);
}

size_t md_listen_nconns(const md_listeners *ls)
{
    return ls->nconns + ls->nextern;
}

void md_listen_free(md_listeners *ls)
{
    if (!ls)
        return;
    while (ls->conns) {
        ls->conns->in_cb = false;
        conn_free(ls->conns);
    }
    for (size_t i = 0; i < ls->nls; i++) {
        md_listener *l = ls->ls[i];
        if (l->ev)
            evconnlistener_free(l->ev);
        if (l->addr.kind == MD_ADDR_UNIX && !l->inherited)
            unlink(l->addr.path);
        md_free(l);
    }
    for (md_listeners **p = &all_sets; *p; p = &(*p)->next_set)
        if (*p == ls) {
            *p = ls->next_set;
            break;
        }
    if (!all_sets && trim_ev) {
        event_free(trim_ev);
        trim_ev = NULL;
        md_alloc_warm_enable(false);
        trim_now();
    }
    if (!all_sets && decay_ev) {
        event_free(decay_ev);
        decay_ev = NULL;
        md_val_slab_keep(false);
    }
    if (!all_sets && decay_more_ev) {
        event_free(decay_more_ev);
        decay_more_ev = NULL;
    }
    event_free(ls->unpause);
    event_free(ls->evict);
    md_free(ls->adopted);
    md_free(ls->ls);
    md_free(ls);
}
