/* helper_util.c - small things the unit tests share. */
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

char *th_replace(const char *s, const char *find, const char *repl)
{
	const char *at = strstr(s, find);
	size_t a, f = strlen(find), r = strlen(repl), n = strlen(s);
	char *out;

	if (!at)
		fail_msg("test setup: '%s' is not in the document", find);
	a = (size_t)(at - s);
	out = malloc(n - f + r + 1);
	assert_non_null(out);
	memcpy(out, s, a);
	memcpy(out + a, repl, r);
	memcpy(out + a + r, at + f, n - a - f + 1);
	return out;
}

char *th_tmpdir(void)
{
	char tmpl[] = "/tmp/accord-test-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	d = strdup(d);
	assert_non_null(d);
	return d;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void th_rmdir(char *dir)
{
	if (dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

char *th_write(const char *dir, const char *name, const void *data, size_t len,
	       unsigned mode)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *path = malloc(n);
	FILE *f;

	assert_non_null(path);
	assert_true(snprintf(path, n, "%s/%s", dir, name) == (int)n - 1);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

void th_pub64(const crypto_signer *s, char out[CRYPTO_B64_LEN(CRYPTO_ED25519_PUB_LEN)])
{
	uint8_t pub[CRYPTO_ED25519_PUB_LEN];

	crypto_signer_public(s, pub);
	crypto_b64_encode(pub, sizeof pub, out);
}

int th_run(const char *group, const struct CMUnitTest *fixed, size_t nfixed,
	   const th_table *tables, size_t ntables, CMFixtureFunction setup,
	   CMFixtureFunction teardown)
{
	size_t n = nfixed;
	struct CMUnitTest *tests;
	int rc;

	for (size_t t = 0; t < ntables; t++)
		n += tables[t].n;
	tests = calloc(n ? n : 1, sizeof *tests);
	if (!tests)
		return 1;
	if (nfixed)
		memcpy(tests, fixed, nfixed * sizeof *fixed);
	n = nfixed;
	for (size_t t = 0; t < ntables; t++)
		for (size_t i = 0; i < tables[t].n; i++, n++) {
			const void *c = (const char *)tables[t].cases + i * tables[t].size;

			tests[n].name = *(const char *const *)c;
			tests[n].test_func = tables[t].fn;
			tests[n].initial_state = (void *)c;
		}
	rc = _cmocka_run_group_tests(group, tests, n, setup, teardown);
	free(tests);
	return rc;
}
