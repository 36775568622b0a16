/* Encrypts and decrypts json/plain payloads of a given size with Portico's codec for about a
 * second each, and prints {"bytes": N, "encryptMBps": …, "decryptMBps": …} (MB = 10^6 bytes).
 *
 * Usage: codec_bench BYTES [SECONDS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codec.h"

/* A fixed 32-byte key, base64; benchmarks need no secrecy. */
#define BENCH_KEYS "bench=YmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtMzI="

static double rate_mbps(size_t bytes, unsigned long rounds, int64_t elapsed_ms)
{
	return elapsed_ms > 0 ? (double)bytes * (double)rounds / 1e6 / ((double)elapsed_ms / 1000) : 0;
}

int main(int argc, char **argv)
{
	size_t bytes = argc > 1 ? strtoul(argv[1], NULL, 10) : 2 * 1024 * 1024;
	double seconds = argc > 2 ? strtod(argv[2], NULL) : 1.0;
	portico_codec *codec = NULL;
	portico_error err = PORTICO_ERROR_INIT;
	if (bytes == 0 || portico_codec_from_text(BENCH_KEYS, "bench", 0, &codec, &err)) {
		fprintf(stderr, "codec_bench: %s\n", err.message ? err.message : "usage: codec_bench BYTES [SECONDS]");
		return 1;
	}
	uint8_t *data = malloc(bytes);
	for (size_t i = 0; i < bytes; i++)
		data[i] = (uint8_t)('a' + i % 26);
	portico_payload *plain = portico_payload_new(PORTICO_ENCODING_JSON, data, bytes);
	int64_t budget_ms = (int64_t)(seconds * 1000);

	unsigned long rounds = 0;
	int64_t started = portico_monotonic_ms(), elapsed;
	portico_payload *sealed = NULL;
	do {
		portico_payload_free(sealed);
		sealed = portico_codec_encode(codec, plain);
		rounds++;
	} while ((elapsed = portico_monotonic_ms() - started) < budget_ms);
	double encrypt = rate_mbps(bytes, rounds, elapsed);

	rounds = 0;
	started = portico_monotonic_ms();
	do {
		portico_payload *opened = portico_codec_decode(codec, sealed, &err);
		if (!opened) {
			fprintf(stderr, "codec_bench: %s\n", err.message);
			return 1;
		}
		portico_payload_free(opened);
		rounds++;
	} while ((elapsed = portico_monotonic_ms() - started) < budget_ms);
	double decrypt = rate_mbps(bytes, rounds, elapsed);

	printf("{\"bytes\": %zu, \"encryptMBps\": %.1f, \"decryptMBps\": %.1f}\n", bytes, encrypt, decrypt);
	portico_payload_free(sealed);
	portico_payload_free(plain);
	free(data);
	portico_codec_free(codec);
	return 0;
}
