/* mdc_check.h - what the C client's tests share: CHECK, a tally of checks
 * that threads may share (a failure prints its file and line), the summary
 * line, and connecting a client. Header-only, as test_mdc links the built
 * library and test_mdc_threads is compiled from the sources. */
#ifndef MDC_CHECK_H
#define MDC_CHECK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "clients/mdc.h"

static int mdct_passed, mdct_failed;
static pthread_mutex_t mdct_tally = PTHREAD_MUTEX_INITIALIZER;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        bool ok_ = (cond);                                                 \
        pthread_mutex_lock(&mdct_tally);                                   \
        if (ok_) {                                                         \
            mdct_passed++;                                                 \
        } else {                                                           \
            mdct_failed++;                                                 \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                    \
            printf(__VA_ARGS__);                                           \
            printf("\n");                                                  \
        }                                                                  \
        pthread_mutex_unlock(&mdct_tally);                                 \
    } while (0)

/* A client of address with authkey; seconds > 0 sets its timeout. NULL,
 * with the reason printed, when the address is malformed or memory runs
 * out. */
static inline mdc_client *mdct_connect(const char *address, const char *authkey, double seconds)
{
    char err[256] = "";
    mdc_client *c = mdc_client_new_err(address, authkey, strlen(authkey), err, sizeof err);
    if (!c) {
        fprintf(stderr, "mdc_client_new %s: %s\n", address, err[0] ? err : "out of memory");
        return NULL;
    }
    if (seconds > 0)
        mdc_set_timeout(c, seconds);
    return c;
}

/* Print 'N passed, M failed'; the exit status of the test. */
static inline int mdct_summary(void)
{
    printf("%d passed, %d failed\n", mdct_passed, mdct_failed);
    return mdct_failed ? 1 : 0;
}

#endif /* MDC_CHECK_H */
