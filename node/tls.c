/*
 * tls.c - TLS 1.3 contexts whose only trust is a pinned key.
 *
 * OpenSSL's chain verification fails for every self-signed certificate, so
 * the verify callback replaces its verdict for the leaf with the pin check:
 * a leaf whose key is pinned is accepted, any other is refused, whatever
 * OpenSSL thought of the chain. Certificates above the leaf are ignored.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "accord/fs.h"
#include "accord/tls.h"

#define PEM_MAX 65536

struct pins {
	size_t n;
	uint8_t (*spki)[CRYPTO_SHA256_LEN];
};

struct tls {
	SSL_CTX *ctx;
	X509 *cert;
	EVP_PKEY *key;
	struct pins pins;
};

/*
 * Where an SSL_CTX keeps its pins (ex_data): a context of ours points at
 * the struct tls's own set (borrowed); a context libcurl made owns a copy,
 * freed with it.
 */
static int borrowed_index = -1, owned_index = -1;

static void pins_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
			 long argl, void *argp)
{
	struct pins *p = ptr;

	if (p) {
		free(p->spki);
		free(p);
	}
}

static bool pins_indexes(void)
{
	if (borrowed_index < 0)
		borrowed_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (owned_index < 0)
		owned_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, pins_free_cb);
	return borrowed_index >= 0 && owned_index >= 0;
}

static const struct pins *ctx_pins(SSL_CTX *ctx)
{
	const struct pins *p = SSL_CTX_get_ex_data(ctx, borrowed_index);

	return p ? p : SSL_CTX_get_ex_data(ctx, owned_index);
}

int tls_cert_spki(X509 *cert, uint8_t out[CRYPTO_SHA256_LEN])
{
	unsigned char *der = NULL;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	int rc;

	if (n <= 0)
		return ACCORD_ECRYPTO;
	rc = crypto_sha256(der, (size_t)n, out);
	OPENSSL_free(der);
	return rc;
}

static bool pinned(const struct pins *p, const uint8_t spki[CRYPTO_SHA256_LEN])
{
	for (size_t i = 0; p && i < p->n; i++)
		if (CRYPTO_memcmp(p->spki[i], spki, CRYPTO_SHA256_LEN) == 0)
			return true;
	return false;
}

static int verify_cb(int preverify_ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	SSL_CTX *ctx = ssl ? SSL_get_SSL_CTX(ssl) : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(store);
	uint8_t spki[CRYPTO_SHA256_LEN];

	if (X509_STORE_CTX_get_error_depth(store) > 0)
		return 1;       /* only the leaf's key counts */
	if (!ctx || !cert || tls_cert_spki(cert, spki) != 0)
		return 0;
	if (pinned(ctx_pins(ctx), spki)) {
		X509_STORE_CTX_set_error(store, X509_V_OK);
		return 1;
	}
	X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
	return 0;
}

void tls_errors(char *buf, size_t size)
{
	unsigned long err;
	size_t used = 0;

	buf[0] = '\0';
	while ((err = ERR_get_error()) != 0) {
		char one[256];
		int w;

		ERR_error_string_n(err, one, sizeof one);
		w = snprintf(buf + used, size - used, "%s%s", used ? "; " : "", one);
		if (w < 0 || (size_t)w >= size - used) {
			ERR_clear_error();
			break;
		}
		used += (size_t)w;
	}
}

/* The strict settings both roles share. */
static int harden(SSL_CTX *ctx)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1)
		return ACCORD_ECRYPTO;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	return 0;
}

static int load_identity(tls *t, const char *cert_path, const char *key_path,
			 accord_error *e)
{
	char *buf;
	size_t len;
	BIO *bio;
	int rc = fs_read_file(cert_path, PEM_MAX, &buf, &len, e);

	if (rc != 0)
		return rc;
	bio = BIO_new_mem_buf(buf, (int)len);
	t->cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	free(buf);
	if (!t->cert)
		return accord_fail(e, ACCORD_EINVAL, "%s: not a PEM certificate", cert_path);
	rc = fs_read_private(key_path, PEM_MAX, &buf, &len, e);
	if (rc != 0)
		return rc;
	bio = BIO_new_mem_buf(buf, (int)len);
	t->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (!t->key)
		return accord_fail(e, ACCORD_EINVAL, "%s: not a PEM private key", key_path);
	if (X509_check_private_key(t->cert, t->key) != 1)
		return accord_fail(e, ACCORD_EINVAL, "%s does not hold the private key of the "
				   "certificate %s", key_path, cert_path);
	return 0;
}

static int use_identity(tls *t, SSL_CTX *ctx)
{
	if (SSL_CTX_use_certificate(ctx, t->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, t->key) != 1)
		return ACCORD_ECRYPTO;
	return 0;
}

int tls_open(const char *cert_path, const char *key_path, bool server, tls **out,
	     accord_error *e)
{
	tls *t = calloc(1, sizeof *t);
	int rc;

	if (!t)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	rc = load_identity(t, cert_path, key_path, e);
	if (rc != 0)
		goto fail;
	t->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!t->ctx || !pins_indexes() || harden(t->ctx) != 0 ||
	    use_identity(t, t->ctx) != 0 ||
	    SSL_CTX_set_ex_data(t->ctx, borrowed_index, &t->pins) != 1) {
		rc = accord_fail(e, ACCORD_ECRYPTO, "cannot set up TLS with %s", cert_path);
		goto fail;
	}
	if (server)
		SSL_CTX_set_session_id_context(t->ctx, (const unsigned char *)"accord", 6);
	*out = t;
	ERR_clear_error();
	return 0;
fail:
	ERR_clear_error();
	tls_close(t);
	return rc;
}

void tls_close(tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	X509_free(t->cert);
	EVP_PKEY_free(t->key);
	free(t->pins.spki);
	free(t);
}

int tls_set_pins(tls *t, const uint8_t (*pins)[CRYPTO_SHA256_LEN], size_t n)
{
	uint8_t (*copy)[CRYPTO_SHA256_LEN] = NULL;

	if (n) {
		copy = calloc(n, sizeof *copy);
		if (!copy)
			return ACCORD_ENOMEM;
		memcpy(copy, pins, n * sizeof *copy);
	}
	free(t->pins.spki);
	t->pins.spki = copy;
	t->pins.n = n;
	return 0;
}

SSL_CTX *tls_ctx(tls *t)
{
	return t->ctx;
}

bool tls_peer_spki(SSL *ssl, uint8_t out[CRYPTO_SHA256_LEN])
{
	X509 *peer = SSL_get0_peer_certificate(ssl);

	return peer && SSL_get_verify_result(ssl) == X509_V_OK &&
	       tls_cert_spki(peer, out) == 0;
}

int tls_configure_client_ctx(tls *t, SSL_CTX *ctx, const uint8_t pin[CRYPTO_SHA256_LEN])
{
	struct pins *p = calloc(1, sizeof *p);

	if (!p)
		return ACCORD_ENOMEM;
	p->spki = malloc(CRYPTO_SHA256_LEN);
	if (!p->spki) {
		free(p);
		return ACCORD_ENOMEM;
	}
	memcpy(p->spki[0], pin, CRYPTO_SHA256_LEN);
	p->n = 1;
	if (!pins_indexes() || SSL_CTX_set_ex_data(ctx, owned_index, p) != 1) {
		free(p->spki);
		free(p);
		return ACCORD_ECRYPTO;
	}
	/* From here the context owns p: the ex_data free callback frees it. */
	if (harden(ctx) != 0 || use_identity(t, ctx) != 0)
		return ACCORD_ECRYPTO;
	return 0;
}
