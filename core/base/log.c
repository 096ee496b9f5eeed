/* log.c - leveled log lines on stderr or in a file, with a timestamp, as
 * text or JSON; lines a client can cause go through a rate limiter
 * (md_log_rated). */
#include "core/base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/base/limits.h"

static md_log_level current = MD_LOG_INFO;
static md_log_format format = MD_LOG_TEXT;
static const char *const names[] = {"error", "warning", "info", "debug"};
static FILE *file;          /* --log-file, or NULL for stderr */
static char *file_path;

void md_log_set_format(md_log_format f)
{
    format = f;
}

int md_log_parse_format(const char *name)
{
    return !strcmp(name, "text") ? MD_LOG_TEXT : !strcmp(name, "json") ? MD_LOG_JSON : -1;
}

static FILE *open_append(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "a");
    if (fd >= 0 && !f)
        close(fd);
    if (f)
        setvbuf(f, NULL, _IOLBF, 0);
    return f;
}

int md_log_open_file(const char *path)
{
    FILE *f = open_append(path);
    char *copy = f ? strdup(path) : NULL;
    if (!copy) {
        int saved = errno;
        if (f)
            fclose(f);
        errno = saved ? saved : ENOMEM;
        return -1;
    }
    md_log_close_file();
    file = f;
    file_path = copy;
    return 0;
}

int md_log_reopen(void)
{
    if (!file_path)
        return 0;
    FILE *f = open_append(file_path);
    if (!f)
        return -1;
    fclose(file);
    file = f;
    return 0;
}

void md_log_close_file(void)
{
    if (file)
        fclose(file);
    free(file_path);
    file = NULL;
    file_path = NULL;
}

/* The line as one JSON object: msg escaped (control bytes as \u00XX). */
static void json_line(FILE *f, const char *stamp, md_log_level level, const char *line,
                      unsigned long suppressed)
{
    char esc[2 * 1024 * 3];
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)line; *p && n + 7 < sizeof esc; p++) {
        if (*p == '"' || *p == '\\')
            esc[n++] = '\\', esc[n++] = (char)*p;
        else if (*p < 0x20 || *p == 0x7f)
            n += (size_t)snprintf(esc + n, sizeof esc - n, "\\u%04x", *p);
        else
            esc[n++] = (char)*p;
    }
    esc[n] = 0;
    if (suppressed)
        fprintf(f, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\",\"suppressed\":%lu}\n",
                stamp, names[level], esc, suppressed);
    else
        fprintf(f, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", stamp,
                names[level], esc);
}

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
    FILE *f = file ? file : stderr;
    /* one fprintf per line so lines from a busy server never interleave */
    if (format == MD_LOG_JSON)
        json_line(f, stamp, level, line, suppressed);
    else if (suppressed)
        fprintf(f, "%s managerd %s: %s (and %lu similar lines suppressed)\n", stamp,
                names[level], line, suppressed);
    else
        fprintf(f, "%s managerd %s: %s\n", stamp, names[level], line);
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
