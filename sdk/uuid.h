/* Random (version 4) UUIDs, for request ids, update ids and generated workflow ids. */
#ifndef PORTICO_UUID_H
#define PORTICO_UUID_H

#define PORTICO_UUID_LENGTH 36

/* Writes a new UUID and its terminating NUL into out. */
void portico_uuid_v4(char out[PORTICO_UUID_LENGTH + 1]);

#endif
