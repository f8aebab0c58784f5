/* test_core.c - the small core pieces: errors, base64, dates, field paths, files. */
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accord/crypto.h"
#include "accord/date.h"
#include "accord/fs.h"
#include "accord/record.h"
#include "accord/store.h"
#include "helper.h"

/* The directories fsync'd since the last dirs_reset: this program's fsync
 * stands in front of libc's for the library linked into it. */
static struct { dev_t dev; ino_t ino; } dirs[64];
static size_t n_dirs;

int fsync(int fd)
{
	static int (*real)(int);
	struct stat st;

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && n_dirs < 64) {
		dirs[n_dirs].dev = st.st_dev;
		dirs[n_dirs++].ino = st.st_ino;
	}
	return real(fd);
}

static bool dir_synced(const char *dir)
{
	struct stat st;

	assert_int_equal(stat(dir, &st), 0);
	for (size_t i = 0; i < n_dirs; i++)
		if (dirs[i].dev == st.st_dev && dirs[i].ino == st.st_ino)
			return true;
	return false;
}

/* A message may wrap the one the error holds, and a long one is cut with
 * "...". */
static void test_error_messages(void **state)
{
	accord_error e = { 0 };
	char long_name[600];

	(void)state;
	assert_int_equal(accord_fail(&e, ACCORD_EINVAL, "the key is not an %s key", "Ed25519"),
			 ACCORD_EINVAL);
	assert_int_equal(accord_fail(&e, e.code, "%s: %s", "keys/tls.key", accord_error_msg(&e)),
			 ACCORD_EINVAL);
	assert_string_equal(accord_error_msg(&e), "keys/tls.key: the key is not an Ed25519 key");
	assert_int_equal(accord_fail(&e, ACCORD_EIO, "%s, then %s", e.msg, e.msg), ACCORD_EIO);
	assert_string_equal(e.msg, "keys/tls.key: the key is not an Ed25519 key, then "
			    "keys/tls.key: the key is not an Ed25519 key");
	memset(long_name, 'x', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	(void)accord_fail(&e, ACCORD_EIO, "%s: %s", long_name, accord_error_msg(&e));
	assert_int_equal(strlen(e.msg), sizeof e.msg - 1);
	assert_string_equal(e.msg + sizeof e.msg - 4, "...");
	e = (accord_error){ .code = ACCORD_ENOMEM };
	assert_string_equal(accord_error_msg(&e), accord_strerror(ACCORD_ENOMEM));
}

static void test_b64_strict(void **state)
{
	uint8_t out[64];
	size_t n;
	char enc[CRYPTO_B64_LEN(3)];

	assert_int_equal(crypto_b64_decode("aGVsbG8=", out, sizeof out, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "hello", 5);
	assert_int_equal(crypto_b64_decode("", out, sizeof out, &n), 0);
	assert_int_equal(n, 0);
	/* not canonical, not padded, whitespace, bad characters, too long */
	assert_int_equal(crypto_b64_decode("aGVsbG9=", out, sizeof out, &n), ACCORD_EINVAL);
	assert_int_equal(crypto_b64_decode("aGVsbG8", out, sizeof out, &n), ACCORD_EINVAL);
	assert_int_equal(crypto_b64_decode("aGVs bG8=", out, sizeof out, &n), ACCORD_EINVAL);
	assert_int_equal(crypto_b64_decode("aGVs\nbG8=", out, sizeof out, &n), ACCORD_EINVAL);
	assert_int_equal(crypto_b64_decode("aG=sbG8=", out, sizeof out, &n), ACCORD_EINVAL);
	assert_int_equal(crypto_b64_decode("aGVsbG8-", out, sizeof out, &n), ACCORD_EINVAL);
	assert_int_equal(crypto_b64_decode("aGVsbG8=", out, 4, &n), ACCORD_EINVAL);
	assert_int_equal(crypto_b64_decode_exact("aGVsbG8=", out, 6), ACCORD_EINVAL);
	assert_int_equal(crypto_b64_decode_exact("aGVsbG8=", out, 5), 0);
	crypto_b64_encode("abc", 3, enc);
	assert_string_equal(enc, "YWJj");
}

static void test_hex_strict(void **state)
{
	/* odd length, not a digit, a sign, a space, longer than out */
	static const char *const bad[] = { "abc", "0g", "+f", " f", "0011223344" };
	uint8_t out[4];
	size_t n;
	char hex[2 * sizeof out + 1];

	assert_int_equal(crypto_hex_decode("00fFa5", out, sizeof out, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "\x00\xff\xa5", 3);
	crypto_hex(out, n, hex);
	assert_string_equal(hex, "00ffa5");
	assert_int_equal(crypto_hex_decode("", out, sizeof out, &n), 0);
	assert_int_equal(n, 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(crypto_hex_decode(bad[i], out, sizeof out, &n), ACCORD_EINVAL);
}

static void test_dates(void **state)
{
	accord_date d;
	char buf[11];

	assert_int_equal(date_parse("1970-01-01", &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(date_parse("2024-02-29", &d), 0);
	date_format(d, buf);
	assert_string_equal(buf, "2024-02-29");
	assert_int_equal(date_parse("2026-12-31", &d), 0);
	assert_int_equal(d, date_from_civil(2026, 12, 31));
	assert_int_equal(date_from_civil(2027, 1, 1) - d, 1);
	assert_int_equal(date_parse("2023-02-29", &d), ACCORD_EINVAL);
	assert_int_equal(date_parse("2026-13-01", &d), ACCORD_EINVAL);
	assert_int_equal(date_parse("2026-1-01", &d), ACCORD_EINVAL);
	assert_int_equal(date_parse("2026-01-01T00:00", &d), ACCORD_EINVAL);
	assert_int_equal(date_parse("1969-12-31", &d), ACCORD_EINVAL);
	assert_int_equal(date_parse("", &d), ACCORD_EINVAL);
	/* every day of a few years round-trips */
	for (accord_date x = date_from_civil(2023, 1, 1); x < date_from_civil(2031, 1, 1); x++) {
		date_format(x, buf);
		assert_int_equal(date_parse(buf, &d), 0);
		assert_int_equal(d, x);
	}
}

static void test_record_paths(void **state)
{
	const ProtobufCMessageDescriptor *r = record_type_find("Referral");
	const ProtobufCFieldDescriptor *f;
	accord_error e = { 0 };

	assert_non_null(r);
	assert_int_equal(record_type_count(), 5);
	assert_null(record_type_find("Subject"));
	assert_int_equal(record_path_resolve(r, "subject.birth_date", &f, &e), 0);
	assert_string_equal(f->name, "birth_date");
	assert_int_equal(record_path_resolve(r, "subject.identifiers.value", &f, &e), 0);
	assert_int_equal(record_path_resolve(r, "subject.dob", &f, &e), ACCORD_ENOTFOUND);
	assert_non_null(strstr(e.msg, "Subject has no field 'dob' (its fields: given_name,"));
	assert_int_equal(record_path_resolve(r, "summary.x", &f, &e), ACCORD_ENOTFOUND);
	assert_int_equal(record_path_resolve(r, "subject..x", &f, &e), ACCORD_EINVAL);
	assert_int_equal(record_path_resolve(r, "subject.", &f, &e), ACCORD_EINVAL);
	assert_int_equal(record_path_resolve(r, "", &f, &e), ACCORD_EINVAL);
	assert_true(record_path_within("subject.given_name", "subject"));
	assert_true(record_path_within("subject", "subject"));
	assert_false(record_path_within("subjects", "subject"));
	assert_false(record_path_within("subject", "subject.given_name"));
}

static void test_files(void **state)
{
	char *dir = th_tmpdir(), path[4096], *buf;
	size_t len;
	struct stat st;
	accord_error e = { 0 };

	snprintf(path, sizeof path, "%s/secret", dir);
	n_dirs = 0;
	assert_int_equal(fs_create_private(path, "abc", 3, &e), 0);
	assert_true(dir_synced(dir));    /* the name, not only the bytes */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(fs_create_private(path, "abc", 3, &e), ACCORD_EEXIST);
	assert_int_equal(fs_read_private(path, 16, &buf, &len, &e), 0);
	assert_string_equal(buf, "abc");
	free(buf);
	assert_int_equal(fs_read_file(path, 2, &buf, &len, &e), ACCORD_ETOOBIG);
	assert_int_equal(fs_write_atomic(path, "defg", 4, 0644, &e), 0);
	assert_int_equal(fs_read_private(path, 16, &buf, &len, &e), ACCORD_EPERM);
	assert_int_equal(fs_read_file(path, 16, &buf, &len, &e), 0);
	assert_int_equal(len, 4);
	free(buf);
	snprintf(path, sizeof path, "%s/link", dir);
	assert_int_equal(symlink("secret", path), 0);
	assert_int_equal(fs_read_private(path, 16, &buf, &len, &e), ACCORD_EPERM);
	assert_int_equal(fs_create_private(path, "x", 1, &e), ACCORD_EEXIST);
	snprintf(path, sizeof path, "%s/none", dir);
	assert_int_equal(fs_read_file(path, 16, &buf, &len, &e), ACCORD_ENOTFOUND);
	th_rmdir(dir);
}

/* A new store's directory, and the files LMDB made in it, are named
 * durably: their parent's and their own directory synced. */
static void test_store_dirs(void **state)
{
	char *top = th_tmpdir(), dir[4096];
	store *st;
	accord_error e = { 0 };

	snprintf(dir, sizeof dir, "%s/data", top);
	n_dirs = 0;
	assert_int_equal(store_open(dir, NULL, &st, &e), 0);
	assert_true(dir_synced(top));
	assert_true(dir_synced(dir));
	store_close(st);
	th_rmdir(top);
}

/* One writer process a store: a second open to write is refused, naming
 * the holder; readers are not; the lock goes with the store. */
static void test_store_writer_lock(void **state)
{
	char *dir = th_tmpdir(), pid[32];
	store *st, *again, *ro;
	store_options r = { .read_only = true };
	accord_error e = { 0 };

	assert_int_equal(store_open(dir, NULL, &st, &e), 0);
	assert_int_equal(store_open(dir, NULL, &again, &e), ACCORD_EBUSY);
	snprintf(pid, sizeof pid, "(pid %ld)", (long)getpid());
	assert_non_null(strstr(e.msg, pid));
	assert_non_null(strstr(e.msg, "is a node already running"));
	assert_int_equal(store_open(dir, &r, &ro, &e), 0);
	store_close(ro);
	store_close(st);
	assert_int_equal(store_open(dir, NULL, &again, &e), 0);
	store_close(again);
	th_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_b64_strict),
		cmocka_unit_test(test_hex_strict),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_record_paths),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_store_dirs),
		cmocka_unit_test(test_store_writer_lock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
