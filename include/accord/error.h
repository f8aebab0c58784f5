/*
 * error.h - Accord's one error convention.
 *
 * Functions that can fail return int: 0 on success or a negative ACCORD_E*
 * code. Where a person needs to know more than the code, the function takes
 * an accord_error *, which it fills with a sentence naming what failed, on
 * which input, and what to do. An accord_error * may always be NULL.
 */
#ifndef ACCORD_ERROR_H
#define ACCORD_ERROR_H

/* The libc headers come before banned.h so their own declarations of the
 * banned names are not rewritten. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCORD_MUST_CHECK __attribute__((warn_unused_result))
#define ACCORD_PRINTF(f, a) __attribute__((format(printf, f, a)))

enum {
	ACCORD_OK = 0,
	ACCORD_ENOMEM = -1,     /* out of memory */
	ACCORD_EIO = -2,        /* a file or device could not be read or written */
	ACCORD_EINVAL = -3,     /* an argument or input is malformed */
	ACCORD_ETOOBIG = -4,    /* an input passed its size or depth limit */
	ACCORD_EPARSE = -5,     /* a document could not be parsed */
	ACCORD_ECRYPTO = -6,    /* a cryptographic operation failed */
	ACCORD_ENOTFOUND = -7,  /* the named thing does not exist */
	ACCORD_EPERM = -8,      /* a file's permissions are unsafe */
	ACCORD_EEXIST = -9,     /* the file already exists */
	ACCORD_ESIG = -10,      /* a signature is missing or does not verify */
	ACCORD_ENOTINFORCE = -11, /* no protocol in force for that date */
	ACCORD_EINVALID = -12,  /* a document failed validation */
	ACCORD_EREFUSED = -13,  /* a policy refused the operation */
	ACCORD_EFULL = -14,     /* a store reached its configured size limit */
	ACCORD_ETAMPER = -15,   /* a log or proof fails verification */
	ACCORD_EINCONSISTENT = -16, /* a partner's log shrank or forked */
	ACCORD_EBUSY = -17,     /* another process holds it (a store open to write) */
};

typedef struct accord_error {
	int code;
	char msg[512];
} accord_error;

/* A short, fixed name for a code ("out of memory"); never NULL. */
const char *accord_strerror(int code);

/* accord_fail with a va_list. */
int accord_vfail(accord_error *e, int code, const char *fmt, va_list ap)
	ACCORD_PRINTF(3, 0);

/*
 * accord_fail(e, code, fmt, ...): fill e (may be NULL) with code and the
 * formatted message, and return code, so callers can write
 * `return accord_fail(e, ACCORD_EIO, "...", ...)`. A message too long for
 * e->msg is truncated with "...". It is a macro so that every caller (and a
 * static analyser reading one file) sees that the result is code; code is
 * evaluated twice, so it must have no side effects.
 */
int accord_error_set(accord_error *e, int code, const char *fmt, ...)
	ACCORD_PRINTF(3, 4);
static inline int accord_fail_result(int set, int code)
{
	(void)set;
	return code;
}
#define accord_fail(e, code, ...) \
	accord_fail_result(accord_error_set((e), (code), __VA_ARGS__), (code))

/* The message in e, or accord_strerror(e->code) when it is empty. */
const char *accord_error_msg(const accord_error *e);

#include "accord/banned.h"

#endif
