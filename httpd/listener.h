/* The server's listening socket: a "host:port" or "[v6]:port" address resolved, bound and listened
 * on. The server opens it itself, rather than letting libmicrohttpd do it, so that a certificate
 * reload can hand the same socket to new threads. */
#ifndef HTTPD_LISTENER_H
#define HTTPD_LISTENER_H

#include "error.h"

/* Opens a listening socket (close-on-exec, SO_REUSEADDR) on listen_text ("127.0.0.1:8080",
 * "[::1]:8080", "0.0.0.0:8080"; port 0 picks one) and says whether it is IPv6 and its port.
 * Returns the descriptor, which the caller closes, or -1 with err set when the address is bad or
 * cannot be listened on. */
int listener_open(const char *listen_text, int *ipv6, unsigned *port, portico_error *err);

#endif
