/* helper.h - small things the unit tests share. */
#ifndef ACCORD_TEST_HELPER_H
#define ACCORD_TEST_HELPER_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "accord/crypto.h"
#include "accord/error.h"

/* A new malloc'd copy of s with the first occurrence of find replaced by
 * repl; fails the test when find is absent. */
char *th_replace(const char *s, const char *find, const char *repl);

/* A new temporary directory (removed by th_rmdir); fails the test on error. */
char *th_tmpdir(void);
void th_rmdir(char *dir);

/* Write len bytes to dir/name with mode; returns a malloc'd path. */
char *th_write(const char *dir, const char *name, const void *data, size_t len,
	       unsigned mode);

/* Base64 of a fresh signer's public key into out. */
void th_pub64(const crypto_signer *s, char out[CRYPTO_B64_LEN(CRYPTO_ED25519_PUB_LEN)]);

#endif

/*
 * A valid three-partner protocol (police, council, ngo) whose signing keys
 * are keys[0..2] (generated when *keys is NULL; close them with
 * th_keys_close) and dated 2026-10-01..2026-12-31. malloc'd.
 * Its lines are numbered in helper_protocol.c, for tests that assert them.
 */
char *th_protocol_doc(crypto_signer *keys[3]);
void th_keys_close(crypto_signer *keys[3]);
