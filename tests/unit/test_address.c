/* test_address.c - listener addresses (transports/wire/address.c): every form
 * README's --listen names parses to the right kind, host, port, path,
 * serializer and socket address and prints back as managerd prints it;
 * malformed specs fail with a message naming what is wrong; the folder
 * checks of Unix sockets refuse symbolic links and folders others can
 * write. Only loopback and numeric hosts: nothing is resolved by name. */
#include "tests/unit/unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/harness.h"
#include "transports/wire/address.h"

/* Parse spec (must succeed) and check its printed form. */
static void parses_as(const char *spec, md_addr_kind kind, const char *printed)
{
    md_addr a;
    char err[256] = "";
    int rc = md_addr_parse(spec, &a, err, sizeof err);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "\n    %s: %s\n", spec, err);
        return;
    }
    CU_ASSERT_EQUAL(a.kind, kind);
    char text[300];
    md_addr_format(&a, text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, printed);
}

/* Parse spec (must fail) with a message containing why. */
static void refused(const char *spec, const char *why)
{
    md_addr a;
    char err[1024] = "";    /* the message quotes the spec */
    CU_ASSERT_EQUAL(md_addr_parse(spec, &a, err, sizeof err), -1);
    bool named = strstr(err, why) != NULL && strstr(err, "bad address") != NULL;
    if (!named)
        fprintf(stderr, "\n    %s: message '%s', wanted '%s'\n", spec, err, why);
    CU_ASSERT(named);
}

static void test_address_tcp_forms(void)
{
    parses_as("127.0.0.1:50000", MD_ADDR_TCP, "tcp://127.0.0.1:50000");
    parses_as("tcp://127.0.0.1:0", MD_ADDR_TCP, "tcp://127.0.0.1:0");
    parses_as("[::1]:50000", MD_ADDR_TCP, "tcp://[::1]:50000");
    parses_as("tcp://[::1]:7", MD_ADDR_TCP, "tcp://[::1]:7");

    md_addr a;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(md_addr_parse("127.0.0.1:50000", &a, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(a.host, "127.0.0.1");
    CU_ASSERT_EQUAL(a.port, 50000);
    CU_ASSERT_STRING_EQUAL(a.serializer, "pickle");
    const struct sockaddr_in *in = (const struct sockaddr_in *)&a.ss;
    CU_ASSERT_EQUAL(in->sin_family, AF_INET);
    CU_ASSERT_EQUAL(ntohs(in->sin_port), 50000);
    CU_ASSERT_EQUAL(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
    CU_ASSERT_EQUAL(a.sslen, sizeof(struct sockaddr_in));

    CU_ASSERT_EQUAL_FATAL(md_addr_parse("[::1]:9", &a, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(a.host, "::1");
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a.ss;
    CU_ASSERT_EQUAL(in6->sin6_family, AF_INET6);
    CU_ASSERT_EQUAL(ntohs(in6->sin6_port), 9);
}

static void test_address_unix_and_abstract(void)
{
    parses_as("unix:/tmp/md.sock", MD_ADDR_UNIX, "unix:/tmp/md.sock");
    parses_as("unix:@md-name", MD_ADDR_ABSTRACT, "unix:@md-name");

    md_addr a;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(md_addr_parse("unix:@md-name", &a, err, sizeof err), 0);
    const struct sockaddr_un *un = (const struct sockaddr_un *)&a.ss;
    CU_ASSERT_EQUAL(un->sun_family, AF_UNIX);
    /* abstract: a NUL, then the name, and no trailing NUL in the length */
    CU_ASSERT_EQUAL(un->sun_path[0], '\0');
    CU_ASSERT_EQUAL(memcmp(un->sun_path + 1, "md-name", 7), 0);
    CU_ASSERT_EQUAL(a.sslen, offsetof(struct sockaddr_un, sun_path) + 1 + 7);

    CU_ASSERT_EQUAL_FATAL(md_addr_parse("unix:/tmp/x.sock?mode=0660", &a, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(un->sun_path, "/tmp/x.sock");
    CU_ASSERT_EQUAL(a.mode, 0660u);
    CU_ASSERT_EQUAL(a.sslen, offsetof(struct sockaddr_un, sun_path) + strlen("/tmp/x.sock") + 1);
}

static void test_address_http_and_serializers(void)
{
    parses_as("http://127.0.0.1:8080", MD_ADDR_HTTP, "http://127.0.0.1:8080/RPC2");
    parses_as("http://127.0.0.1:8080/api/x", MD_ADDR_HTTP, "http://127.0.0.1:8080/api/x");
    parses_as("http://[::1]:8080/p", MD_ADDR_HTTP, "http://[::1]:8080/p");

    const char *names[] = { "pickle", "xmlrpclib", "auto" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "127.0.0.1:0?serializer=%s", names[i]);
        md_addr a;
        char err[256];
        CU_ASSERT_EQUAL_FATAL(md_addr_parse(spec, &a, err, sizeof err), 0);
        CU_ASSERT_STRING_EQUAL(a.serializer, names[i]);
    }
    md_addr a;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(md_addr_parse("unix:/tmp/s?serializer=auto&mode=0600", &a, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(a.serializer, "auto");
    CU_ASSERT_EQUAL(a.mode, 0600u);
}

static void test_address_refuses_malformed(void)
{
    refused("127.0.0.1", "expected HOST:PORT");
    refused("127.0.0.1:65536", "port must be 0..65535");
    refused("127.0.0.1:-1", "port must be 0..65535");
    refused("127.0.0.1:", "port must be 0..65535");
    refused("127.0.0.1:80x", "port must be 0..65535");
    refused("[::1:80", "expected [IPV6]:PORT");
    refused("unix:", "empty socket path");
    refused("unix:@", "abstract name too long or empty");
    refused("127.0.0.1:0?serializer=json", "serializer must be pickle, xmlrpclib or auto");
    refused("127.0.0.1:0?colour=red", "options are");
    refused("127.0.0.1:0?mode=0600", "?mode= is for unix:PATH sockets only");
    refused("unix:@n?mode=0600", "?mode= is for unix:PATH sockets only");
    refused("unix:/tmp/s?mode=0644x", "mode must be octal");
    refused("unix:/tmp/s?mode=0400", "mode must be octal");     /* owner cannot write */
    refused("unix:/tmp/s?mode=0700", "mode must be octal");     /* execute bits */
    refused("unix:/tmp/s?mode=01666", "mode must be octal");

    char longpath[200];
    memset(longpath, 'p', sizeof longpath);
    memcpy(longpath, "unix:/", 6);
    longpath[sizeof longpath - 1] = '\0';
    refused(longpath, "socket path too long");
    char huge[600];
    memset(huge, '1', sizeof huge);
    huge[sizeof huge - 1] = '\0';
    refused(huge, "too long");
}

static void test_address_folder_checks(void)
{
    char dir[4096];
    CU_ASSERT_PTR_NOT_NULL_FATAL(md_th_mkdtemp(dir, sizeof dir, "md-unit-addr"));
    char err[512];
    CU_ASSERT_EQUAL(md_addr_check_folder(dir, true, err, sizeof err), 0);   /* mkdtemp: 0700 */
    CU_ASSERT_EQUAL(md_addr_check_folder(dir, false, err, sizeof err), 0);

    CU_ASSERT_EQUAL(chmod(dir, 0755), 0);
    CU_ASSERT_EQUAL(md_addr_check_folder(dir, true, err, sizeof err), -1);  /* not private */
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "mode 0700"));
    CU_ASSERT_EQUAL(md_addr_check_folder(dir, false, err, sizeof err), 0);
    CU_ASSERT_EQUAL(chmod(dir, 0777), 0);
    CU_ASSERT_EQUAL(md_addr_check_folder(dir, false, err, sizeof err), -1); /* others write */
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "writable only by its owner"));
    CU_ASSERT_EQUAL(chmod(dir, 01777), 0);
    CU_ASSERT_EQUAL(md_addr_check_folder(dir, false, err, sizeof err), 0);  /* sticky, as /tmp */

    /* a symbolic link to a good folder is refused */
    CU_ASSERT_EQUAL(chmod(dir, 0700), 0);
    char link[sizeof dir + 8];
    snprintf(link, sizeof link, "%s.link", dir);
    CU_ASSERT_EQUAL_FATAL(symlink(dir, link), 0);
    CU_ASSERT_EQUAL(md_addr_check_folder(link, false, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));

    /* unix:PATH checks the folder of PATH */
    char spec[sizeof link + 32];
    snprintf(spec, sizeof spec, "unix:%s/md.sock", link);
    md_addr a;
    CU_ASSERT_EQUAL_FATAL(md_addr_parse(spec, &a, err, sizeof err), 0);
    CU_ASSERT_EQUAL(md_addr_check_socket_folder(&a, err, sizeof err), -1);
    snprintf(spec, sizeof spec, "unix:%s/md.sock", dir);
    CU_ASSERT_EQUAL_FATAL(md_addr_parse(spec, &a, err, sizeof err), 0);
    CU_ASSERT_EQUAL(md_addr_check_socket_folder(&a, err, sizeof err), 0);

    char missing[sizeof dir + 16];
    snprintf(missing, sizeof missing, "%s/none", dir);
    CU_ASSERT_EQUAL(md_addr_check_folder(missing, false, err, sizeof err), -1);

    unlink(link);
    rmdir(dir);
}

void md_test_register_address(void)
{
    CU_pSuite s = md_test_suite("address");
    MD_ADD_TEST(s, test_address_tcp_forms);
    MD_ADD_TEST(s, test_address_unix_and_abstract);
    MD_ADD_TEST(s, test_address_http_and_serializers);
    MD_ADD_TEST(s, test_address_refuses_malformed);
    MD_ADD_TEST(s, test_address_folder_checks);
}
