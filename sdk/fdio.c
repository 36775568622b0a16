#include "fdio.h"

#include <errno.h>
#include <unistd.h>

int portico_write_full(int fd, const void *data, size_t length)
{
	const char *bytes = data;
	while (length) {
		ssize_t n = write(fd, bytes, length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		bytes += n;
		length -= (size_t)n;
	}
	return 0;
}

int portico_read_full(int fd, void *data, size_t length)
{
	char *bytes = data;
	while (length) {
		ssize_t n = read(fd, bytes, length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		bytes += n;
		length -= (size_t)n;
	}
	return 0;
}
