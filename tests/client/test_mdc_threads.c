/* test_mdc_threads.c - the client library's promises that issue 8 found
 * broken, each as the attack: test_mdc_threads ADDRESS AUTHKEY.
 *
 *  - one client per thread is safe: several threads, each with its own
 *    client, make values, call a managerd and free what they got; built
 *    with ThreadSanitizer (make check), any data race fails the run;
 *  - error codes: an out-of-memory handshake is MDC_ERR_NOMEM, not an
 *    internal code that reads as MDC_ERR_IO;
 *  - mdc_set_timeout bounds connect(): a listener whose backlog is full
 *    drops the SYN, and without the timeout connect waits for minutes.
 *
 * Prints one line per failed check and 'N passed, M failed'. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clients/mdc.h"
#include "core/base/alloc.h"
#include "core/base/error.h"
#include "tests/client/mdc_check.h"

#define NTHREADS 4
#define NCALLS 150
#define MAX_FILL 64

static const char *address, *authkey;

/* ---- one client per thread ---------------------------------------------- */

/* A value with containers, shared items and a cycle, as real ones have. */
static mdc_value *make_value(long i)
{
    mdc_value *l = mdc_list(), *d = mdc_dict();
    mdc_value *k = mdc_str("key"), *n = mdc_int(i), *b = mdc_bytes("abc", 3);
    mdc_value *t = mdc_tuple(3, k, n, b);
    mdc_list_append(l, t);
    mdc_list_append(l, t);
    mdc_dict_set(d, k, l);
    mdc_list_append(l, d);   /* l -> d -> l */
    mdc_value_free(k);
    mdc_value_free(n);
    mdc_value_free(b);
    mdc_value_free(t);
    mdc_value_free(d);
    return l;
}

static void *client_thread(void *arg)
{
    long no = (long)(intptr_t)arg;
    mdc_client *c = mdct_connect(address, authkey, 20);
    CHECK(c != NULL, "thread %ld: client", no);
    if (!c)
        return NULL;
    char id[64];
    int rc = mdc_create(c, "list", NULL, NULL, id, sizeof id);
    CHECK(rc == MDC_RETURN, "thread %ld: create: %s", no, mdc_errstr(c));
    for (long i = 0; rc == MDC_RETURN && i < NCALLS; i++) {
        mdc_value *v = make_value(i), *res = NULL;
        mdc_value *args = mdc_tuple(1, v);
        rc = mdc_call(c, id, "append", args, NULL, &res);
        mdc_value_free(res);
        res = NULL;
        mdc_value_free(args);
        args = mdc_tuple(0);
        if (rc == MDC_RETURN)
            rc = mdc_call(c, id, "pop", args, NULL, &res);
        char *r = res ? mdc_repr(res) : NULL;
        CHECK(rc == MDC_RETURN && r && strstr(r, "[...]"), "thread %ld: round trip %ld: %s", no,
              i, r ? r : mdc_errstr(c));
        free(r);
        mdc_value_free(res);
        mdc_value_free(args);
        mdc_value_free(v);
    }
    CHECK(mdc_decref(c, id) == 0, "thread %ld: decref", no);
    mdc_client_free(c);
    return NULL;
}

static void test_one_client_per_thread(void)
{
    pthread_t th[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&th[i], NULL, client_thread, (void *)(intptr_t)i) == 0,
              "pthread_create");
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
}

/* ---- error codes ---------------------------------------------------------- */

static void test_out_of_memory_is_not_an_io_error(void)
{
    mdc_client *c = mdct_connect(address, authkey, 0);
    CHECK(c != NULL, "client");
    if (!c)
        return;
    /* the handshake's first allocation fails */
    int rc = 0;
    for (long n = 0; n < 64 && rc != MDC_ERR_NOMEM; n++) {
        md_alloc_fail_after(n);
        rc = mdc_ping(c);
        md_alloc_fail_after(-1);
        CHECK(rc == 0 || rc == MDC_ERR_NOMEM, "allocation %ld failing gives %d: %s", n, rc,
              mdc_errstr(c));
    }
    CHECK(rc == MDC_ERR_NOMEM && strstr(mdc_errstr(c), "out of memory"),
          "out of memory is MDC_ERR_NOMEM");
    CHECK(MDC_ERR_IO != MD_ENOMEM && MDC_ERR_AUTH != MD_EPROTO, "the two code sets are apart");
    CHECK(mdc_ping(c) == 0, "and the client still works: %s", mdc_errstr(c));
    mdc_client_free(c);
}

/* ---- connect timeout ---------------------------------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_connect_honours_the_timeout(void)
{
    /* A listener that never accepts, its backlog filled. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(lfd, 0) == 0 &&
              getsockname(lfd, (struct sockaddr *)&sa, &len) == 0,
          "listener");
    int fill[MAX_FILL], nfill = 0;
    for (; nfill < MAX_FILL; nfill++) {
        fill[nfill] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(fill[nfill], (struct sockaddr *)&sa, sizeof sa) < 0 && errno == EINPROGRESS) {
            nfill++;
            break;   /* this one hangs: the backlog is full */
        }
    }
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    mdc_client *c = mdct_connect(addr, authkey, 0.5);
    double t0 = now();
    int rc = mdc_ping(c);
    double took = now() - t0;
    CHECK(rc == MDC_ERR_IO && took < 3.0, "connect gave up after %.2f s (rc %d: %s)", took, rc,
          mdc_errstr(c));
    mdc_client_free(c);
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    close(lfd);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_mdc_threads ADDRESS AUTHKEY\n");
        return 2;
    }
    address = argv[1];
    authkey = argv[2];
    /* On a build that hangs in connect, fail rather than wait minutes. */
    alarm(60);
    test_connect_honours_the_timeout();
    test_out_of_memory_is_not_an_io_error();
    test_one_client_per_thread();
    return mdct_summary();
}
