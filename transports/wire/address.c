/* address.c - parse and print listener addresses (see address.h). */
#include "transports/wire/address.h"

#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *spec, const char *why)
{
    snprintf(err, errlen, "bad address '%s': %s", spec, why);
    return -1;
}

/* mode=OCTAL: the Unix socket file's mode, owner read and write at
 * least (e.g. 0660 to share with the group). */
static int parse_mode(const char *v, md_addr *out, const char *spec, char *err, size_t errlen)
{
    char *end;
    long mode = strtol(v, &end, 8);
    if (!*v || *end || mode < 0 || mode > 0777 || (mode & 0600) != 0600 || (mode & 0111))
        return fail(err, errlen, spec, "mode must be octal like 0600 or 0660 (owner rw, no x)");
    out->mode = (unsigned)mode;
    return 0;
}

/* ?serializer=...&mode=... */
static int parse_query(char *q, md_addr *out, const char *spec, char *err, size_t errlen)
{
    for (char *opt = strtok(q, "&"); opt; opt = strtok(NULL, "&")) {
        if (strncmp(opt, "mode=", 5) == 0) {
            if (parse_mode(opt + 5, out, spec, err, errlen) < 0)
                return -1;
            continue;
        }
        if (strncmp(opt, "serializer=", 11) != 0)
            return fail(err, errlen, spec,
                        "options are ?serializer=pickle|xmlrpclib|auto and &mode=OCTAL");
        const char *v = opt + 11;
        if (strcmp(v, "pickle") && strcmp(v, "xmlrpclib") && strcmp(v, "auto"))
            return fail(err, errlen, spec, "serializer must be pickle, xmlrpclib or auto");
        snprintf(out->serializer, sizeof out->serializer, "%s", v);
    }
    return 0;
}

int md_addr_check_folder(const char *dir, bool private_only, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(dir, &st) < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a folder (a symbolic link is refused)", dir);
        return -1;
    }
    uid_t me = geteuid();
    mode_t perm = st.st_mode & 07777;
    if (private_only ? st.st_uid != me || (perm & 0777) != 0700
                     : (st.st_uid != me && st.st_uid != 0) ||
                           ((perm & 022) && !(perm & S_ISVTX))) {
        snprintf(err, errlen,
                 private_only ? "%s must be owned by uid %ld with mode 0700 (it is uid %ld, mode %04o)"
                              : "%s must be owned by uid %ld or root and writable only by its owner "
                                "unless sticky (it is uid %ld, mode %04o)",
                 dir, (long)me, (long)st.st_uid, (unsigned)perm);
        return -1;
    }
    return 0;
}

int md_addr_check_socket_folder(const md_addr *a, char *err, size_t errlen)
{
    char dir[sizeof a->path];
    snprintf(dir, sizeof dir, "%s", a->path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    return md_addr_check_folder(dir, false, err, errlen);
}

static int resolve(md_addr *out, const char *spec, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", out->port);
    int rc = getaddrinfo(out->host[0] ? out->host : NULL, port, &hints, &res);
    if (rc != 0 || !res)
        return fail(err, errlen, spec, gai_strerror(rc));
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* HOST:PORT, [V6]:PORT */
static int parse_hostport(char *s, md_addr *out, const char *spec, char *err, size_t errlen)
{
    char *colon;
    if (out->mode)
        return fail(err, errlen, spec, "?mode= is for unix:PATH sockets only");
    if (s[0] == '[') {
        char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return fail(err, errlen, spec, "expected [IPV6]:PORT");
        *close = 0;
        snprintf(out->host, sizeof out->host, "%s", s + 1);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return fail(err, errlen, spec, "expected HOST:PORT");
        *colon = 0;
        snprintf(out->host, sizeof out->host, "%s", s);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return fail(err, errlen, spec, "port must be 0..65535");
    out->port = (int)port;
    return resolve(out, spec, err, errlen);
}

static int parse_unix(const char *p, md_addr *out, const char *spec, char *err, size_t errlen)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&out->ss;
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    size_t n = strlen(p);
    if (n == 0)
        return fail(err, errlen, spec, "empty socket path");
    if (p[0] == '@') {
        /* abstract: a NUL then the name, length without trailing NULs */
        if (n - 1 >= sizeof un->sun_path || n == 1)
            return fail(err, errlen, spec, "abstract name too long or empty");
        out->kind = MD_ADDR_ABSTRACT;
        memcpy(un->sun_path + 1, p + 1, n - 1);
        out->sslen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        if (n >= sizeof un->sun_path)
            return fail(err, errlen, spec, "socket path too long");
        out->kind = MD_ADDR_UNIX;
        memcpy(un->sun_path, p, n);
        out->sslen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    snprintf(out->path, sizeof out->path, "%.107s", p[0] == '@' ? p + 1 : p);
    if (out->mode && out->kind != MD_ADDR_UNIX)
        return fail(err, errlen, spec, "?mode= is for unix:PATH sockets only");
    return 0;
}

int md_addr_parse(const char *spec, md_addr *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    snprintf(out->serializer, sizeof out->serializer, "pickle");
    char buf[512];
    if (strlen(spec) >= sizeof buf)
        return fail(err, errlen, spec, "too long");
    snprintf(buf, sizeof buf, "%s", spec);
    char *q = strchr(buf, '?');
    if (q) {
        *q++ = 0;
        if (parse_query(q, out, spec, err, errlen) < 0)
            return -1;
    }
    if (strncmp(buf, "unix:", 5) == 0)
        return parse_unix(buf + 5, out, spec, err, errlen);
    if (strncmp(buf, "http://", 7) == 0) {
        out->kind = MD_ADDR_HTTP;
        char *hp = buf + 7;
        char *from = hp;
        if (hp[0] == '[' && strchr(hp, ']'))
            from = strchr(hp, ']');
        char *slash = strchr(from, '/');
        snprintf(out->path, sizeof out->path, "%.107s", slash ? slash : "/RPC2");
        if (slash)
            *slash = 0;
        return parse_hostport(hp, out, spec, err, errlen);
    }
    out->kind = MD_ADDR_TCP;
    char *hp = strncmp(buf, "tcp://", 6) == 0 ? buf + 6 : buf;
    return parse_hostport(hp, out, spec, err, errlen);
}

void md_addr_format(const md_addr *a, char *buf, size_t len)
{
    bool v6 = strchr(a->host, ':') != NULL;
    switch (a->kind) {
    case MD_ADDR_TCP:
        snprintf(buf, len, v6 ? "tcp://[%s]:%d" : "tcp://%s:%d", a->host, a->port);
        break;
    case MD_ADDR_HTTP:
        snprintf(buf, len, v6 ? "http://[%s]:%d%s" : "http://%s:%d%s", a->host, a->port, a->path);
        break;
    case MD_ADDR_UNIX:
        snprintf(buf, len, "unix:%s", a->path);
        break;
    case MD_ADDR_ABSTRACT:
        snprintf(buf, len, "unix:@%s", a->path);
        break;
    }
}
