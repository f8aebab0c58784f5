/* error.c - names for error codes, and the one way messages are filled. */
#include "accord/error.h"

const char *accord_strerror(int code)
{
	switch (code) {
	case ACCORD_OK: return "success";
	case ACCORD_ENOMEM: return "out of memory";
	case ACCORD_EIO: return "input/output error";
	case ACCORD_EINVAL: return "invalid argument or input";
	case ACCORD_ETOOBIG: return "input too large";
	case ACCORD_EPARSE: return "parse error";
	case ACCORD_ECRYPTO: return "cryptographic failure";
	case ACCORD_ENOTFOUND: return "not found";
	case ACCORD_EPERM: return "unsafe file permissions";
	case ACCORD_EEXIST: return "already exists";
	case ACCORD_ESIG: return "signature missing or invalid";
	case ACCORD_ENOTINFORCE: return "protocol not in force";
	case ACCORD_EINVALID: return "validation failed";
	case ACCORD_EREFUSED: return "refused by policy";
	case ACCORD_EFULL: return "store full";
	case ACCORD_ETAMPER: return "verification failed";
	case ACCORD_EINCONSISTENT: return "log inconsistent with a checkpoint held";
	case ACCORD_EBUSY: return "in use by another process";
	}
	return "unknown error";
}

/* Formatted apart and then copied, so that a message may wrap the one e
 * holds: accord_fail(e, rc, "%s: %s", path, accord_error_msg(e)). */
int accord_vfail(accord_error *e, int code, const char *fmt, va_list ap)
{
	char msg[sizeof e->msg];
	int n;

	if (!e)
		return code;
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (n < 0)
		msg[0] = '\0';
	else if ((size_t)n >= sizeof msg)
		memcpy(msg + sizeof msg - 4, "...", 4);
	e->code = code;
	memcpy(e->msg, msg, sizeof msg);
	return code;
}

int accord_error_set(accord_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	accord_vfail(e, code, fmt, ap);
	va_end(ap);
	return code;
}

const char *accord_error_msg(const accord_error *e)
{
	if (!e)
		return "unknown error";
	return e->msg[0] ? e->msg : accord_strerror(e->code);
}
