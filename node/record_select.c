/*
 * record_select.c - a rule's fields compiled over the descriptors, and the
 * two things done with them: minimising a record before it is sent and
 * checking a record on receipt.
 *
 * A selection is a tree mirroring the messages it reaches: per field of a
 * message, NONE (left out), ALL (copied whole) or SOME (a message field
 * whose own fields are selected one by one, in a child node). Each node
 * also holds the full path of each of its fields, so reporting a withheld
 * field costs a pointer, not a string built on the hot path.
 */
#include "accord/record.h"
#include "record_int.h"

enum { SEL_NONE, SEL_ALL, SEL_SOME };

struct sel_node {
	const ProtobufCMessageDescriptor *d;
	unsigned char *mode;        /* per field of d */
	struct sel_node **child;    /* per field, for SEL_SOME */
	char **path;                /* per field, its path from the record type */
};

struct record_selection {
	struct sel_node *root;
};

static void node_free(struct sel_node *n)
{
	if (!n)
		return;
	for (unsigned i = 0; i < n->d->n_fields; i++) {
		if (n->child)
			node_free(n->child[i]);
		if (n->path)
			free(n->path[i]);
	}
	free(n->mode);
	free(n->child);
	free(n->path);
	free(n);
}

/* A node for d whose fields' paths start with prefix ("" at the root). */
static struct sel_node *node_new(const ProtobufCMessageDescriptor *d, const char *prefix)
{
	struct sel_node *n = calloc(1, sizeof *n);

	if (!n)
		return NULL;
	n->d = d;
	n->mode = calloc(d->n_fields ? d->n_fields : 1, sizeof *n->mode);
	n->child = calloc(d->n_fields ? d->n_fields : 1, sizeof(struct sel_node *));
	n->path = calloc(d->n_fields ? d->n_fields : 1, sizeof *n->path);
	if (!n->mode || !n->child || !n->path)
		goto out_free;
	for (unsigned i = 0; i < d->n_fields; i++) {
		size_t len = strlen(prefix) + strlen(d->fields[i].name) + 2;

		n->path[i] = malloc(len);
		if (!n->path[i])
			goto out_free;
		snprintf(n->path[i], len, "%s%s%s", prefix, *prefix ? "." : "",
			 d->fields[i].name);
	}
	return n;
out_free:
	node_free(n);
	return NULL;
}

/* Add one resolved path to the tree. */
static int select_path(struct sel_node *root, const char *path, accord_error *e)
{
	struct sel_node *n = root;
	const char *seg = path;

	for (;;) {
		const char *dot = strchr(seg, '.');
		size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
		char name[RECORD_PATH_MAX];
		const ProtobufCFieldDescriptor *f;
		unsigned i;

		memcpy(name, seg, len);
		name[len] = '\0';
		f = protobuf_c_message_descriptor_get_field_by_name(n->d, name);
		i = (unsigned)(f - n->d->fields);
		if (n->mode[i] == SEL_ALL || (!dot && n->mode[i] == SEL_SOME))
			return accord_fail(e, ACCORD_EINVAL, "field '%s' overlaps another "
					   "field selected; list each field once", path);
		if (!dot) {
			n->mode[i] = SEL_ALL;
			return 0;
		}
		if (!n->child[i]) {
			n->child[i] = node_new(f->descriptor, n->path[i]);
			if (!n->child[i])
				return accord_fail(e, ACCORD_ENOMEM, "out of memory");
		}
		n->mode[i] = SEL_SOME;
		n = n->child[i];
		seg = dot + 1;
	}
}

int record_selection_new(const ProtobufCMessageDescriptor *d,
			 const char *const *paths, size_t n,
			 const char *const *never, size_t n_never,
			 record_selection **out, accord_error *e)
{
	record_selection *s = calloc(1, sizeof *s);
	int rc = ACCORD_ENOMEM;

	if (!s || !(s->root = node_new(d, "")))
		goto out_free;
	for (size_t i = 0; i < n; i++) {
		const char *ns;

		rc = record_path_resolve(d, paths[i], NULL, e);
		if (rc != 0)
			goto out_free;
		ns = record_never_share_match(d, paths[i], never, n_never);
		if (ns) {
			rc = accord_fail(e, ACCORD_EREFUSED, "field '%s' is or holds %s, "
					 "which is never shared", paths[i], ns);
			goto out_free;
		}
		rc = select_path(s->root, paths[i], e);
		if (rc != 0)
			goto out_free;
	}
	*out = s;
	return 0;
out_free:
	if (rc == ACCORD_ENOMEM)
		accord_fail(e, rc, "out of memory compiling a selection of %s fields",
			    d->short_name);
	record_selection_free(s);
	return rc;
}

void record_selection_free(record_selection *s)
{
	if (!s)
		return;
	node_free(s->root);
	free(s);
}

const ProtobufCMessageDescriptor *record_selection_type(const record_selection *s)
{
	return s->root->d;
}

/* --- minimise ----------------------------------------------------------- */

static void withhold(record_withheld *w, const char *path)
{
	if (!w)
		return;
	/* A path of a repeated message's field comes once per element: keep
	 * it once. The strings are the selection's, so pointers compare. */
	for (size_t i = w->n; i-- > 0;)
		if (w->paths[i] == path)
			return;
	if (w->n == RECORD_MAX_WITHHELD) {
		w->truncated = true;
		return;
	}
	w->paths[w->n++] = path;
}

static int copy_message(const struct sel_node *sn, const ProtobufCMessage *src,
			ProtobufCMessage **out, record_withheld *w);

/* Copy one value of field f from src to dst (slots of rec_value_size). */
static int copy_value(const ProtobufCFieldDescriptor *f, const struct sel_node *child,
		      const void *src, void *dst, record_withheld *w)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)src;

		/* Always a copy, even of "": record_free frees every element
		 * of a repeated string, protobuf_c_empty_string included. */
		*(char **)dst = strdup(s ? s : "");
		return *(char **)dst ? 0 : ACCORD_ENOMEM;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = src;
		ProtobufCBinaryData *c = dst;

		c->len = 0;
		c->data = NULL;
		if (b->len == 0)
			return 0;
		c->data = malloc(b->len);
		if (!c->data)
			return ACCORD_ENOMEM;
		memcpy(c->data, b->data, b->len);
		c->len = b->len;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		*(ProtobufCMessage **)dst = NULL;
		if (!*(ProtobufCMessage *const *)src)
			return ACCORD_EINVAL; /* a hand-built array with a hole */
		return copy_message(child, *(ProtobufCMessage *const *)src,
				    (ProtobufCMessage **)dst, w);
	default:
		memcpy(dst, src, rec_value_size(f));
		return 0;
	}
}

static int copy_field(ProtobufCMessage *dst, const ProtobufCMessage *src,
		      const ProtobufCFieldDescriptor *f, const struct sel_node *child,
		      record_withheld *w)
{
	void *to = (char *)dst + f->offset;
	const void *from = (const char *)src + f->offset;
	size_t n, size = rec_value_size(f);
	const char *arr;
	char *copy;

	if (f->label != PROTOBUF_C_LABEL_REPEATED) {
		int rc = copy_value(f, child, from, to, w);

		if (rc == 0)
			rec_mark_present(dst, f);
		else if (f->type == PROTOBUF_C_TYPE_STRING)
			*(char **)to = (char *)protobuf_c_empty_string;
		return rc;
	}
	n = rec_count(src, f);
	arr = *(char *const *)from;
	copy = calloc(n, size);
	if (!copy)
		return ACCORD_ENOMEM;
	/* The array and its count grow together, so a failure part-way
	 * leaves dst as record_free expects it. */
	*(char **)to = copy;
	for (size_t i = 0; i < n; i++) {
		int rc = copy_value(f, child, arr + i * size, copy + i * size, w);

		if (rc != 0)
			return rc;
		REC_MEMBER(size_t, dst, f->quantifier_offset) = i + 1;
	}
	return 0;
}

/* Copy src, keeping what node sn selects; sn NULL copies everything. */
static int copy_message(const struct sel_node *sn, const ProtobufCMessage *src,
			ProtobufCMessage **out, record_withheld *w)
{
	const ProtobufCMessageDescriptor *d = src->descriptor;
	ProtobufCMessage *dst = rec_message_new(d);

	*out = NULL;
	if (!dst)
		return ACCORD_ENOMEM;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		int mode = sn ? sn->mode[i] : SEL_ALL;
		int rc;

		if (!rec_field_is_set(src, f))
			continue;
		if (mode == SEL_NONE) {
			withhold(w, sn->path[i]);
			continue;
		}
		rc = copy_field(dst, src, f, mode == SEL_SOME ? sn->child[i] : NULL, w);
		if (rc != 0) {
			record_free(dst);
			return rc;
		}
	}
	*out = dst;
	return 0;
}

int record_minimise(const record_selection *s, const ProtobufCMessage *src,
		    ProtobufCMessage **out, record_withheld *withheld, accord_error *e)
{
	int rc;

	if (withheld) {
		withheld->n = 0;
		withheld->truncated = false;
	}
	if (src->descriptor != s->root->d)
		return accord_fail(e, ACCORD_EINVAL, "the record is a %s, but the selection "
				   "is of %s fields", src->descriptor->short_name,
				   s->root->d->short_name);
	rc = copy_message(s->root, src, out, withheld);
	if (rc == ACCORD_EINVAL)
		return accord_fail(e, rc, "the %s record has an empty element in a list "
				   "of messages", src->descriptor->short_name);
	if (rc != 0)
		return accord_fail(e, rc, "out of memory minimising a %s record",
				   src->descriptor->short_name);
	return 0;
}

/* --- the check on receipt ----------------------------------------------- */

static int check_message(const struct sel_node *sn, const ProtobufCMessage *m,
			 rec_path *at, accord_error *e);

static int check_value(const ProtobufCFieldDescriptor *f, const struct sel_node *child,
		       const void *v, rec_path *at, accord_error *e)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_ENUM: {
		int32_t x = *(const int32_t *)v;
		const ProtobufCEnumDescriptor *ed = f->descriptor;

		if (!protobuf_c_enum_descriptor_get_value(ed, x))
			return accord_fail(e, ACCORD_EREFUSED, "the record's field '%s' holds "
					   "%d, which is not a value of %s", at->buf,
					   (int)x, ed->short_name);
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;

		if (s && !record_utf8_ok(s, strlen(s)))
			return accord_fail(e, ACCORD_EREFUSED, "the record's field '%s' is "
					   "not valid UTF-8 text", at->buf);
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)v;

		return sub ? check_message(child, sub, at, e) : 0;
	}
	default:
		return 0;
	}
}

/* Check m against node sn (NULL: every field allowed, as under a field
 * the rule shares whole); at is m's own path. */
static int check_message(const struct sel_node *sn, const ProtobufCMessage *m,
			 rec_path *at, accord_error *e)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (m->n_unknown_fields > 0)
		return accord_fail(e, ACCORD_EREFUSED, "the record carries field number %u "
				   "%s%s, which %s does not define; it is refused whole",
				   m->unknown_fields[0].tag, at->len ? "in " : "at the top level",
				   at->buf, d->short_name);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		int mode = sn ? sn->mode[i] : SEL_ALL;
		const struct sel_node *child = mode == SEL_SOME ? sn->child[i] : NULL;
		const char *v = (const char *)m + f->offset;
		size_t old;
		int rc = 0;

		if (!rec_field_is_set(m, f))
			continue;
		old = rec_path_push(at, at->len ? "." : "", f->name);
		if (mode == SEL_NONE) {
			rc = accord_fail(e, ACCORD_EREFUSED, "the record carries field '%s', "
					 "which the rule does not share", at->buf);
		} else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			const char *arr = *(char *const *)(const void *)v;
			size_t size = rec_value_size(f);

			for (size_t k = 0; k < rec_count(m, f) && rc == 0; k++)
				rc = check_value(f, child, arr + k * size, at, e);
		} else {
			rc = check_value(f, child, v, at, e);
		}
		rec_path_pop(at, old);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int record_check(const record_selection *s, const ProtobufCMessage *m, accord_error *e)
{
	rec_path at = { .len = 0 };

	if (m->descriptor != s->root->d)
		return accord_fail(e, ACCORD_EREFUSED, "the record is a %s, but the rule "
				   "shares %s records", m->descriptor->short_name,
				   s->root->d->short_name);
	return check_message(s->root, m, &at, e);
}
