/* log.c - leveled log lines on stderr, with a timestamp; lines a client
 * can cause go through a rate limiter (md_log_rated). */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/limits.h"

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

static void log_line(md_log_level level, const char *fmt, va_list ap, unsigned long suppressed)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    /* one fprintf per line so lines from a busy server never interleave */
    if (suppressed)
        fprintf(stderr, "%s managerd %s: %s (and %lu similar lines suppressed)\n", stamp,
                names[level], line, suppressed);
    else
        fprintf(stderr, "%s managerd %s: %s\n", stamp, names[level], line);
}

void md_log(md_log_level level, const char *fmt, ...)
{
    if (level > current)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_line(level, fmt, ap, 0);
    va_end(ap);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void md_log_rated(md_log_rate *rate, md_log_level level, const char *fmt, ...)
{
    if (level > current)
        return;
    long long now = now_ms();
    if (now - rate->window_start_ms >= MD_LOG_WINDOW_MS) {
        rate->window_start_ms = now;
        rate->printed = 0;
    }
    if (rate->printed >= MD_LOG_BURST) {
        rate->suppressed++;
        return;
    }
    rate->printed++;
    unsigned long suppressed = rate->suppressed;
    rate->suppressed = 0;
    va_list ap;
    va_start(ap, fmt);
    log_line(level, fmt, ap, suppressed);
    va_end(ap);
}
