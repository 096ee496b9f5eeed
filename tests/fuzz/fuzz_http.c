/* fuzz_http.c - libFuzzer target for the XML-RPC-over-HTTP request path
 * (transports/http.c behind libevent's evhttp, the XML-RPC codec and the
 * dispatcher), driven as a client drives it: each input is written as is
 * to a loopback TCP connection to the endpoint, then the connection is
 * half-closed and the server's answers read until it closes or a bounded
 * number of loop turns pass (a parked call, e.g. Queue.get, never
 * answers). An input that starts with 0xff N runs with the server's
 * allocations failing after N more.
 *
 * One server lives for the whole run (key FUZZ_KEY, body limit 64 KiB,
 * at most MAX_OBJECTS objects, so inputs that create objects hit the
 * limit instead of growing the process). Any crash or sanitizer report
 * is a failure; so is a server that stops answering a well-formed request
 * after an input (checked every PROBE_EVERY inputs).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/disp/disp.h"
#include "core/types/registry.h"
#include "core/value/value.h"
#include "transports/wire/address.h"
#include "transports/wire/auth.h"
#include "transports/http.h"

#define FUZZ_KEY "fuzz-http-key"
#define MAX_OBJECTS 256
#define MAX_BODY 65536
#define MAX_TURNS 400
#define PROBE_EVERY 1000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct event_base *base;
static md_server *srv;
static md_http *http;
static md_auth_key *key;
static struct sockaddr_in endpoint;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_http: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    md_server_opts so = {.max_objects = MAX_OBJECTS};
    char err[300];
    md_addr addr;
    base = event_base_new();
    srv = base ? md_server_new(base, &so) : NULL;
    key = md_auth_key_new((const uint8_t *)FUZZ_KEY, strlen(FUZZ_KEY));
    md_http_opts ho = {.max_body = MAX_BODY, .key = key};
    if (!srv || !key || md_reg_add_syncmanager(srv) < 0 ||
        !(http = md_http_new(srv, base, &ho)) ||
        md_addr_parse("http://127.0.0.1:0/RPC2", &addr, err, sizeof err) < 0 ||
        md_http_listen(http, &addr, err, sizeof err) < 0)
        die("cannot start the endpoint");
    endpoint.sin_family = AF_INET;
    endpoint.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    endpoint.sin_port = htons((uint16_t)addr.port);
    return 0;
}

/* One loop turn of the server, then up to 1 ms for the client socket. */
static void turn(int fd, short events)
{
    event_base_loop(base, EVLOOP_NONBLOCK);
    struct pollfd p = {.fd = fd, .events = events};
    poll(&p, 1, 1);
}

/* Sends data on a fresh connection; returns the bytes of answer read. */
static size_t exchange(const uint8_t *data, size_t size, char *answer, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, (struct sockaddr *)&endpoint, sizeof endpoint) < 0 && errno != EINPROGRESS)
        die("connect");
    size_t sent = 0, got = 0;
    bool shut = false;
    for (int i = 0; i < MAX_TURNS; i++) {
        turn(fd, sent < size ? POLLOUT | POLLIN : POLLIN);
        if (sent < size) {
            ssize_t w = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                break;   /* the server closed on us: fine */
        } else if (!shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        char buf[4096];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            break;
        if (r > 0 && got < cap) {
            size_t n = (size_t)r < cap - got ? (size_t)r : cap - got;
            memcpy(answer + got, buf, n);
            got += n;
        }
    }
    close(fd);
    for (int i = 0; i < 4; i++)   /* let the server see the close */
        event_base_loop(base, EVLOOP_NONBLOCK);
    return got;
}

/* number_of_objects must still be answered. */
static void probe(void)
{
    static const char body[] =
        "<?xml version=\"1.0\"?><methodCall><methodName>number_of_objects</methodName>"
        "<params></params></methodCall>";
    char req[512], answer[2048];
    /* Basic base64(":fuzz-http-key") */
    int n = snprintf(req, sizeof req,
                     "POST /RPC2 HTTP/1.1\r\nHost: x\r\nAuthorization: Basic OmZ1enotaHR0cC1rZXk=\r\n"
                     "Content-Type: text/xml\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     sizeof body - 1, body);
    size_t got = exchange((const uint8_t *)req, (size_t)n, answer, sizeof answer - 1);
    answer[got] = 0;
    if (!strstr(answer, "200 OK") || !strstr(answer, "<int>"))
        die("the endpoint stopped answering number_of_objects");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long runs;
    char answer[256];
    /* 0xff N: the server's allocations fail after N more (md_alloc's
     * hook), so the fuzzer walks the out-of-memory paths of the request
     * path too; each must fail the one call cleanly. */
    long fail_after = -1;
    if (size > 2 && data[0] == 0xff) {
        fail_after = data[1];
        data += 2, size -= 2;
    }
    md_alloc_fail_after(fail_after);
    exchange(data, size, answer, sizeof answer);
    md_alloc_fail_after(-1);
    if (++runs % PROBE_EVERY == 1)
        probe();
    return 0;
}
