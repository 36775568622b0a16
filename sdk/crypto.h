/* Cryptographic primitives: AES-256-GCM, SHA-256, HMAC, constant-time comparison, public-key
 * signatures (JWT's RS256 and ES256), random bytes, and wiping secrets from memory. This is the
 * only file that calls OpenSSL's cryptography (base64.c borrows libcrypto's base64 coder, which is
 * none; TLS is gRPC's business in transport.c, and libmicrohttpd's in gateway/http.c). The
 * payload codec (codec.c), API keys and JWTs (gateway/auth.c) and webhook signatures
 * (gateway/webhook_verify.c) build on it. Where only a broken OpenSSL could fail (a cipher or
 * digest every default provider has), the process aborts rather than go on without it. */
#ifndef PORTICO_CRYPTO_H
#define PORTICO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* ---- AES-256-GCM ---------------------------------------------------------------------------- */

#define PORTICO_AES_GCM_KEY_BYTES   32
#define PORTICO_AES_GCM_NONCE_BYTES 12
#define PORTICO_AES_GCM_TAG_BYTES   16
/* What sealing adds to the plaintext: the nonce in front, the tag behind. */
#define PORTICO_AES_GCM_OVERHEAD (PORTICO_AES_GCM_NONCE_BYTES + PORTICO_AES_GCM_TAG_BYTES)

/* AES-256-GCM with the given nonce and no AAD: writes nonce ‖ ciphertext ‖ tag (length +
 * PORTICO_AES_GCM_OVERHEAD bytes) to out, which the caller provides. */
void portico_aes_gcm_seal(const uint8_t key[PORTICO_AES_GCM_KEY_BYTES],
                          const uint8_t nonce[PORTICO_AES_GCM_NONCE_BYTES], const uint8_t *plain, size_t length,
                          uint8_t *out);

/* Reverses portico_aes_gcm_seal: writes length - PORTICO_AES_GCM_OVERHEAD bytes to out; -1 when
 * sealed is too short or fails authentication (out then holds nothing to use). */
int portico_aes_gcm_open(const uint8_t key[PORTICO_AES_GCM_KEY_BYTES], const uint8_t *sealed, size_t length,
                         uint8_t *out);

/* ---- Digests and MACs ----------------------------------------------------------------------- */

#define PORTICO_SHA256_BYTES 32

/* The SHA-256 digest of data. */
void portico_sha256(const void *data, size_t length, uint8_t out[PORTICO_SHA256_BYTES]);

#define PORTICO_HMAC_MAX_BYTES 32

typedef enum { PORTICO_HMAC_SHA256, PORTICO_HMAC_SHA1 } portico_hmac_algorithm;

/* A piece of a message that is hashed in parts; the caller owns data. */
typedef struct portico_bytes {
	const void *data;
	size_t length;
} portico_bytes;

/* The HMAC of the parts, concatenated, under key (key_length 0: the empty key): writes it to out
 * and returns its length (32 for SHA-256, 20 for SHA-1). */
size_t portico_hmac(portico_hmac_algorithm algorithm, const uint8_t *key, size_t key_length, const portico_bytes *parts,
                    size_t part_count, uint8_t out[PORTICO_HMAC_MAX_BYTES]);

/* Writes length bytes as 2 × length lowercase hex digits and a NUL to out (ids made of digests). */
void portico_hex(const uint8_t *bytes, size_t length, char *out);

/* 1 when a and b hold the same length bytes, in time that depends only on length. */
int portico_constant_time_equal(const void *a, const void *b, size_t length);

/* ---- Public keys and signatures (JWT) ------------------------------------------------------- */

typedef struct portico_public_key portico_public_key;
typedef enum { PORTICO_RS256, PORTICO_ES256 } portico_signature_algorithm;

/* From PEM ("-----BEGIN PUBLIC KEY-----"), or from a JWK's members (kty RSA with n and e, or kty
 * EC, crv P-256, with x and y). NULL with err for anything else. The caller frees the key with
 * portico_public_key_free. */
portico_public_key *portico_public_key_from_pem(const char *pem, portico_error *err);
portico_public_key *portico_public_key_from_jwk(const char *kty, const char *n_or_crv, const char *e_or_x,
                                                const char *y, portico_error *err);
void portico_public_key_free(portico_public_key *key);

/* 1 when signature is algorithm's signature of data under key (for ES256, JWS's 64-byte r‖s);
 * 0 otherwise, including when the key does not fit the algorithm. */
int portico_signature_verify(const portico_public_key *key, portico_signature_algorithm algorithm, const void *data,
                             size_t length, const uint8_t *signature, size_t signature_length);

/* ---- Randomness and secrets ----------------------------------------------------------------- */

/* Fills out with length bytes from OpenSSL's CSPRNG (nonces); aborts, after a log line, when the
 * generator has no entropy: going on would repeat nonces. */
void portico_random_bytes(uint8_t *out, size_t length);

/* Overwrites length bytes of a secret in a way the compiler cannot drop as a dead store. */
void portico_wipe(void *secret, size_t length);

#endif
