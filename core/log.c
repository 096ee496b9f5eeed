/* log.c - leveled log lines on stderr, with a timestamp. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static md_log_level current = MD_LOG_INFO;
static const char *const names[] = {"error", "warning", "info", "debug"};

void md_log_set_level(md_log_level level)
{
    current = level;
}

int md_log_parse_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void md_log(md_log_level level, const char *fmt, ...)
{
    if (level > current)
        return;
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* one fprintf per line so lines from a busy server never interleave */
    fprintf(stderr, "%s managerd %s: %s\n", stamp, names[level], line);
}
