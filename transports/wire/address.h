/* address.h - listener addresses as tests/docs/design.md spells them:
 *   tcp://HOST:PORT   HOST:PORT   (HOST may be an IPv6 literal in [])
 *   unix:PATH         unix:@NAME  (Linux abstract socket)
 *   http://HOST:PORT[/PATH]       (XML-RPC over HTTP)
 * each optionally followed by ?serializer=pickle|xmlrpclib|auto, and
 * unix:PATH by &mode=OCTAL (the socket file's mode, default 0600). */
#ifndef MD_ADDRESS_H
#define MD_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

typedef enum md_addr_kind {
    MD_ADDR_TCP,
    MD_ADDR_UNIX,
    MD_ADDR_ABSTRACT,
    MD_ADDR_HTTP
} md_addr_kind;

typedef struct md_addr {
    md_addr_kind kind;
    char host[256];            /* TCP/HTTP, without brackets */
    int port;
    char path[108];            /* UNIX path, abstract name, or HTTP path */
    char serializer[16];       /* "pickle" (default), "xmlrpclib", "auto" */
    unsigned mode;             /* UNIX: ?mode= of the socket file, 0: 0600 */
    struct sockaddr_storage ss;
    socklen_t sslen;
} md_addr;

/* Parse spec; resolves TCP hosts numerically or by name (first result).
 * 0, or -1 with a message in err. */
int md_addr_parse(const char *spec, md_addr *out, char *err, size_t errlen);
/* The checks of a folder that holds the key file or a Unix socket:
 * not a symbolic link, and either (private_only) owned by this user with
 * mode 0700, or owned by this user or root and writable by no one else
 * unless sticky (/tmp). 0, or -1 with the reason in err. */
int md_addr_check_folder(const char *dir, bool private_only, char *err, size_t errlen);
/* md_addr_check_folder(not private_only) on the folder of a unix:PATH. */
int md_addr_check_socket_folder(const md_addr *a, char *err, size_t errlen);
/* Human-readable form, e.g. "tcp://127.0.0.1:50000", "unix:@name". */
void md_addr_format(const md_addr *a, char *buf, size_t len);

#endif /* MD_ADDRESS_H */
