/* test_protocol_sig.c - signatures and "in force": valid, a byte changed
 * anywhere, missing, from a non-partner, duplicated, truncated, garbage,
 * expired and not yet effective; and signing itself. */
#include <sys/stat.h>

#include "accord/fs.h"
#include "accord/protocol.h"
#include "helper.h"

static const char *const ids[3] = { "police", "council", "ngo" };

struct fx {
	crypto_signer *keys[3];
	char *doc;
	protocol *p;
	char *dir;
	char *sig_path;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	protocol_diags d;

	assert_non_null(f);
	f->doc = th_protocol_doc(f->keys);
	assert_int_equal(protocol_parse("t.yaml", f->doc, strlen(f->doc), &f->p, &d), 0);
	f->dir = th_tmpdir();
	f->sig_path = th_write(f->dir, "t.yaml.sig", "", 0, 0644);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	protocol_close(f->p);
	th_keys_close(f->keys);
	free(f->doc);
	free(f->sig_path);
	th_rmdir(f->dir);
	free(f);
	return 0;
}

static void sign_all(struct fx *f)
{
	for (int i = 0; i < 3; i++)
		assert_int_equal(protocol_sign(f->p, ids[i], f->keys[i], f->sig_path, NULL), 0);
}

/* noinline: gcc 12 misreads the inlined out-parameter as dangling */
__attribute__((noinline)) static char *read_sigs(struct fx *f, size_t *len)
{
	char *buf = NULL;
	int rc = fs_read_file(f->sig_path, PROTOCOL_SIG_MAX_BYTES, &buf, len, NULL);

	assert_int_equal(rc, 0);
	return buf;
}

/* Check sigs text against protocol p; returns the check's result. */
static int check(const protocol *p, const char *sigs, size_t len, protocol_sigs **out,
		 protocol_diags *d)
{
	*out = NULL;
	return protocol_sigs_check(p, "t.yaml.sig", sigs, len, out, d);
}


static accord_date day(int y, int m, int d)
{
	return date_from_civil(y, m, d);
}

static void test_valid(void **state)
{
	struct fx *f = *state;
	protocol_sigs *s;
	protocol_diags d;
	accord_error e = { 0 };
	size_t len;
	char *sigs;

	sign_all(f);
	sigs = read_sigs(f, &len);
	assert_int_equal(check(f->p, sigs, len, &s, &d), 0);
	assert_true(s->all_signed);
	for (int i = 0; i < 3; i++)
		assert_int_equal(s->state[i], PROTOCOL_SIG_SIGNED);
	assert_int_equal(s->n_strangers, 0);
	assert_int_equal(protocol_in_force(f->p, s, day(2026, 11, 1), &e), 0);
	assert_int_equal(protocol_in_force(f->p, s, day(2026, 10, 1), &e), 0);
	assert_int_equal(protocol_in_force(f->p, s, day(2026, 12, 31), &e), 0);
	protocol_sigs_free(s);
	free(sigs);
}

static void test_sign_replaces_own_line(void **state)
{
	struct fx *f = *state;
	size_t len1, len2;
	char *a, *b;

	sign_all(f);
	a = read_sigs(f, &len1);
	assert_int_equal(protocol_sign(f->p, "council", f->keys[1], f->sig_path, NULL), 0);
	b = read_sigs(f, &len2);
	/* Ed25519 is deterministic: signing again gives the same file. */
	assert_int_equal(len1, len2);
	assert_memory_equal(a, b, len1);
	assert_non_null(strstr(b, "police "));
	assert_null(strstr(strstr(b, "council ") + 1, "council "));
	free(a);
	free(b);
}

static void test_sign_refuses_wrong_key(void **state)
{
	struct fx *f = *state;
	accord_error e = { 0 };

	assert_int_equal(protocol_sign(f->p, "police", f->keys[1], f->sig_path, &e), ACCORD_ESIG);
	assert_non_null(strstr(e.msg, "not the signing_key the protocol lists for 'police'"));
	assert_int_equal(protocol_sign(f->p, "mayor", f->keys[1], f->sig_path, &e), ACCORD_EINVAL);
	assert_non_null(strstr(e.msg, "'mayor' is not a partner"));
}

/* Every single-byte change of the document, comments included, leaves a
 * protocol that is either invalid or no longer signed by anyone. */
static void test_any_byte_changed(void **state)
{
	struct fx *f = *state;
	size_t len, n = strlen(f->doc), parsed = 0;
	char *sigs, *copy = malloc(n + 1);
	accord_date when = day(2026, 11, 1);

	assert_non_null(copy);
	sign_all(f);
	sigs = read_sigs(f, &len);
	for (size_t i = 0; i < n; i++) {
		protocol *q = NULL;
		protocol_sigs *s;
		protocol_diags d;

		memcpy(copy, f->doc, n + 1);
		copy[i] = copy[i] == 'x' ? 'y' : 'x';
		if (protocol_parse("t.yaml", copy, n, &q, &d) != 0)
			continue;
		parsed++;
		assert_int_equal(check(q, sigs, len, &s, &d), 0);
		assert_false(s->all_signed);
		for (int k = 0; k < 3; k++)
			assert_int_not_equal(s->state[k], PROTOCOL_SIG_SIGNED);
		assert_int_equal(protocol_in_force(q, s, when, NULL), ACCORD_ESIG);
		protocol_sigs_free(s);
		protocol_close(q);
	}
	/* The comment, names and descriptions can change and still parse. */
	assert_true(parsed > 100);
	free(copy);
	free(sigs);
}

static void test_comment_changed(void **state)
{
	struct fx *f = *state;
	char *changed = th_replace(f->doc, "# A test protocol.", "# A test protocol!");
	protocol *q;
	protocol_sigs *s;
	protocol_diags d;
	accord_error e = { 0 };
	size_t len;
	char *sigs;

	sign_all(f);
	sigs = read_sigs(f, &len);
	assert_int_equal(protocol_parse("t.yaml", changed, strlen(changed), &q, &d), 0);
	assert_int_equal(check(q, sigs, len, &s, &d), 0);
	assert_int_equal(s->state[0], PROTOCOL_SIG_BAD);
	assert_int_equal(protocol_in_force(q, s, day(2026, 11, 1), &e), ACCORD_ESIG);
	assert_non_null(strstr(e.msg, "signature of partner 'police' does not verify"));
	protocol_sigs_free(s);
	protocol_close(q);
	free(changed);
	free(sigs);
}

static void test_signature_missing(void **state)
{
	struct fx *f = *state;
	protocol_sigs *s;
	protocol_diags d;
	accord_error e = { 0 };
	size_t len;
	char *sigs;

	assert_int_equal(protocol_sign(f->p, "police", f->keys[0], f->sig_path, NULL), 0);
	assert_int_equal(protocol_sign(f->p, "ngo", f->keys[2], f->sig_path, NULL), 0);
	sigs = read_sigs(f, &len);
	assert_int_equal(check(f->p, sigs, len, &s, &d), 0);
	assert_int_equal(s->state[1], PROTOCOL_SIG_MISSING);
	assert_false(s->all_signed);
	assert_int_equal(protocol_in_force(f->p, s, day(2026, 11, 1), &e), ACCORD_ESIG);
	assert_non_null(strstr(e.msg, "partner 'council' has not signed"));
	protocol_sigs_free(s);
	free(sigs);
}

static void test_no_signature_file(void **state)
{
	struct fx *f = *state;
	protocol_sigs *s;
	protocol_diags d;
	char path[4096];

	snprintf(path, sizeof path, "%s/absent.yaml", f->dir);
	assert_int_equal(protocol_sigs_load(f->p, path, &s, &d), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(s->state[i], PROTOCOL_SIG_MISSING);
	protocol_sigs_free(s);
}

static void test_signature_from_non_partner(void **state)
{
	struct fx *f = *state;
	crypto_signer *stranger;
	protocol_sigs *s;
	protocol_diags d;
	uint8_t msg[PROTOCOL_SIG_MSG_LEN], sig[CRYPTO_ED25519_SIG_LEN];
	char b64[CRYPTO_B64_LEN(CRYPTO_ED25519_SIG_LEN)], *text, *sigs;
	size_t len;

	sign_all(f);
	sigs = read_sigs(f, &len);
	assert_int_equal(crypto_signer_generate(&stranger, NULL), 0);
	protocol_sig_message(f->p, msg);
	assert_int_equal(crypto_signer_sign(stranger, msg, sizeof msg, sig), 0);
	crypto_b64_encode(sig, sizeof sig, b64);
	text = malloc(len + 200);
	assert_non_null(text);
	len = (size_t)snprintf(text, len + 200, "%sprobation %s\n", sigs, b64);
	assert_int_equal(check(f->p, text, len, &s, &d), 0);
	assert_int_equal(s->n_strangers, 1);
	assert_string_equal(s->strangers[0].id, "probation");
	assert_int_equal(s->strangers[0].line, 4);
	/* A stranger's line grants nothing and takes nothing away. */
	assert_true(s->all_signed);
	protocol_sigs_free(s);
	crypto_signer_close(stranger);
	free(text);
	free(sigs);
}

static void test_partner_signed_with_other_key(void **state)
{
	struct fx *f = *state;
	protocol_sigs *s;
	protocol_diags d;
	uint8_t msg[PROTOCOL_SIG_MSG_LEN], sig[CRYPTO_ED25519_SIG_LEN];
	char b64[CRYPTO_B64_LEN(CRYPTO_ED25519_SIG_LEN)], text[256];
	int len;

	protocol_sig_message(f->p, msg);
	assert_int_equal(crypto_signer_sign(f->keys[1], msg, sizeof msg, sig), 0);
	crypto_b64_encode(sig, sizeof sig, b64);
	len = snprintf(text, sizeof text, "police %s\n", b64);
	assert_int_equal(check(f->p, text, (size_t)len, &s, &d), 0);
	assert_int_equal(s->state[0], PROTOCOL_SIG_BAD);
	protocol_sigs_free(s);
}

static bool has_diag(const protocol_diags *d, int line, const char *msg)
{
	for (size_t i = 0; i < d->count; i++)
		if (d->items[i].line == line && strstr(d->items[i].msg, msg))
			return true;
	print_message("no diagnostic at line %d with '%s'; got %zu: %s\n", line, msg,
		      d->count, d->count ? d->items[0].msg : "");
	return false;
}

static void test_duplicated_line(void **state)
{
	struct fx *f = *state;
	protocol_sigs *s;
	protocol_diags d;
	size_t len;
	char *sigs, *text;

	sign_all(f);
	sigs = read_sigs(f, &len);
	text = malloc(2 * len + 1);
	assert_non_null(text);
	memcpy(text, sigs, len);
	memcpy(text + len, sigs, strchr(sigs, '\n') - sigs + 1);
	len += (size_t)(strchr(sigs, '\n') - sigs + 1);
	assert_int_equal(check(f->p, text, len, &s, &d), ACCORD_EINVALID);
	assert_null(s);
	assert_true(has_diag(&d, 4, "partner 'police' has a second signature line (the first is line 1)"));
	free(text);
	free(sigs);
}

static void test_truncated(void **state)
{
	struct fx *f = *state;
	protocol_sigs *s;
	protocol_diags d;
	size_t len;
	char *sigs;

	sign_all(f);
	sigs = read_sigs(f, &len);
	/* Cut anywhere inside the last line. */
	for (size_t cut = len - 1; cut > len - 80; cut--) {
		assert_int_equal(check(f->p, sigs, cut, &s, &d), ACCORD_EINVALID);
		assert_true(has_diag(&d, 3, "looks truncated"));
	}
	/* Cut inside a line, newline kept: the line is malformed. */
	sigs[40] = '\n';
	assert_int_equal(check(f->p, sigs, len, &s, &d), ACCORD_EINVALID);
	assert_true(has_diag(&d, 1, "expected 'PARTNER-ID SIGNATURE'"));
	free(sigs);
}

static void test_garbage(void **state)
{
	struct fx *f = *state;
	protocol_sigs *s;
	protocol_diags d;
	uint8_t junk[512];
	static const char *const bad[] = {
		"police\n",
		"police  AAAA\n",
		"Police mpgNUaSyoPHHkB32glV5abvuZK0fbdTz1lJza7eEtcxFwY3CJxZ8eeiDOBRIX2tYlkW3CNuFBZGy+oZnNsFhBQ==\n",
		"police mpgNUaSyoPHHkB32glV5abvuZK0fbdTz1lJza7eEtcxFwY3CJxZ8eeiDOBRIX2tYlkW3CNuFBZGy+oZnNsFh!Q==\n",
		"police mpgNUaSyoPHHkB32glV5abvuZK0fbdTz1lJza7eEtcxFwY3CJxZ8eeiDOBRIX2tYlkW3CNuFBZGy+oZnNsFhBQ==\r\n",
		"<html>not a signature file</html>\n",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(check(f->p, bad[i], strlen(bad[i]), &s, &d), ACCORD_EINVALID);
		assert_true(d.count >= 1 && d.items[0].line == 1);
	}
	assert_int_equal(crypto_random(junk, sizeof junk), 0);
	junk[sizeof junk - 1] = '\n';
	junk[0] = 'x';
	assert_int_not_equal(check(f->p, (char *)junk, sizeof junk, &s, &d), 0);
	assert_null(s);
	assert_true(d.count >= 1);
}

static void test_dates(void **state)
{
	struct fx *f = *state;
	protocol_sigs *s;
	protocol_diags d;
	accord_error e = { 0 };
	size_t len;
	char *sigs;

	sign_all(f);
	sigs = read_sigs(f, &len);
	assert_int_equal(check(f->p, sigs, len, &s, &d), 0);
	assert_int_equal(protocol_in_force(f->p, s, day(2027, 1, 1), &e), ACCORD_ENOTINFORCE);
	assert_non_null(strstr(e.msg, "not in force on 2027-01-01: it expired after its review date 2026-12-31"));
	assert_int_equal(protocol_in_force(f->p, s, day(2026, 9, 30), &e), ACCORD_ENOTINFORCE);
	assert_non_null(strstr(e.msg, "not yet in force on 2026-09-30: it takes effect on 2026-10-01"));
	protocol_sigs_free(s);
	free(sigs);
}

static void test_sign_refuses_malformed_file(void **state)
{
	struct fx *f = *state;
	accord_error e = { 0 };
	char *p = th_write(f->dir, "t.yaml.sig", "garbage\n", 8, 0644);

	assert_int_equal(protocol_sign(f->p, "police", f->keys[0], p, &e), ACCORD_EINVALID);
	assert_non_null(strstr(e.msg, ":1: expected 'PARTNER-ID SIGNATURE'"));
	free(p);
}

static void test_private_key_permissions(void **state)
{
	struct fx *f = *state;
	crypto_signer *s = NULL;
	accord_error e = { 0 };
	char path[4096];

	snprintf(path, sizeof path, "%s/signing.key", f->dir);
	assert_int_equal(crypto_signer_save(f->keys[0], path, &e), 0);
	assert_int_equal(crypto_signer_save(f->keys[0], path, &e), ACCORD_EEXIST);
	assert_int_equal(crypto_signer_load(path, &s, &e), 0);
	crypto_signer_close(s);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(crypto_signer_load(path, &s, &e), ACCORD_EPERM);
	assert_non_null(strstr(e.msg, "chmod 600"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sign_replaces_own_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sign_refuses_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_any_byte_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_comment_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signature_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_signature_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signature_from_non_partner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partner_signed_with_other_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicated_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sign_refuses_malformed_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private_key_permissions, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
