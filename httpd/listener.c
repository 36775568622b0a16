#include "listener.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Parses "host:port" or "[v6]:port" into a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *address, int *ipv6, portico_error *err)
{
	const char *colon = strrchr(listen, ':');
	if (!colon || !colon[1])
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "PORTICO_LISTEN: expected host:port, got \"%s\"", listen);
	char host[256];
	size_t host_length = (size_t)(colon - listen);
	if (host_length >= sizeof host)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "PORTICO_LISTEN: host too long");
	memcpy(host, listen, host_length);
	host[host_length] = '\0';
	char *node = host;
	if (host_length >= 2 && host[0] == '[' && host[host_length - 1] == ']') {
		host[host_length - 1] = '\0';
		node = host + 1;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *found;
	int failed = getaddrinfo(*node ? node : NULL, colon + 1, &hints, &found);
	if (failed)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "PORTICO_LISTEN: cannot use \"%s\": %s", listen,
		                         gai_strerror(failed));
	memcpy(address, found->ai_addr, found->ai_addrlen);
	*ipv6 = found->ai_family == AF_INET6;
	freeaddrinfo(found);
	return 0;
}

int listener_open(const char *listen_text, int *ipv6, unsigned *port, portico_error *err)
{
	struct sockaddr_storage address;
	if (parse_listen(listen_text, &address, ipv6, err))
		return -1;
	int fd = socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int on = 1;
	socklen_t length = address.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) ||
	    bind(fd, (struct sockaddr *)&address, length) || listen(fd, SOMAXCONN) ||
	    getsockname(fd, (struct sockaddr *)&address, &length)) {
		portico_error_set(err, PORTICO_UNAVAILABLE, "cannot listen on %s: %s", listen_text, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(address.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&address)->sin6_port
	                                            : ((struct sockaddr_in *)&address)->sin_port);
	return fd;
}
