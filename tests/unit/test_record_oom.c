/*
 * test_record_oom.c - allocation failure, injected on purpose: every
 * allocation of minimising, reading JSON, writing JSON, compiling a
 * selection and opening a policy is made to fail in turn, and each must
 * answer ACCORD_ENOMEM (or NULL) leaving nothing allocated.
 *
 * This program replaces malloc, calloc, realloc and free with counting
 * wrappers over glibc's own. Under AddressSanitizer (make check), which
 * replaces them itself, each operation runs once without injection.
 */
#include <jansson.h>

#include "accord/policy.h"
#include "helper.h"

#if defined(__SANITIZE_ADDRESS__)
#define OOM_INJECTION 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OOM_INJECTION 0
#endif
#endif
#ifndef OOM_INJECTION
#define OOM_INJECTION 1
#endif

#if OOM_INJECTION
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static long fail_at = -1;   /* the allocation to fail, counting from 0 */
static long count;          /* allocations since arming */
static long live;           /* blocks allocated and not freed */

static bool should_fail(void)
{
	return fail_at >= 0 && count++ == fail_at;
}

void *malloc(size_t n)
{
	void *p = should_fail() ? NULL : __libc_malloc(n);

	live += p != NULL;
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p = should_fail() ? NULL : __libc_calloc(n, size);

	live += p != NULL;
	return p;
}

void *realloc(void *old, size_t n)
{
	void *p;

	if (should_fail())
		return NULL;
	p = __libc_realloc(old, n);
	if (!old && p)
		live++;
	else if (old && !p && n == 0)
		live--;
	return p;
}

void free(void *p)
{
	live -= p != NULL;
	__libc_free(p);
}
#endif

/* Run op with allocation k failing, for k = 0, 1, ... until op succeeds
 * without reaching the failure; each failed run must answer ACCORD_ENOMEM
 * and leave live as it was. */
static void each_failure(int (*op)(void *), void *arg)
{
#if OOM_INJECTION
	for (long k = 0;; k++) {
		long before = live;
		int rc;

		count = 0;
		fail_at = k;
		rc = op(arg);
		fail_at = -1;
		if (rc == 0 && count <= k)
			return; /* done: the failure was never reached */
		if (rc == 0)
			continue; /* absorbed (jansson retries some), output checked */
		assert_int_equal(rc, ACCORD_ENOMEM);
		if (live != before)
			fail_msg("allocation %ld failing leaks %ld blocks", k, live - before);
	}
#else
	assert_int_equal(op(arg), 0); /* no injection: the op alone, checked */
#endif
}

struct fixture {
	ProtobufCMessage *ref;
	char *text;
	size_t len;
	record_selection *sel;
	protocol *p;
	protocol_sigs *s;
};

static struct fixture fx;

static int setup(void **state)
{
	static const char *const fields[] = { "referral_id", "subject.given_name",
					      "subject.identifiers", "needs", "consent", NULL };

	fx.ref = th_example_referral();
	fx.text = th_src_file("policies/examples/referral.json", &fx.len);
	assert_int_equal(record_selection_new(record_type_find("Referral"), fields, 5, NULL,
					      0, &fx.sel, NULL), 0);
	th_example(&fx.p, &fx.s);
	return 0;
}

static int teardown(void **state)
{
	record_free(fx.ref);
	free(fx.text);
	record_selection_free(fx.sel);
	protocol_sigs_free(fx.s);
	protocol_close(fx.p);
	return 0;
}

static int op_minimise(void *arg)
{
	ProtobufCMessage *out = NULL;
	record_withheld w;
	int rc = record_minimise(fx.sel, fx.ref, &out, &w, NULL);

	if (rc != 0)
		assert_null(out);
	record_free(out);
	return rc;
}

static int op_from_json(void *arg)
{
	ProtobufCMessage *out = NULL;
	int rc = record_from_json_text(record_type_find("Referral"), fx.text, fx.len, &out,
				       NULL);

	/* What parses must be the text exactly: jansson's lexer would drop a
	 * character it cannot store, and record_from_json_text refuses that. */
	if (rc == 0) {
#if OOM_INJECTION
		fail_at = -1;
#endif
		th_assert_json(out, fx.text);
	}
	record_free(out);
	return rc;
}

static int op_to_json(void *arg)
{
	json_t *j = record_to_json(fx.ref);

	json_decref(j);
	return j ? 0 : ACCORD_ENOMEM;
}

static int op_selection(void *arg)
{
	static const char *const fields[] = { "subject.given_name", "subject.identifiers",
					      "needs", "contact.email", NULL };
	record_selection *s = NULL;
	int rc = record_selection_new(record_type_find("Referral"), fields, 4, NULL, 0, &s,
				      NULL);

	record_selection_free(s);
	return rc;
}

static int op_policy(void *arg)
{
	policy *pl = NULL;
	int rc = policy_open(fx.p, fx.s, &pl, NULL);

	policy_close(pl);
	return rc;
}

static void test_minimise(void **state) { each_failure(op_minimise, NULL); }
static void test_from_json(void **state) { each_failure(op_from_json, NULL); }
static void test_to_json(void **state) { each_failure(op_to_json, NULL); }
static void test_selection(void **state) { each_failure(op_selection, NULL); }
static void test_policy_open(void **state) { each_failure(op_policy, NULL); }

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimise),
		cmocka_unit_test(test_from_json),
		cmocka_unit_test(test_to_json),
		cmocka_unit_test(test_selection),
		cmocka_unit_test(test_policy_open),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
