/* test_log.c - the log's rate limiter: lines a client can cause pass up
 * to MD_LOG_BURST a window, the rest are counted into the next line. */
#include "tests/unit/unit.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/base/limits.h"
#include "core/base/log.h"

/* Run n rated lines with stderr sent to a temporary file; returns what
 * was written (static buffer). */
static const char *rated_lines(md_log_rate *rate, int n)
{
    static char text[16384];
    text[0] = '\0';
    FILE *tmp = tmpfile();
    if (!tmp)
        return text;
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    for (int i = 0; i < n; i++)
        md_log_rated(rate, MD_LOG_WARNING, "attempt %d", i);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t got = fread(text, 1, sizeof text - 1, tmp);
    text[got] = '\0';
    fclose(tmp);
    return text;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_log_rated_passes_a_burst(void)
{
    md_log_rate rate = {0};
    CU_ASSERT_EQUAL(count_lines(rated_lines(&rate, MD_LOG_BURST)), MD_LOG_BURST);
    CU_ASSERT_EQUAL(rate.suppressed, 0);
}

static void test_log_rated_counts_lines_past_the_burst(void)
{
    md_log_rate rate = {0};
    CU_ASSERT_EQUAL(count_lines(rated_lines(&rate, MD_LOG_BURST + 5)), MD_LOG_BURST);
    CU_ASSERT_EQUAL(rate.suppressed, 5);
    /* A new window: the next line says how many were left out. */
    rate.window_start_ms -= MD_LOG_WINDOW_MS;
    const char *text = rated_lines(&rate, 1);
    CU_ASSERT_EQUAL(count_lines(text), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "(and 5 similar lines suppressed)"));
    CU_ASSERT_EQUAL(rate.suppressed, 0);
}

static void test_log_json_escapes_quotes_and_control_bytes(void)
{
    FILE *tmp = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(tmp);
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    md_log_set_format(MD_LOG_JSON);
    md_log(MD_LOG_ERROR, "say \"hi\"\n\\ \x01");
    md_log_set_format(MD_LOG_TEXT);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    char text[512];
    size_t got = fread(text, 1, sizeof text - 1, tmp);
    text[got] = '\0';
    fclose(tmp);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"level\":\"error\",\"msg\":\"say \\\"hi\\\"\\u000a\\\\ \\u0001\"}\n"));
    CU_ASSERT_EQUAL(count_lines(text), 1);
}

static void test_log_format_names(void)
{
    CU_ASSERT_EQUAL(md_log_parse_format("json"), MD_LOG_JSON);
    CU_ASSERT_EQUAL(md_log_parse_format("text"), MD_LOG_TEXT);
    CU_ASSERT_EQUAL(md_log_parse_format("xml"), -1);
}

void md_test_register_log(void)
{
    CU_pSuite s = md_test_suite("log");
    MD_ADD_TEST(s, test_log_rated_passes_a_burst);
    MD_ADD_TEST(s, test_log_rated_counts_lines_past_the_burst);
    MD_ADD_TEST(s, test_log_json_escapes_quotes_and_control_bytes);
    MD_ADD_TEST(s, test_log_format_names);
}
