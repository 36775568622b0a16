/* The remote codec endpoint of the Temporal Web UI and CLI: POST /codec/encode and /codec/decode
 * (also /codec/{namespace}/…), with CORS for the UI's origins and an optional bearer token of its
 * own (PORTICO_CODEC_AUTH_TOKEN). */
#ifndef GATEWAY_CODEC_SERVER_H
#define GATEWAY_CODEC_SERVER_H

#include "exchange.h"

/* Serves a codec path; returns 0 when path is not one. */
int codec_server_serve(gateway_exchange *exchange, const char *path);

/* Whether the request carries PORTICO_CODEC_AUTH_TOKEN as its bearer token (0 when none is set). */
int codec_server_token_presented(gateway_exchange *exchange);

#endif
