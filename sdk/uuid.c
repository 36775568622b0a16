#include "uuid.h"

#include <stdint.h>
#include <stdio.h>

#include "crypto.h"

void portico_uuid_v4(char out[PORTICO_UUID_LENGTH + 1])
{
	uint8_t bytes[16];
	portico_random_bytes(bytes, sizeof bytes);
	bytes[6] = (bytes[6] & 0x0f) | 0x40;
	bytes[8] = (bytes[8] & 0x3f) | 0x80;
	snprintf(out, PORTICO_UUID_LENGTH + 1, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
	         bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
}
