/* error.c - names and messages of the MD_E* codes, and MD_ASSERT. */
#include "core/base/error.h"

#include <stdio.h>
#include <stdlib.h>

const char *md_strerror(int code)
{
    switch (code) {
#define MD_ERR_TEXT(name, num, text) case num: return text;
    MD_ERRORS(MD_ERR_TEXT)
#undef MD_ERR_TEXT
    }
    return "unknown error";
}

const char *md_err_name(int code)
{
    switch (code) {
#define MD_ERR_NAME(name, num, text) case num: return "MD_" #name;
    MD_ERRORS(MD_ERR_NAME)
#undef MD_ERR_NAME
    }
    return "MD_E?";
}

void md_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "managerd: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
