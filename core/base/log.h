/* log.h - managerd's log: one line per event, with a level, on stderr or
 * in a --log-file (reopened on SIGHUP, for log rotation), as text or as
 * one JSON object a line (--log-format json, for log shippers). */
#ifndef MD_LOG_H
#define MD_LOG_H

typedef enum md_log_level {
    MD_LOG_ERROR, MD_LOG_WARNING, MD_LOG_INFO, MD_LOG_DEBUG
} md_log_level;

void md_log_set_level(md_log_level level);

typedef enum md_log_format { MD_LOG_TEXT, MD_LOG_JSON } md_log_format;
void md_log_set_format(md_log_format format);
/* Parses "text", "json"; -1 if unknown. */
int md_log_parse_format(const char *name);
/* Append to path from now on (created 0640). 0, or -1 with errno set;
 * on failure the log stays where it was. */
int md_log_open_file(const char *path);
/* Open the --log-file again (after logrotate moved it); 0 when there is
 * none. On failure the old file stays in use. */
int md_log_reopen(void);
void md_log_close_file(void);
/* Parses "error", "warning", "info", "debug"; -1 if unknown. */
int md_log_parse_level(const char *name);
void md_log(md_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Lines a client can cause, one per event: a static md_log_rate per kind
 * of line lets MD_LOG_BURST of them through per MD_LOG_WINDOW_MS and
 * counts the rest, reported with the next line that gets through. */
typedef struct md_log_rate {
    long long window_start_ms;
    unsigned printed;
    unsigned long suppressed;
} md_log_rate;

void md_log_rated(md_log_rate *rate, md_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define md_log_error(...) md_log(MD_LOG_ERROR, __VA_ARGS__)
#define md_log_warning(...) md_log(MD_LOG_WARNING, __VA_ARGS__)
#define md_log_info(...) md_log(MD_LOG_INFO, __VA_ARGS__)
#define md_log_debug(...) md_log(MD_LOG_DEBUG, __VA_ARGS__)

#endif /* MD_LOG_H */
