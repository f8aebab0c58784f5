/*
 * crypto.h - the few primitives Accord uses, all from OpenSSL 3.
 *
 * SHA-256, strict base64, Ed25519 signing keys (raw 32-byte public keys, as
 * the protocol document pins them), and the node's TLS identity: an ECDSA
 * P-256 key with a self-signed certificate, identified by the SHA-256 of its
 * SubjectPublicKeyInfo (the pin libcurl takes as "sha256//BASE64").
 */
#ifndef ACCORD_CRYPTO_H
#define ACCORD_CRYPTO_H

#include "accord/error.h"

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_ED25519_PUB_LEN 32
#define CRYPTO_ED25519_SIG_LEN 64
/* base64 of n bytes with padding, plus the NUL */
#define CRYPTO_B64_LEN(n) ((((n) + 2) / 3) * 4 + 1)

typedef struct crypto_signer crypto_signer;

/* SHA-256 of len bytes. Fails (ACCORD_ENOMEM) only when OpenSSL cannot
 * allocate its context. */
int crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
	ACCORD_MUST_CHECK;

/* Encode len bytes as padded base64 into out (CRYPTO_B64_LEN(len) bytes). */
void crypto_b64_encode(const void *data, size_t len, char *out);

/*
 * Decode strict, padded base64 (no whitespace, canonical padding) of exactly
 * want bytes into out. ACCORD_EINVAL for anything else.
 */
int crypto_b64_decode_exact(const char *s, uint8_t *out, size_t want)
	ACCORD_MUST_CHECK;

/* Decode strict padded base64 of any length up to max bytes; *len set. */
int crypto_b64_decode(const char *s, uint8_t *out, size_t max, size_t *len)
	ACCORD_MUST_CHECK;

/* Fill out with len bytes from the OS's random generator. */
int crypto_random(void *out, size_t len) ACCORD_MUST_CHECK;

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void crypto_hex(const void *data, size_t len, char *out);

/* Decode hex (either case, an even number of digits, nothing else) of up
 * to max bytes into out; *len set. ACCORD_EINVAL when malformed or longer. */
int crypto_hex_decode(const char *s, uint8_t *out, size_t max, size_t *len)
	ACCORD_MUST_CHECK;

/*
 * Ed25519 verification with a raw 32-byte public key. Returns true only
 * when sig is a valid signature of msg.
 */
bool crypto_ed25519_verify(const uint8_t pub[CRYPTO_ED25519_PUB_LEN],
			   const void *msg, size_t len,
			   const uint8_t sig[CRYPTO_ED25519_SIG_LEN]);

/*
 * A signing key. crypto_signer_load reads a PEM PKCS#8 Ed25519 private key
 * from a private file (fs_read_private rules apply); crypto_signer_generate
 * makes a new one. crypto_signer_close wipes and frees (NULL is fine).
 */
int crypto_signer_load(const char *path, crypto_signer **out, accord_error *e)
	ACCORD_MUST_CHECK;
int crypto_signer_generate(crypto_signer **out, accord_error *e) ACCORD_MUST_CHECK;
void crypto_signer_close(crypto_signer *s);
void crypto_signer_public(const crypto_signer *s, uint8_t pub[CRYPTO_ED25519_PUB_LEN]);
int crypto_signer_sign(const crypto_signer *s, const void *msg, size_t len,
		       uint8_t sig[CRYPTO_ED25519_SIG_LEN]) ACCORD_MUST_CHECK;
/* Write the private key as PEM to a new 0600 file (O_EXCL|O_NOFOLLOW). */
int crypto_signer_save(const crypto_signer *s, const char *path, accord_error *e)
	ACCORD_MUST_CHECK;

/*
 * Make a TLS identity for partner_id: a new P-256 key written to key_path
 * (0600) and a self-signed X.509 certificate (CN=partner_id, valid for
 * `days`) written to cert_path; *spki gets the SHA-256 of the key's
 * SubjectPublicKeyInfo.
 */
int crypto_tls_identity_create(const char *partner_id, const char *key_path,
			       const char *cert_path, int days,
			       uint8_t spki[CRYPTO_SHA256_LEN], accord_error *e)
	ACCORD_MUST_CHECK;

/* SHA-256 of the SubjectPublicKeyInfo of the certificate in a PEM file. */
int crypto_cert_spki_sha256(const char *cert_path, uint8_t spki[CRYPTO_SHA256_LEN],
			    accord_error *e) ACCORD_MUST_CHECK;

#endif
