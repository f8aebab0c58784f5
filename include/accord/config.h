/*
 * config.h - the node's configuration file (accordd --config FILE).
 *
 * A small YAML mapping; relative paths are taken from the directory of the
 * configuration file, so a node's directory can be moved whole:
 *
 *   partner: police                  # this node's partner id
 *   protocol: eastshire.yaml         # the protocol (its .sig beside it)
 *   signing_key: keys/signing.key    # Ed25519, from accord keygen
 *   tls_key: keys/tls.key
 *   tls_cert: keys/tls.crt
 *   data_dir: data                   # LMDB environment, created 0700
 *   listen: 127.0.0.1:7443           # the peer listener (HTTPS, mTLS)
 *   local_socket: run/accord.sock    # the local API (HTTP, mode 0660)
 *   limits:                          # all optional, defaults shown
 *     max_body_bytes: 262144         # largest request body accepted
 *     max_connections: 512           # open peer connections; more wait
 *     audit_max_mib: 4096            # the LMDB map may grow to this
 *     delivery_timeout_ms: 10000     # one delivery attempt
 *     retry_initial_ms: 500          # first retry after a failed delivery
 *     retry_max_ms: 300000           # the backoff's ceiling
 *
 * Unknown keys, missing keys and malformed values are errors naming the
 * file, line and column, as for the protocol.
 */
#ifndef ACCORD_CONFIG_H
#define ACCORD_CONFIG_H

#include "accord/error.h"
#include "accord/protocol.h"

#define CONFIG_MAX_BYTES ((size_t)64 * 1024)
#define CONFIG_PATH_MAX 1024

typedef struct config {
	char partner[PROTOCOL_MAX_ID + 1];
	char protocol[CONFIG_PATH_MAX];
	char signing_key[CONFIG_PATH_MAX];
	char tls_key[CONFIG_PATH_MAX];
	char tls_cert[CONFIG_PATH_MAX];
	char data_dir[CONFIG_PATH_MAX];
	char listen_host[256];
	int listen_port;
	char local_socket[108];          /* sun_path's size */
	size_t max_body_bytes;
	int max_connections;
	size_t audit_max_mib;
	long delivery_timeout_ms;
	long retry_initial_ms;
	long retry_max_ms;
} config;

/*
 * Read and check the configuration at path into *out. Returns 0, or
 * ACCORD_EINVALID / ACCORD_EPARSE / ACCORD_ETOOBIG / ACCORD_ENOTFOUND with
 * the problems in d (d->file is path).
 */
int config_load(const char *path, config *out, protocol_diags *d) ACCORD_MUST_CHECK;

/*
 * config_load on the len bytes at buf (at most CONFIG_MAX_BYTES), read
 * from a file named name (for d->file) in directory dir, against which
 * relative paths are taken. Returns 0, or ACCORD_EINVALID / ACCORD_EPARSE /
 * ACCORD_ETOOBIG / ACCORD_ENOMEM with the problems in d.
 */
int config_parse(const char *name, const char *dir, const void *buf, size_t len,
		 config *out, protocol_diags *d) ACCORD_MUST_CHECK;

#endif
