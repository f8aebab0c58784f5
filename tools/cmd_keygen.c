/* cmd_keygen.c - `accord keygen`: a partner's signing key and TLS identity. */
#include <errno.h>
#include <getopt.h>
#include <sys/stat.h>

#include "accord/crypto.h"
#include "accord/fs.h"
#include "cmd.h"

#define CERT_DAYS 825

static void usage(FILE *f)
{
	fprintf(f, "usage: accord keygen --partner ID --dir DIR\n\n"
		"Writes a new Ed25519 signing key pair and a TLS key with a self-signed\n"
		"certificate for partner ID into DIR (created, with its parents, if missing):\n"
		"  DIR/signing.key  Ed25519 private key (PEM, mode 0600)\n"
		"  DIR/signing.pub  the public key, base64\n"
		"  DIR/tls.key      P-256 TLS private key (PEM, mode 0600)\n"
		"  DIR/tls.crt      self-signed TLS certificate (PEM)\n"
		"Existing files are never overwritten. Prints the lines that go into\n"
		"this partner's entry of the protocol (signing_key, tls_spki_sha256).\n");
}

/* mkdir -p, each new directory 0700. */
static int mkdir_parents(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, dir, n + 1);
	for (char *q = path + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return -1;
		*q = '/';
	}
	return mkdir(path, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "partner", required_argument, NULL, 'p' },
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *partner = NULL, *dir = NULL;
	char sk[4096], pk[4096], tk[4096], tc[4096];
	uint8_t pub[CRYPTO_ED25519_PUB_LEN], spki[CRYPTO_SHA256_LEN];
	char pub64[CRYPTO_B64_LEN(CRYPTO_ED25519_PUB_LEN) + 1];
	char spki64[CRYPTO_B64_LEN(CRYPTO_SHA256_LEN)];
	crypto_signer *s = NULL;
	accord_error e = { 0 };
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': partner = optarg; break;
		case 'd': dir = optarg; break;
		case 'h': usage(stdout); return 0;
		default: return cli_bad_option("keygen", c, argv);
		}
	}
	if (cli_need("keygen", "--partner ID", partner) ||
	    cli_need("keygen", "--dir DIR", dir) ||
	    cli_operands("keygen", argc, argv, 0, 0, NULL))
		return EXIT_USAGE;
	if (!protocol_id_ok(partner)) {
		cli_error("partner id '%s' is malformed: use 1 to %d lower-case letters, "
			  "digits and '-'", partner, PROTOCOL_MAX_ID);
		return EXIT_USAGE;
	}
	if (mkdir_parents(dir) != 0) {
		cli_error("%s: cannot create the directory: %s", dir, strerror(errno));
		return 1;
	}
	if (fs_path(sk, sizeof sk, "%s/signing.key", dir) ||
	    fs_path(pk, sizeof pk, "%s/signing.pub", dir) ||
	    fs_path(tk, sizeof tk, "%s/tls.key", dir) ||
	    fs_path(tc, sizeof tc, "%s/tls.crt", dir)) {
		cli_error("%s: path too long", dir);
		return 1;
	}
	if (crypto_signer_generate(&s, &e) != 0 || crypto_signer_save(s, sk, &e) != 0) {
		cli_error("%s", accord_error_msg(&e));
		crypto_signer_close(s);
		return 1;
	}
	crypto_signer_public(s, pub);
	crypto_signer_close(s);
	crypto_b64_encode(pub, sizeof pub, pub64);
	pub64[strlen(pub64) + 1] = '\0';
	pub64[strlen(pub64)] = '\n';
	if (fs_create_public(pk, pub64, strlen(pub64), &e) != 0 ||
	    crypto_tls_identity_create(partner, tk, tc, CERT_DAYS, spki, &e) != 0) {
		cli_error("%s", accord_error_msg(&e));
		return 1;
	}
	crypto_b64_encode(spki, sizeof spki, spki64);
	pub64[strlen(pub64) - 1] = '\0';
	fprintf(stderr, "wrote %s, %s, %s, %s\n"
		"Put these lines in partner '%s' of the protocol:\n", sk, pk, tk, tc, partner);
	printf("    signing_key: \"%s\"\n    tls_spki_sha256: \"%s\"\n", pub64, spki64);
	return 0;
}
