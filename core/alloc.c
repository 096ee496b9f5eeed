/* alloc.c - allocator wrappers with a failure-injection hook for tests. */
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

/* Thread-local: the client library may run one client per thread. */
static MD_THREAD_LOCAL long fail_countdown = -1;
static MD_THREAD_LOCAL unsigned long failures;

static int should_fail(void)
{
    if (fail_countdown < 0)
        return 0;
    if (fail_countdown == 0) {
        failures++;
        return 1;
    }
    fail_countdown--;
    return 0;
}

void *md_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *md_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *md_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void md_free(void *p)
{
    free(p);
}

char *md_strndup(const char *s, size_t n)
{
    char *p = md_malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *md_strdup(const char *s)
{
    return md_strndup(s, strlen(s));
}

void md_alloc_fail_after(long n)
{
    fail_countdown = n;
}

unsigned long md_alloc_failures(void)
{
    return failures;
}
