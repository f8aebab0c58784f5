/* cmd_audit.h - what the files of `accord audit` share. */
#ifndef ACCORD_CMD_AUDIT_H
#define ACCORD_CMD_AUDIT_H

#include <jansson.h>

#include "accord/audit.h"
#include "cmd.h"

struct cli_audit {
	store *st;
	audit *a;
};

/* Open the node's audit log in data (read only, or for writing); prints
 * the problem and returns 1 on failure. */
int cli_audit_open(const char *data, bool read_only, struct cli_audit *log);
void cli_audit_close(struct cli_audit *log);
void cli_audit_usage(FILE *f);

/* A sequence number in decimal; EXIT_USAGE (printed) when malformed. */
int cli_parse_seq(const char *s, uint64_t *out);

/* --pub's value: a signing.pub file or base64; prints and returns 1 when bad. */
int cli_load_pub(const char *arg, uint8_t pub[CRYPTO_ED25519_PUB_LEN]);

int cmd_audit_list(int argc, char **argv);
int cmd_audit_export(int argc, char **argv);
int cmd_audit_show(int argc, char **argv);
int cmd_audit_subject(int argc, char **argv);
int cmd_audit_prove(int argc, char **argv);
int cmd_audit_check_proof(int argc, char **argv);
int cmd_audit_append(int argc, char **argv);

#endif
