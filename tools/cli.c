/* cli.c - helpers the command groups share. */
#include "cmd.h"

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("accord: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_load_protocol(const char *path, protocol **out)
{
	protocol_diags *d = malloc(sizeof *d);
	int rc;

	if (!d) {
		cli_error("out of memory");
		return 1;
	}
	rc = protocol_load(path, out, d);
	if (rc != 0)
		protocol_diags_print(d, stderr);
	free(d);
	return rc != 0;
}

int cli_load_sigs(const protocol *p, const char *path, protocol_sigs **out)
{
	protocol_diags *d = malloc(sizeof *d);
	int rc;

	if (!d) {
		cli_error("out of memory");
		return 1;
	}
	rc = protocol_sigs_load(p, path, out, d);
	if (rc != 0)
		protocol_diags_print(d, stderr);
	free(d);
	return rc != 0;
}

int cli_parse_date(const char *s, accord_date *out)
{
	if (date_parse(s, out) != 0) {
		cli_error("'%s' is not a date: write YYYY-MM-DD", s);
		return EXIT_USAGE;
	}
	return 0;
}

const char *cli_sig_state_name(protocol_sig_state s)
{
	switch (s) {
	case PROTOCOL_SIG_SIGNED: return "signed";
	case PROTOCOL_SIG_BAD: return "bad signature";
	case PROTOCOL_SIG_MISSING: break;
	}
	return "missing";
}
