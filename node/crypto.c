/* crypto.c - thin, checked wrappers over OpenSSL 3. */
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <pthread.h>

#include "accord/crypto.h"
#include "accord/fs.h"

#define KEY_FILE_MAX 16384

struct crypto_signer {
	EVP_PKEY *pkey;
	uint8_t pub[CRYPTO_ED25519_PUB_LEN];
};

/* SHA-256 fetched once: EVP_sha256() is fetched again at every digest,
 * about a fifth of the time of hashing a kilobyte. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
	unsigned int n = CRYPTO_SHA256_LEN;

	pthread_once(&sha256_once, sha256_fetch);
	if (EVP_Digest(data, len, out, &n, sha256_md ? sha256_md : EVP_sha256(), NULL) != 1) {
		ERR_clear_error();
		return ACCORD_ENOMEM;
	}
	return 0;
}

void crypto_b64_encode(const void *data, size_t len, char *out)
{
	if (len == 0) {
		out[0] = '\0';
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
}

static bool b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int crypto_b64_decode(const char *s, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(s), pad = 0, dec;
	uint8_t *tmp;
	char back[CRYPTO_B64_LEN(4096)];
	int r;

	if (n % 4 != 0 || n / 4 * 3 > max + 2 || n / 4 * 3 > 4096)
		return ACCORD_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=' && i >= n - 2) {
			pad++;
			continue;
		}
		if (!b64_char(s[i]) || pad)
			return ACCORD_EINVAL;
	}
	if (n == 0) {
		*len = 0;
		return 0;
	}
	dec = n / 4 * 3 - pad;
	if (dec > max)
		return ACCORD_EINVAL;
	tmp = malloc(n / 4 * 3 + 1);
	if (!tmp)
		return ACCORD_ENOMEM;
	r = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
	if (r < 0 || (size_t)r != n / 4 * 3) {
		free(tmp);
		return ACCORD_EINVAL;
	}
	/* Canonical form only: re-encoding must give back the same text. */
	crypto_b64_encode(tmp, dec, back);
	if (strcmp(back, s) != 0) {
		free(tmp);
		return ACCORD_EINVAL;
	}
	memcpy(out, tmp, dec);
	free(tmp);
	*len = dec;
	return 0;
}

int crypto_b64_decode_exact(const char *s, uint8_t *out, size_t want)
{
	size_t got;
	int rc = crypto_b64_decode(s, out, want, &got);

	if (rc != 0)
		return rc;
	return got == want ? 0 : ACCORD_EINVAL;
}

int crypto_random(void *out, size_t len)
{
	return RAND_bytes(out, (int)len) == 1 ? 0 : ACCORD_ECRYPTO;
}

void crypto_hex(const void *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int crypto_hex_decode(const char *s, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(s);

	if (n % 2 != 0 || n / 2 > max)
		return ACCORD_EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return ACCORD_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return 0;
}

bool crypto_ed25519_verify(const uint8_t pub[CRYPTO_ED25519_PUB_LEN],
			   const void *msg, size_t len,
			   const uint8_t sig[CRYPTO_ED25519_SIG_LEN])
{
	EVP_PKEY *pk;
	EVP_MD_CTX *ctx;
	bool ok = false;

	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
					 CRYPTO_ED25519_PUB_LEN);
	if (!pk)
		goto out;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		goto out_free_key;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
	    EVP_DigestVerify(ctx, sig, CRYPTO_ED25519_SIG_LEN, msg, len) == 1)
		ok = true;
	EVP_MD_CTX_free(ctx);
out_free_key:
	EVP_PKEY_free(pk);
out:
	ERR_clear_error();
	return ok;
}

static int signer_from_pkey(EVP_PKEY *pk, crypto_signer **out, accord_error *e)
{
	crypto_signer *s;
	size_t n = CRYPTO_ED25519_PUB_LEN;

	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pk);
		return accord_fail(e, ACCORD_EINVAL, "the key is not an Ed25519 key");
	}
	s = calloc(1, sizeof *s);
	if (!s) {
		EVP_PKEY_free(pk);
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	}
	if (EVP_PKEY_get_raw_public_key(pk, s->pub, &n) != 1 ||
	    n != CRYPTO_ED25519_PUB_LEN) {
		EVP_PKEY_free(pk);
		free(s);
		return accord_fail(e, ACCORD_ECRYPTO, "cannot read the public key");
	}
	s->pkey = pk;
	*out = s;
	return 0;
}

int crypto_signer_generate(crypto_signer **out, accord_error *e)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	if (!pk)
		return accord_fail(e, ACCORD_ECRYPTO, "Ed25519 key generation failed");
	return signer_from_pkey(pk, out, e);
}

int crypto_signer_load(const char *path, crypto_signer **out, accord_error *e)
{
	char *buf;
	size_t len;
	BIO *bio;
	EVP_PKEY *pk;
	int rc = fs_read_private(path, KEY_FILE_MAX, &buf, &len, e);

	if (rc != 0)
		return rc;
	bio = BIO_new_mem_buf(buf, (int)len);
	pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	OPENSSL_cleanse(buf, len);
	free(buf);
	ERR_clear_error();
	if (!pk)
		return accord_fail(e, ACCORD_EINVAL,
				   "%s: not a PEM private key (expected the signing.key "
				   "written by 'accord keygen')", path);
	rc = signer_from_pkey(pk, out, e);
	if (rc != 0)
		return accord_fail(e, rc, "%s: %s", path, accord_error_msg(e));
	return 0;
}

void crypto_signer_close(crypto_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->pkey);
	OPENSSL_cleanse(s, sizeof *s);
	free(s);
}

void crypto_signer_public(const crypto_signer *s, uint8_t pub[CRYPTO_ED25519_PUB_LEN])
{
	memcpy(pub, s->pub, CRYPTO_ED25519_PUB_LEN);
}

int crypto_signer_sign(const crypto_signer *s, const void *msg, size_t len,
		       uint8_t sig[CRYPTO_ED25519_SIG_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t n = CRYPTO_ED25519_SIG_LEN;
	int rc = ACCORD_ECRYPTO;

	if (!ctx)
		return ACCORD_ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->pkey) == 1 &&
	    EVP_DigestSign(ctx, sig, &n, msg, len) == 1 && n == CRYPTO_ED25519_SIG_LEN)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

/* PEM-encode a private key into memory and create path 0600 with it. */
static int save_private_pem(EVP_PKEY *pk, const char *path, accord_error *e)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc;

	if (!bio)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	if (PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(bio);
		return accord_fail(e, ACCORD_ECRYPTO, "%s: cannot encode the key", path);
	}
	len = BIO_get_mem_data(bio, &data);
	rc = fs_create_private(path, data, (size_t)len, e);
	OPENSSL_cleanse(data, (size_t)len);
	BIO_free(bio);
	return rc;
}

int crypto_signer_save(const crypto_signer *s, const char *path, accord_error *e)
{
	return save_private_pem(s->pkey, path, e);
}

static int spki_sha256(X509 *cert, uint8_t spki[CRYPTO_SHA256_LEN])
{
	unsigned char *der = NULL;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	int rc;

	if (n <= 0)
		return ACCORD_ECRYPTO;
	rc = crypto_sha256(der, (size_t)n, spki);
	OPENSSL_free(der);
	return rc;
}

static X509 *self_signed(EVP_PKEY *pk, const char *cn, int days)
{
	X509 *x = X509_new();
	X509_NAME *name;
	uint8_t serial[16];
	BIGNUM *bn = NULL;

	if (!x || crypto_random(serial, sizeof serial) != 0)
		goto fail;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof serial, NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto fail;
	if (X509_set_version(x, 2) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) ||
	    X509_set_pubkey(x, pk) != 1)
		goto fail;
	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
				       (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
				       (const unsigned char *)"Accord partner", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1)
		goto fail;
	if (X509_sign(x, pk, EVP_sha256()) <= 0)
		goto fail;
	BN_free(bn);
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

int crypto_tls_identity_create(const char *partner_id, const char *key_path,
			       const char *cert_path, int days,
			       uint8_t spki[CRYPTO_SHA256_LEN], accord_error *e)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *cert = NULL;
	BIO *bio = NULL;
	char *data;
	long len;
	int rc;

	if (!pk)
		return accord_fail(e, ACCORD_ECRYPTO, "P-256 key generation failed");
	cert = self_signed(pk, partner_id, days);
	if (!cert) {
		rc = accord_fail(e, ACCORD_ECRYPTO, "cannot make the certificate");
		goto out;
	}
	rc = spki_sha256(cert, spki);
	if (rc != 0) {
		accord_fail(e, rc, "cannot encode the public key");
		goto out;
	}
	bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_X509(bio, cert) != 1) {
		rc = accord_fail(e, ACCORD_ECRYPTO, "cannot encode the certificate");
		goto out;
	}
	rc = save_private_pem(pk, key_path, e);
	if (rc != 0)
		goto out;
	len = BIO_get_mem_data(bio, &data);
	rc = fs_create_public(cert_path, data, (size_t)len, e);
out:
	ERR_clear_error();
	BIO_free(bio);
	X509_free(cert);
	EVP_PKEY_free(pk);
	return rc;
}

int crypto_cert_spki_sha256(const char *cert_path, uint8_t spki[CRYPTO_SHA256_LEN],
			    accord_error *e)
{
	char *buf;
	size_t len;
	BIO *bio;
	X509 *x;
	int rc = fs_read_file(cert_path, KEY_FILE_MAX, &buf, &len, e);

	if (rc != 0)
		return rc;
	bio = BIO_new_mem_buf(buf, (int)len);
	x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	free(buf);
	ERR_clear_error();
	if (!x)
		return accord_fail(e, ACCORD_EINVAL, "%s: not a PEM certificate", cert_path);
	rc = spki_sha256(x, spki);
	X509_free(x);
	if (rc != 0)
		return accord_fail(e, rc, "%s: cannot encode its public key", cert_path);
	return 0;
}
