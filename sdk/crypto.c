#include "crypto.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "alloc.h"
#include "base64.h"
#include "log.h"

/* ---- AES-256-GCM ---------------------------------------------------------------------------- */

void portico_aes_gcm_seal(const uint8_t key[PORTICO_AES_GCM_KEY_BYTES],
                          const uint8_t nonce[PORTICO_AES_GCM_NONCE_BYTES], const uint8_t *plain, size_t length,
                          uint8_t *out)
{
	EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
	int written = 0, final = 0;
	memcpy(out, nonce, PORTICO_AES_GCM_NONCE_BYTES);
	if (!context || !EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), NULL, NULL, NULL) ||
	    !EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, PORTICO_AES_GCM_NONCE_BYTES, NULL) ||
	    !EVP_EncryptInit_ex(context, NULL, NULL, key, nonce) ||
	    !EVP_EncryptUpdate(context, out + PORTICO_AES_GCM_NONCE_BYTES, &written, plain, (int)length) ||
	    !EVP_EncryptFinal_ex(context, out + PORTICO_AES_GCM_NONCE_BYTES + written, &final) ||
	    !EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, PORTICO_AES_GCM_TAG_BYTES,
	                         out + PORTICO_AES_GCM_NONCE_BYTES + written + final)) {
		/* Only a broken OpenSSL fails here; sending plaintext instead is not an option. */
		portico_log("error", "AES-256-GCM encryption failed in OpenSSL", NULL);
		abort();
	}
	EVP_CIPHER_CTX_free(context);
}

int portico_aes_gcm_open(const uint8_t key[PORTICO_AES_GCM_KEY_BYTES], const uint8_t *sealed, size_t length,
                         uint8_t *out)
{
	if (length < PORTICO_AES_GCM_OVERHEAD)
		return -1;
	size_t cipher_length = length - PORTICO_AES_GCM_OVERHEAD;
	EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
	int written = 0, final = 0;
	int ok = context && EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), NULL, NULL, NULL) &&
	         EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, PORTICO_AES_GCM_NONCE_BYTES, NULL) &&
	         EVP_DecryptInit_ex(context, NULL, NULL, key, sealed) &&
	         EVP_DecryptUpdate(context, out, &written, sealed + PORTICO_AES_GCM_NONCE_BYTES, (int)cipher_length) &&
	         EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, PORTICO_AES_GCM_TAG_BYTES,
	                             (void *)(sealed + length - PORTICO_AES_GCM_TAG_BYTES)) &&
	         EVP_DecryptFinal_ex(context, out + written, &final) > 0;
	EVP_CIPHER_CTX_free(context);
	return ok ? 0 : -1;
}

/* ---- Digests and MACs ----------------------------------------------------------------------- */

size_t portico_hmac(portico_hmac_algorithm algorithm, const uint8_t *key, size_t key_length, const portico_bytes *parts,
                    size_t part_count, uint8_t out[PORTICO_HMAC_MAX_BYTES])
{
	char digest[16];
	snprintf(digest, sizeof digest, "%s", algorithm == PORTICO_HMAC_SHA1 ? "SHA1" : "SHA256");
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
	                       OSSL_PARAM_construct_end()};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *context = mac ? EVP_MAC_CTX_new(mac) : NULL;
	static const uint8_t no_key = 0; /* OpenSSL refuses a NULL key, an empty one is valid HMAC */
	size_t length = 0;
	if (!context || !EVP_MAC_init(context, key_length ? key : &no_key, key_length, params))
		abort(); /* HMAC-SHA256 and SHA-1 are in every OpenSSL 3 default provider */
	for (size_t i = 0; i < part_count; i++)
		EVP_MAC_update(context, parts[i].data, parts[i].length);
	EVP_MAC_final(context, out, &length, PORTICO_HMAC_MAX_BYTES);
	EVP_MAC_CTX_free(context);
	EVP_MAC_free(mac);
	return length;
}

int portico_constant_time_equal(const void *a, const void *b, size_t length)
{
	return CRYPTO_memcmp(a, b, length) == 0;
}

void portico_sha256(const void *data, size_t length, uint8_t out[PORTICO_SHA256_BYTES])
{
	unsigned int written = 0;
	if (!EVP_Digest(data, length, out, &written, EVP_sha256(), NULL))
		abort(); /* SHA-256 is in every OpenSSL 3 default provider */
}

/* ---- Public keys and signatures (JWT) ------------------------------------------------------- */

struct portico_public_key {
	EVP_PKEY *pkey;
};

portico_public_key *portico_public_key_from_pem(const char *pem, portico_error *err)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!pkey) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "not a PEM public key");
		return NULL;
	}
	portico_public_key *key = portico_malloc(sizeof *key);
	key->pkey = pkey;
	return key;
}

/* A JWK number or coordinate (base64url) as bytes; NULL when absent or malformed. */
static uint8_t *jwk_bytes(const char *text, size_t *length)
{
	uint8_t *bytes = NULL;
	if (!text || portico_base64_decode(text, strlen(text), &bytes, length) || !*length) {
		free(bytes);
		return NULL;
	}
	return bytes;
}

portico_public_key *portico_public_key_from_jwk(const char *kty, const char *n_or_crv, const char *e_or_x,
                                                const char *y, portico_error *err)
{
	int rsa = kty && !strcmp(kty, "RSA"), ec = kty && !strcmp(kty, "EC");
	if (ec && (!n_or_crv || strcmp(n_or_crv, "P-256"))) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "EC keys must be on P-256 (ES256)");
		return NULL;
	}
	size_t a_length = 0, b_length = 0, y_length = 0;
	uint8_t *a = rsa ? jwk_bytes(n_or_crv, &a_length) : NULL, *b = jwk_bytes(e_or_x, &b_length);
	uint8_t *y_bytes = ec ? jwk_bytes(y, &y_length) : NULL;
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM_BLD *build = OSSL_PARAM_BLD_new();
	BIGNUM *n = NULL, *e = NULL;
	uint8_t point[65];
	if (rsa && a && b) {
		n = BN_bin2bn(a, (int)a_length, NULL);
		e = BN_bin2bn(b, (int)b_length, NULL);
		OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_N, n);
		OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_E, e);
	} else if (ec && b && y_bytes && b_length == 32 && y_length == 32) {
		point[0] = 0x04; /* uncompressed: x then y */
		memcpy(point + 1, b, 32);
		memcpy(point + 33, y_bytes, 32);
		OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
		OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point);
	}
	OSSL_PARAM *params = (rsa && n) || (ec && b && y_bytes) ? OSSL_PARAM_BLD_to_param(build) : NULL;
	EVP_PKEY_CTX *context = params ? EVP_PKEY_CTX_new_from_name(NULL, rsa ? "RSA" : "EC", NULL) : NULL;
	if (context && EVP_PKEY_fromdata_init(context) > 0)
		EVP_PKEY_fromdata(context, &pkey, EVP_PKEY_PUBLIC_KEY, params);
	EVP_PKEY_CTX_free(context);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(build);
	BN_free(n);
	BN_free(e);
	free(a);
	free(b);
	free(y_bytes);
	if (!pkey) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "expected an RSA (n, e) or EC P-256 (x, y) JWK");
		return NULL;
	}
	portico_public_key *key = portico_malloc(sizeof *key);
	key->pkey = pkey;
	return key;
}

void portico_public_key_free(portico_public_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	free(key);
}

/* JWS's ES256 signature is r||s, 32 bytes each; OpenSSL verifies DER. Returns the DER length. */
static int es256_to_der(const uint8_t *signature, uint8_t **der)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(signature, 32, NULL), *s = BN_bin2bn(signature + 32, 32, NULL);
	if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return -1;
	}
	int length = i2d_ECDSA_SIG(sig, der);
	ECDSA_SIG_free(sig);
	return length;
}

int portico_signature_verify(const portico_public_key *key, portico_signature_algorithm algorithm, const void *data,
                             size_t length, const uint8_t *signature, size_t signature_length)
{
	int is_rsa = EVP_PKEY_is_a(key->pkey, "RSA"), is_ec = EVP_PKEY_is_a(key->pkey, "EC");
	if ((algorithm == PORTICO_RS256 && !is_rsa) ||
	    (algorithm == PORTICO_ES256 && (!is_ec || signature_length != 64)))
		return 0;
	uint8_t *der = NULL;
	int der_length = 0;
	if (algorithm == PORTICO_ES256 && (der_length = es256_to_der(signature, &der)) <= 0)
		return 0;
	EVP_MD_CTX *context = EVP_MD_CTX_new();
	int ok = context && EVP_DigestVerifyInit(context, NULL, EVP_sha256(), NULL, key->pkey) == 1 &&
	         EVP_DigestVerify(context, der ? der : signature, der ? (size_t)der_length : signature_length, data,
	                          length) == 1;
	EVP_MD_CTX_free(context);
	OPENSSL_free(der);
	return ok;
}

/* ---- Randomness and secrets ----------------------------------------------------------------- */

void portico_random_bytes(uint8_t *out, size_t length)
{
	if (RAND_bytes(out, (int)length) != 1) {
		portico_log("error", "OpenSSL has no randomness", NULL);
		abort();
	}
}

void portico_wipe(void *secret, size_t length)
{
	OPENSSL_cleanse(secret, length);
}

void portico_hex(const uint8_t *bytes, size_t length, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < length; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	out[2 * length] = '\0';
}
