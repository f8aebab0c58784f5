/* yamltree.c - libyaml events to a bounded tree with positions. */
#include <yaml.h>

#include "yamltree.h"

#define ARENA_CHUNK 16384

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

struct arena {
	struct arena_chunk *head;
};

arena *arena_new(void)
{
	return calloc(1, sizeof(arena));
}

void arena_free(arena *a)
{
	struct arena_chunk *c, *next;

	if (!a)
		return;
	for (c = a->head; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

void *arena_alloc(arena *a, size_t size)
{
	struct arena_chunk *c = a->head;
	const size_t align = sizeof(max_align_t);
	size_t need = (size + align - 1) / align * align;
	void *p;

	if (need < size)
		return NULL;
	if (!c || c->size - c->used < need) {
		size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;

		c = malloc(sizeof *c + cap);
		if (!c)
			return NULL;
		c->size = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	p = (char *)c->data + c->used;
	c->used += need;
	memset(p, 0, size);
	return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
	char *p = n + 1 ? arena_alloc(a, n + 1) : NULL;

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

/* A container being filled: its node and a growable list of children. */
struct frame {
	yt_node *node;
	yt_node **kids;
	size_t n, cap;
};

struct builder {
	arena *a;
	const yt_limits *lim;
	struct frame *stack;
	size_t depth;
	size_t nodes;
	yt_node *root;
};

static int add_child(struct builder *b, yt_node *n)
{
	struct frame *f;

	if (b->depth == 0) {
		b->root = n;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		yt_node **k = reallocarray(f->kids, cap, sizeof(yt_node *));

		if (!k)
			return ACCORD_ENOMEM;
		f->kids = k;
		f->cap = cap;
	}
	f->kids[f->n++] = n;
	return 0;
}

static int close_frame(struct builder *b)
{
	struct frame *f;
	yt_node *n;

	if (b->depth == 0)
		return ACCORD_EPARSE; /* libyaml balances its events; be sure */
	f = &b->stack[--b->depth];
	n = f->node;
	n->items = arena_alloc(b->a, (f->n ? f->n : 1) * sizeof(yt_node *));
	if (!n->items) {
		free(f->kids);
		return ACCORD_ENOMEM;
	}
	if (f->n)
		memcpy(n->items, f->kids, f->n * sizeof(yt_node *));
	n->n = n->kind == YT_MAPPING ? f->n / 2 : f->n;
	free(f->kids);
	f->kids = NULL;
	return add_child(b, n);
}

static yt_node *new_node(struct builder *b, yt_kind kind, const yaml_mark_t *m)
{
	yt_node *n;

	if (++b->nodes > b->lim->max_nodes)
		return NULL;
	n = arena_alloc(b->a, sizeof *n);
	if (n) {
		n->kind = kind;
		n->line = (int)m->line + 1;
		n->column = (int)m->column + 1;
	}
	return n;
}

#define FAIL(code, m, ...) do { \
		*line = (int)(m).line + 1; *column = (int)(m).column + 1; \
		snprintf(msg, msgsize, __VA_ARGS__); rc = (code); goto out; \
	} while (0)

int yt_parse(arena *a, const void *buf, size_t len, const yt_limits *lim,
	     yt_node **root, int *line, int *column, char *msg, size_t msgsize)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct builder b = { .a = a, .lim = lim };
	int rc = 0, docs = 0;
	bool done = false;

	*line = *column = 0;
	b.stack = calloc(lim->max_depth + 1, sizeof *b.stack);
	if (!b.stack || !yaml_parser_initialize(&parser)) {
		free(b.stack);
		snprintf(msg, msgsize, "out of memory");
		return ACCORD_ENOMEM;
	}
	yaml_parser_set_input_string(&parser, buf, len);
	while (!done) {
		yt_node *n;

		if (!yaml_parser_parse(&parser, &ev)) {
			*line = (int)parser.problem_mark.line + 1;
			*column = (int)parser.problem_mark.column + 1;
			snprintf(msg, msgsize, "not valid YAML: %s%s%s",
				 parser.problem ? parser.problem : "syntax error",
				 parser.context ? " " : "",
				 parser.context ? parser.context : "");
			rc = ACCORD_EPARSE;
			goto out_parser;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				FAIL(ACCORD_EPARSE, ev.start_mark,
				     "a second YAML document ('---') in the file; "
				     "a protocol is one document");
			break;
		case YAML_ALIAS_EVENT:
			FAIL(ACCORD_EPARSE, ev.start_mark,
			     "YAML aliases ('*%s') are not allowed; write the value out",
			     (const char *)ev.data.alias.anchor);
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			const yaml_char_t *anchor =
				ev.type == YAML_SCALAR_EVENT ? ev.data.scalar.anchor :
				ev.type == YAML_SEQUENCE_START_EVENT ?
				ev.data.sequence_start.anchor : ev.data.mapping_start.anchor;
			yt_kind kind = ev.type == YAML_SCALAR_EVENT ? YT_SCALAR :
				       ev.type == YAML_SEQUENCE_START_EVENT ? YT_SEQUENCE :
				       YT_MAPPING;

			if (anchor)
				FAIL(ACCORD_EPARSE, ev.start_mark,
				     "YAML anchors ('&%s') are not allowed", (const char *)anchor);
			n = new_node(&b, kind, &ev.start_mark);
			if (!n && b.nodes > lim->max_nodes)
				FAIL(ACCORD_ETOOBIG, ev.start_mark,
				     "the document has more than %zu values", lim->max_nodes);
			if (!n)
				FAIL(ACCORD_ENOMEM, ev.start_mark, "out of memory");
			if (kind == YT_SCALAR) {
				if (ev.data.scalar.length > lim->max_scalar)
					FAIL(ACCORD_ETOOBIG, ev.start_mark,
					     "a value of %zu bytes is longer than the limit of %zu",
					     ev.data.scalar.length, lim->max_scalar);
				n->str = arena_strndup(a, (const char *)ev.data.scalar.value,
						       ev.data.scalar.length);
				n->len = ev.data.scalar.length;
				n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
				if (!n->str)
					FAIL(ACCORD_ENOMEM, ev.start_mark, "out of memory");
				if (strlen(n->str) != n->len)
					FAIL(ACCORD_EPARSE, ev.start_mark,
					     "a value contains a NUL character");
				if (add_child(&b, n) != 0)
					FAIL(ACCORD_ENOMEM, ev.start_mark, "out of memory");
				break;
			}
			if (b.depth == lim->max_depth)
				FAIL(ACCORD_ETOOBIG, ev.start_mark,
				     "the document nests deeper than %zu levels", lim->max_depth);
			b.stack[b.depth++] = (struct frame){ .node = n };
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (close_frame(&b) != 0)
				FAIL(ACCORD_ENOMEM, ev.start_mark, "out of memory");
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	if (!b.root) {
		snprintf(msg, msgsize, "the document is empty");
		rc = ACCORD_EPARSE;
		*line = 1;
		*column = 1;
		goto out_parser;
	}
	*root = b.root;
	goto out_parser;
out:
	yaml_event_delete(&ev);
out_parser:
	while (b.depth > 0)
		free(b.stack[--b.depth].kids);
	free(b.stack);
	yaml_parser_delete(&parser);
	return rc;
}
