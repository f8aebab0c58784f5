/*
 * yamltree.h - a small YAML document tree with positions, built from
 * libyaml's events under hard limits. Internal to the core library.
 *
 * Only what a configuration document needs: mappings, sequences and scalars,
 * one document per stream. Anchors and aliases are refused (they let a small
 * file expand without bound), as are documents deeper than max_depth, with
 * more than max_nodes nodes or with a scalar longer than max_scalar bytes.
 * Every node records its line and column (1-based).
 */
#ifndef ACCORD_YAMLTREE_H
#define ACCORD_YAMLTREE_H

#include "accord/error.h"

typedef struct arena arena;

arena *arena_new(void);
void arena_free(arena *a);
/* Zeroed memory that lives as long as the arena; NULL when out of memory. */
void *arena_alloc(arena *a, size_t size);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_strdup(arena *a, const char *s);

typedef enum { YT_SCALAR, YT_SEQUENCE, YT_MAPPING } yt_kind;

typedef struct yt_node yt_node;
struct yt_node {
	yt_kind kind;
	int line, column;
	bool plain;        /* a scalar written without quotes */
	const char *str;   /* scalar text, NUL-terminated */
	size_t len;
	size_t n;          /* sequence: items; mapping: pairs */
	yt_node **items;   /* sequence: n items; mapping: 2n (key, value, ...) */
};

typedef struct yt_limits {
	size_t max_depth, max_nodes, max_scalar;
} yt_limits;

/*
 * Parse buf into a tree allocated from a. On failure returns ACCORD_EPARSE
 * (malformed YAML, aliases, several documents), ACCORD_ETOOBIG (a limit) or
 * ACCORD_ENOMEM; *line and *column say where, msg what.
 */
int yt_parse(arena *a, const void *buf, size_t len, const yt_limits *lim,
	     yt_node **root, int *line, int *column, char *msg, size_t msgsize)
	ACCORD_MUST_CHECK;

#endif
