/*
 * tls.h - the node's TLS: TLS 1.3 only, mutual, pinned.
 *
 * There is no certificate authority. Each partner's TLS key is pinned in
 * the protocol by the SHA-256 of its SubjectPublicKeyInfo. The server side
 * demands a client certificate and accepts the handshake only when the
 * certificate's key is one of the pins it was given (the partners of the
 * protocol in force); the client side accepts a server only when its key is
 * the one pin expected for that partner. Nothing else about the
 * certificate is trusted: not its names, not its issuer.
 */
#ifndef ACCORD_TLS_H
#define ACCORD_TLS_H

#include <openssl/ssl.h>

#include "accord/crypto.h"
#include "accord/error.h"

typedef struct tls tls;

/*
 * A TLS context with this node's identity (certificate and private key in
 * PEM files; the key file must be private: 0600). server selects the role.
 */
int tls_open(const char *cert_path, const char *key_path, bool server, tls **out,
	     accord_error *e) ACCORD_MUST_CHECK;
void tls_close(tls *t);

/*
 * Replace the set of keys accepted from the other side (n pins of
 * CRYPTO_SHA256_LEN bytes, copied). Handshakes already made keep their
 * result; new ones see the new set. With no pins, every handshake fails.
 */
int tls_set_pins(tls *t, const uint8_t (*pins)[CRYPTO_SHA256_LEN], size_t n)
	ACCORD_MUST_CHECK;

/* The OpenSSL context, for libevent's and libcurl's use. */
SSL_CTX *tls_ctx(tls *t);

/* The SPKI SHA-256 of the peer's certificate on an established connection;
 * false when there is none. */
bool tls_peer_spki(SSL *ssl, uint8_t out[CRYPTO_SHA256_LEN]);

/* SHA-256 of the SubjectPublicKeyInfo of cert. */
int tls_cert_spki(X509 *cert, uint8_t out[CRYPTO_SHA256_LEN]) ACCORD_MUST_CHECK;

/*
 * Configure an SSL_CTX made by someone else (libcurl's, in its
 * CURLOPT_SSL_CTX_FUNCTION) as a pinned client: TLS 1.3 only, our identity
 * from t, and a verify callback accepting only the given pin.
 */
int tls_configure_client_ctx(tls *t, SSL_CTX *ctx, const uint8_t pin[CRYPTO_SHA256_LEN])
	ACCORD_MUST_CHECK;

/* Drain OpenSSL's error queue into buf ("" when empty), for logs. */
void tls_errors(char *buf, size_t size);

#endif
