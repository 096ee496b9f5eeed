/* limits.h - every limit managerd enforces, in one place, with its
 * default and why. Runtime settings are clamped to the MIN/MAX bounds.
 * Hitting a limit fails one request or closes one connection, never more.
 */
#ifndef MD_LIMITS_H
#define MD_LIMITS_H

#include <stdint.h>

/* Largest message (frame payload) accepted by default. CPython has no
 * limit and allocates whatever a header announces; 64 MiB holds any
 * realistic manager call. Settable per listener up to MD_MAX_MESSAGE_MAX. */
#define MD_MAX_MESSAGE_DEFAULT   (64u * 1024 * 1024)
#define MD_MAX_MESSAGE_MIN       (4u * 1024)
#define MD_MAX_MESSAGE_MAX       ((size_t)1 << 36)

/* Handshake messages: CPython reads them with a 256-byte limit. */
#define MD_HANDSHAKE_MAX         256
/* A peer must finish the handshake within this time. */
#define MD_HANDSHAKE_DEADLINE_MS 10000

/* Nesting depth of decoded and encoded values (pickle and XML). Python's
 * own recursion limit is 1000 frames; deeper data than this cannot be
 * pickled by a stock Python anyway, so 10000 costs no real program. */
#define MD_MAX_DEPTH             10000

/* Stack a recursive walk leaves free (core/base/alloc.c, md_stack_exhausted):
 * room for the error path and libc below the deepest frame. */
#define MD_STACK_RESERVE_BYTES   (256 * 1024)

/* The size of an x86-64 (and arm64 4K-granule) transparent huge page: a
 * hash index at least this big asks for huge pages (md_advise_huge). Not
 * a limit but a unit; a wrong guess only makes the hint do nothing. */
#define MD_HUGE_PAGE_BYTES       ((size_t)2 * 1024 * 1024)

/* Small values (str and bytes of up to about 65 bytes, floats, tuples of
 * up to 5 items, list, dict and set objects, small tables' index and
 * entries blocks, the items of lists of up to 10, ...) come from pages of one size class each (8-byte steps up
 * to MD_SLAB_MAX_BYTES: 80, a dict object with its GC link) instead of
 * malloc: no 8-byte malloc header or 16-byte rounding (a 21-byte key
 * takes 24 bytes, not 32), and a free list per page instead of malloc's
 * bins (a third of decoding was malloc and free). Not limits but sizes;
 * any values work. */
#define MD_SLAB_PAGE_BYTES       ((size_t)16 * 1024)
#define MD_SLAB_MAX_BYTES        80
/* Pairs a dict the pickle decoder leaves pending reserves at its first
 * batch (if its message can hold that many), in entries of 20 bytes: a
 * 10,000-pair d.update() chunk is appended without copying its entries
 * again; bigger dicts then double. Unused room is given back when the
 * dict settles, and pages never written cost no memory meanwhile; not
 * more, as the bound the decoder knows is loose (2 bytes a pair, where
 * a str -> int pair takes 14) and a chunk's block is freed after its
 * merge. */
#define MD_PENDING_FIRST_PAIRS   ((size_t)16 * 1024)
/* Empty pages a thread keeps resident for new pages (8 MiB): enough for
 * the objects of a 2 MB message of small tuples (490 pages) decoded and
 * dropped over and over without faulting its memory in again each time;
 * beyond that, the memory of a page whose last object is freed goes back
 * to the kernel. */
#define MD_SLAB_SPARE_PAGES      512
/* The server keeps all empty pages resident and gives back, every
 * MD_SLAB_DECAY_MS, those past MD_SLAB_SPARE_PAGES that no new page
 * needed during the period before (md_val_slab_decay): a big value
 * dropped and made again within a second reuses its memory, and RSS falls
 * back one to two seconds after the last. They go back
 * MD_SLAB_DECAY_SLICE pages (16 MiB) at a time, MD_SLAB_DECAY_GAP_MS
 * apart, so that the other clients are served between slices: 256 MiB
 * in one pass held every client up 45 ms. */
#define MD_SLAB_DECAY_MS         1000
#define MD_SLAB_DECAY_SLICE      ((size_t)1024)
#define MD_SLAB_DECAY_GAP_MS     1
/* Pages are cut from chunks this big (64 pages), each mapped on its own
 * and aligned by trimming the mapping, so alignment wastes nothing. They
 * used to come from malloc's heap (96 KiB, posix_memalign), whose
 * alignment gap cost 7 B per stored dict item (61 B/item for 1M str ->
 * int items, 54 mapped); mapped chunks then left the heap holding only a
 * message's big blocks, whose free top glibc gave back and faulted in
 * again at every message, which MD_TRIM_THRESHOLD_BYTES and the deferred
 * trim (MD_TRIM_DELAY_MS) now prevent. */
#define MD_SLAB_CHUNK_BYTES      ((size_t)1024 * 1024)

/* Pickle decoder: memo entries and value-stack size. Both grow with the
 * message, so they are bounded by the message size too; these caps stop
 * a small hostile message (PUT 4000000000) from allocating a huge table. */
#define MD_PICKLE_MAX_MEMO       (1u << 24)
#define MD_PICKLE_MAX_STACK      (1u << 24)
#define MD_PICKLE_MAX_MARKS      MD_MAX_DEPTH
/* Integers: LONG4 / decimal text longer than this many bytes are refused
 * (CPython's own int-to-str limit is 4300 digits; this allows any int a
 * program would store). */
#define MD_PICKLE_MAX_INT_BYTES  (1u << 20)

/* Shared containers: the most items one repetition (list * n, list *= n)
 * may produce. Python has no limit but memory; a client asking for
 * [0] * 10**12 must get MemoryError, not exhaust (or, with overcommit,
 * crash) the server. 16M items is 128 MiB of pointers, and about the
 * most a 64 MiB message can carry back anyway. */
#define MD_MAX_REPEAT_ITEMS      ((size_t)1 << 24)

/* Lazy iterables a client passes as data (range, zip, map, filter, iter,
 * ...; core/types/iterables.c): the most steps one evaluation takes,
 * items skipped by filter() or an iterator's position included. A
 * list(range(10**12)) gets MemoryError at once instead of filling the
 * server's memory; 16M items is as many as MD_MAX_REPEAT_ITEMS allows. */
#define MD_MAX_ITER_ITEMS        ((size_t)1 << 24)

/* repr()/str() output: a value built from shared references can have an
 * astronomically long repr though its pickle is tiny. 16 MiB is far more
 * than any proxy's str() is useful for. */
#define MD_MAX_REPR_BYTES        ((size_t)16 << 20)

/* Containers one hash or == may visit (a shared-reference DAG has
 * exponentially many paths); real values stay far below. */
#define MD_MAX_VALUE_WORK        10000000

/* Cycle collection during operation (core/value/value.c): a young collection
 * once this many containers were made since the last one (well under a
 * millisecond), followed by a full one while the old generation holds
 * fewer than MD_GC_FULL_MIN containers (a few milliseconds at most);
 * past that, a full one only when the survivors of young collections
 * reach a quarter of the old generation, so the full walk of a million
 * stored containers (about 25 ms) is paid once per 250,000 new
 * long-lived ones. */
#define MD_GC_YOUNG_THRESHOLD    10000
#define MD_GC_FULL_MIN           100000

/* d.update(dict) of at least this many pairs replies before it merges
 * (core/types/dict.c): below it the merge is too short for the client
 * to gain anything meanwhile. */
#define MD_UPDATE_LATER_MIN_PAIRS 256

/* Object idents: the start of a run is random in [MIN, MIN + SPAN) and
 * each new object takes the next, so all are 12 hex digits, the first an
 * 'a' (for the next 3 * 2^42 objects), and none is reused within a run.
 * The leading letter keeps an ident from looking like a number to
 * XML-RPC clients that type what they send by its looks: Perl's RPC::XML
 * sent an ident it had been given as "9215031477560" back as an <i8>,
 * and 1 ident in about 175 was all decimal digits when they began with
 * 8 or 9. */
#define MD_IDENT_MIN             ((uint64_t)0xa << 44)
#define MD_IDENT_SPAN            ((uint64_t)1 << 42)

/* The clients' reference count of one shared object (32-bit): incref
 * past it fails with OverflowError. */
#define MD_OBJ_REFCOUNT_MAX      (UINT32_MAX - 1)

/* debug_info lists the objects with the lowest idents, at most this many,
 * then says how many more there are: CPython lists all, which for a
 * million objects is seconds of work and 100 MB of text in one turn. */
#define MD_DEBUG_INFO_MAX_OBJECTS 1000

/* Shared-memory segment names the SharedMemoryManager requests accept:
 * exactly what Python's shared_memory makes on POSIX (3.8-3.13:
 * '/psm_' + secrets.token_hex(4), sent without the slash). */
#define MD_SHM_NAME_PREFIX       "psm_"
#define MD_SHM_NAME_HEX          8

/* An authkey shorter than this draws a warning at start (an empty one is
 * refused): Python's own keys are 32 random bytes. */
#define MD_AUTHKEY_WARN_BELOW    16

/* Server-wide counts. The connection limit counts pickle and HTTP
 * connections together; by default it is also capped at the descriptor
 * limit (RLIMIT_NOFILE, raised to its hard limit at start) less
 * MD_FD_RESERVE, kept for listeners, the log, key files and libevent. */
#define MD_MAX_CONNECTIONS_DEFAULT 100000
#define MD_MAX_OBJECTS_DEFAULT     (1u << 24)
#define MD_FD_RESERVE              64

/* Out of descriptors (EMFILE/ENFILE) on accept: stop accepting until a
 * connection closes, or at the latest for this long, instead of spinning
 * on a listener that can never succeed. */
#define MD_ACCEPT_PAUSE_MS         200

/* Log lines a client can cause (failed handshakes, refused connections,
 * protocol errors): at most MD_LOG_BURST lines of one kind per
 * MD_LOG_WINDOW_MS; the rest are counted and reported in one line. */
#define MD_LOG_BURST               10
#define MD_LOG_WINDOW_MS           1000

/* Unsent replies per connection (Redis's client-output-buffer-limit is
 * the model). Above the soft bound the server stops reading requests from
 * that connection until the client has read its replies; a connection
 * above the hard bound for MD_OUTPUT_HARD_MS, or above the soft bound
 * with nothing written for MD_OUTPUT_STALL_MS, is closed. One reply may
 * take a connection past the soft bound: the bound only stops the next. */
#define MD_OUTPUT_SOFT_BYTES       ((size_t)1 << 20)
#define MD_OUTPUT_HARD_BYTES       ((size_t)256 << 20)
#define MD_OUTPUT_HARD_MS          10000
#define MD_OUTPUT_STALL_MS         30000
/* All connections together: above this many unsent bytes, connections
 * that owe the most and have read nothing for MD_OUTPUT_EVICT_IDLE_MS
 * are closed
 * (Redis's maxmemory-clients), so that 1,000 clients each leaving a
 * large reply unread cannot take gigabytes. */
#define MD_OUTPUT_TOTAL_BYTES      ((size_t)256 << 20)
#define MD_OUTPUT_EVICT_IDLE_MS    250

/* Fairness: one connection is served at most this many requests, this
 * many request bytes (or until it owes this many reply bytes) or this
 * much time (a started request always finishes) per turn of the loop; then every other ready
 * connection gets its turn. So a turn costs about 0.2 ms per busy
 * connection, and connections still in the handshake go first. Unread
 * input is bounded the same way: above MD_TURN_BYTES of complete but
 * unserved requests the socket is not read. */
#define MD_TURN_REQUESTS           16
#define MD_TURN_BYTES              ((size_t)64 << 10)
#define MD_TURN_USEC               200
/* Connections that pipeline (more requests ready than a turn serves) are
 * served after all others, this many between two looks for new events. */
#define MD_HOG_CALLBACKS           4

/* XML-RPC over HTTP. Headers (request line included) are bounded as
 * other servers bound them (nginx 8-32 KiB, Apache 8 KiB a line) while
 * leaving room for HTTP Basic with the longest key file
 * (MD_AUTHKEY_FILE_MAX bytes, 4/3 of it in base64). */
#define MD_AUTHKEY_FILE_MAX        4096
#define MD_HTTP_MAX_HEADER_BYTES   ((size_t)16 << 10)
/* The Authorization header's user:password, decoded. */
#define MD_HTTP_AUTH_MAX           (MD_AUTHKEY_FILE_MAX + 1024)
/* Body of a request on a connection that has not yet sent an authorized
 * request (libevent 2.1 cannot see the headers before it reads the body,
 * see transports/http.c): a larger Content-Length gets 413 and the
 * connection is closed before the body is read. 256 KiB holds the first
 * call of nearly every program; 1,000 unauthenticated connections can
 * then make the server hold 256 MiB at most, not 64 GiB. */
#define MD_HTTP_PREAUTH_BODY_BYTES ((size_t)256 << 10)
/* A connection that sends nothing for this long (idle keep-alive, slow
 * headers, slow body) is closed; so is one whose reply is not read. The
 * handshake deadline of the pickle port is as long. Python's
 * xmlrpc.client reconnects by itself when an idle connection was closed. */
#define MD_HTTP_TIMEOUT_S          10

/* After a request or reply this large, free memory is handed back to
 * the system (malloc_trim, which also gives back free pages inside the
 * heap) so that RSS falls back after a peak; blocks from
 * MD_MMAP_THRESHOLD_BYTES up are mapped on their own (mallopt), so
 * freeing one gives it back at once. The threshold is 32 MiB, not 256
 * KiB: a big message's decoder memo, value stack and list arrays (1-2 MB
 * for 100k items) were then fresh mappings faulted in at every message
 * (15 % of decoding a 100k str list, 25 % of a 100k dict's); in the heap
 * they are reused, and the deferred trim still gives them back. 64 KiB,
 * not 1 MiB, for the trim: since glibc no
 * longer trims its heap by itself (MD_TRIM_THRESHOLD_BYTES), messages of
 * 10,000 items (150 KB) left their decoding's free memory (1.2 MB) in
 * the heap, 12 B per item of a 100k-item dict; the trim is deferred, so
 * a run of such messages pays one trim, not one each. */
#define MD_TRIM_AFTER_BYTES        ((size_t)64 << 10)
#define MD_MMAP_THRESHOLD_BYTES    ((size_t)32 << 20)
/* The trim above waits until no big message came for this long, so that
 * a run of big messages reuses memory already faulted in (a 10 MB
 * q.put() faulted 5,000 pages in and out each time) and RSS still falls
 * back promptly once they stop. Beside it, glibc's own trimming of its
 * heap top is raised to MD_TRIM_THRESHOLD_BYTES (mallopt), or every
 * message's temporary blocks would be given back and faulted in again. */
#define MD_TRIM_DELAY_MS           100
#define MD_TRIM_THRESHOLD_BYTES    ((size_t)64 << 20)
/* Big blocks kept warm between messages until that trim (core/base/alloc.h,
 * md_free_sized): from 1 MiB, at most 4 blocks of at most 64 MiB each
 * (a q.put()/q.get() pair of a big payload holds two or three at a
 * time: input, value, reply; the input becomes the value when the value
 * takes its buffer over, MD_GIFT_MIN_BYTES). Memory only a short burst
 * holds. */
#define MD_WARM_MIN_BYTES          ((size_t)1 << 20)
#define MD_WARM_MAX_BYTES          ((size_t)64 << 20)
#define MD_WARM_BLOCKS             4
/* A bytes or bytearray value of at least this many bytes decoded from a
 * message's receive buffer takes the buffer over (md_bytes_new_in)
 * instead of being copied into fresh memory, when it makes at least
 * MD_GIFT_SHARE_NUM / MD_GIFT_SHARE_DEN of the buffer (a value must not
 * keep a much bigger block alive: the rest of the buffer is lost to it).
 * A fresh 10 MB q.put() then touches 10 MB of new pages once, not twice,
 * and copies the payload within pages already touched. */
#define MD_GIFT_MIN_BYTES          ((size_t)1 << 20)
#define MD_GIFT_SHARE_NUM          2
#define MD_GIFT_SHARE_DEN          3
/* How much of a big message (MD_GIFT_MIN_BYTES or more) the transport
 * reads before its buffer is sized for it, so as to see where a big
 * bytes payload lies and place the message so that the value takes the
 * buffer without moving its bytes (transports/listen.c place_big_frame).
 * A q.put()'s opcodes before its payload are about 60 bytes. */
#define MD_GIFT_PREFIX_BYTES       256
/* A str, bytes or bytearray value of at least this many bytes in a reply
 * is sent from the value itself (serializers/outref.h, transports/outq.h):
 * the pickle encoder writes its opcode header and the connection writes
 * the payload straight from the value, which it keeps alive until the
 * bytes are out, instead of copying it into the reply buffer (a 10 MB
 * q.get() copied 10 MB into a buffer that was, on a fresh server, 2,441
 * new pages). Below it a copy costs less than what a reference costs: a
 * piece more to send and to account for. At least the pickle's frame
 * size (64 KiB): a payload that big is never inside a frame. */
#define MD_REPLY_REF_MIN_BYTES     ((size_t)256 << 10)
/* Pieces (buffers and referenced payloads) one writev of a connection's
 * output takes at most (the kernel's IOV_MAX is 1024). */
#define MD_OUTQ_IOV                64

/* XML-RPC replies: the same kinds of budgets as repr. A value made of
 * shared references (a DAG) has an exponentially large XML form though
 * its pickle is tiny; encoding it stops after this many containers
 * (lists, tuples, sets, dicts, objects; each visit counts) or bytes and
 * fails that one call. 256K containers take the loop about 40 ms; an
 * XML-RPC client parses such a reply far more slowly than that anyway. */
#define MD_XMLRPC_MAX_WORK         ((size_t)1 << 18)
#define MD_XMLRPC_MAX_OUTPUT_BYTES ((size_t)64 << 20)

/* Introspection (core/disp/introspect.c, managerctl): the most rows one
 * section of a #managerd.* reply carries (a million objects must not make
 * a reply of hundreds of MiB; --sort picks which ones are shown), the
 * repr bytes of one object in a listing and in `managerctl show`. */
#define MD_INTROSPECT_MAX_ROWS     10000
#define MD_INTROSPECT_REPR_BYTES   60
#define MD_INTROSPECT_SHOW_BYTES   ((size_t)64 << 10)
/* Distinct (type, method) rows of the request counters and latency
 * histograms; method names come from the static method tables, so real
 * servers use about 200; past this everything shares an "other" row. */
#define MD_STATS_MAX_METHODS       512

/* --metrics: the largest scrape request (headers, and a body, which a
 * GET has none of) accepted; scrapers need no authkey, so they get only
 * this small budget and MD_HTTP_TIMEOUT_S. */
#define MD_METRICS_MAX_REQUEST_BYTES 8192

/* Socket activation: the most listening sockets taken from LISTEN_FDS
 * (as many as --listen allows). */
#define MD_ACTIVATION_MAX_FDS      32

#endif /* MD_LIMITS_H */
