/* Whole reads and writes on a blocking descriptor (a pipe, a socket, stderr), retried across
 * signals: what a child process's protocol, the activity process's pipe and the log each need. */
#ifndef PORTICO_FDIO_H
#define PORTICO_FDIO_H

#include <stddef.h>

/* Writes all length bytes of data. 0, or -1 (errno set) when the descriptor fails or is closed. */
int portico_write_full(int fd, const void *data, size_t length);

/* Reads exactly length bytes into data. 0, or -1 on an error or an end of input before them. */
int portico_read_full(int fd, void *data, size_t length);

#endif
