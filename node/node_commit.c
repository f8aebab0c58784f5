/*
 * node_commit.c - the group commit every audited change goes through.
 *
 * The faces queue ops (an audit entry and the state change it records)
 * during turns of the event loop. When no commit is under way, the queue
 * is handed to the writer thread, which appends the entries to one audit
 * batch and commits it with their state changes in a single durable LMDB
 * transaction, then signs one checkpoint and one batch of receipts for the
 * ops that want them. Meanwhile the loop goes on reading requests, which
 * queue up for the next commit: the slower the disk, the larger the batch.
 * Only when the writer says the commit is durable are the ops' answers
 * sent, on the loop thread; what queued meanwhile is handed over first,
 * so that the next commit runs while they go out.
 *
 * Ownership: the writer thread owns the batch in its hands (cw->b) until
 * it says done, the audit batch, the signing of checkpoints and receipts
 * and n->ckpt_stored_ms; everything else belongs to the loop, which reads
 * the store (a consistency proof for an answer) in read transactions of
 * its own while the writer commits. The handover (n->cw) is guarded by its mutex; the writer
 * wakes the loop through an eventfd. Other writes from the loop (a retry,
 * an acknowledgement) take LMDB's write lock and wait for a commit under
 * way: the store never has two writers at once. The daemon maps its whole
 * size limit at open (open_store), so the map is never resized while both
 * threads use it.
 */
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "node_int.h"

/* A commit: the ops and kept receipts handed to the writer, and its
 * outcome. */
struct batch {
	struct op *ops;
	size_t n_ops;
	struct kept_receipt *rcpt;
	size_t n_rcpt;
	int rc;
	accord_error e;
	char *note;                   /* the checkpoint for its receipts, or NULL */
	receipt_batch *receipts;      /* its receipts, signed with note */
};

/* The writer thread and what it was handed. */
struct committer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool started;
	bool busy;                    /* the loop's own view: handed over, not done */
	enum { CW_IDLE, CW_QUEUED, CW_DONE } state;   /* under mu */
	bool quit;
	int efd;                      /* the writer's "done" to the loop */
	double handed_at;             /* the loop's: when the commit was handed over */
	struct event *done_ev;
	struct event *rcpt_ev;        /* stores kept receipts when nothing else comes */
	struct batch b;               /* the commit in the writer's hands */
};

/* ---- ops ------------------------------------------------------------------------ */

void node_op_free(struct op *op)
{
	if (!op)
		return;
	state_free(op->outbox);
	state_free(op->inbox);
	state_free(op->case_item);
	json_decref(op->answer);
	free(op->answer_text);
	free(op->peer_note);
	free(op->strings);
	free(op->paths);
	free(op);
}

/* Bytes for the strings and path lists an entry points to. */
static size_t strings_size(const audit_entry *en, const char **const *f, size_t k)
{
	size_t total = 0;

	for (size_t i = 0; i < k; i++)
		total += *f[i] ? strlen(*f[i]) + 1 : 0;
	for (size_t i = 0; i < en->n_disclosed; i++)
		total += strlen(en->disclosed[i]) + 1;
	for (size_t i = 0; i < en->n_withheld; i++)
		total += strlen(en->withheld[i]) + 1;
	return total;
}

static char *copy_into(char *block, size_t *used, const char *s)
{
	size_t len = strlen(s) + 1;
	char *at = block + *used;

	memcpy(at, s, len);
	*used += len;
	return at;
}

int node_op_own_strings(struct op *op)
{
	audit_entry *en = &op->entry;
	const char **f[] = {
		&en->protocol_id, &en->rule_id, &en->purpose, &en->from, &en->to,
		&en->record_type, &en->message_id, &en->actor, &en->reason,
	};
	size_t k = sizeof f / sizeof f[0], used = 0, np = en->n_disclosed + en->n_withheld;
	char *block = malloc(strings_size(en, f, k) + 1);
	const char **paths = calloc(np + 1, sizeof *paths);

	if (!block || !paths) {
		free(block);
		free(paths);
		return ACCORD_ENOMEM;
	}
	for (size_t i = 0; i < k; i++)
		if (*f[i])
			*f[i] = copy_into(block, &used, *f[i]);
	for (size_t i = 0; i < en->n_disclosed; i++)
		paths[i] = copy_into(block, &used, en->disclosed[i]);
	for (size_t i = 0; i < en->n_withheld; i++)
		paths[en->n_disclosed + i] = copy_into(block, &used, en->withheld[i]);
	en->disclosed = paths;
	en->withheld = paths + en->n_disclosed;
	free(op->strings);
	free(op->paths);
	op->strings = block;
	op->paths = paths;
	return 0;
}


void node_enqueue(node *n, struct op *op)
{
	op->next = NULL;
	*n->ops_tail = op;
	n->ops_tail = &op->next;
	n->n_ops++;
	if (n->n_ops == 1)
		event_active(n->flush_ev, EV_TIMEOUT, 1);
}

/* ---- on the writer thread ------------------------------------------------------- */

struct put_ctx {
	node *n;
	struct committer *cw;
};

static int put_all(MDB_txn *txn, void *ctx, accord_error *e)
{
	struct put_ctx *p = ctx;
	int rc = 0;

	for (struct op *op = p->cw->b.ops; rc == 0 && op; op = op->next)
		rc = op->put ? op->put(p->n, txn, op, e) : 0;
	/* The receipts answered after the last commit, beside their items. */
	for (size_t i = 0; rc == 0 && i < p->cw->b.n_rcpt; i++) {
		const struct kept_receipt *k = &p->cw->b.rcpt[i];

		rc = state_inbox_set_receipt(p->n->sb, txn, k->id, k->bytes, k->len, e);
	}
	return rc;
}

static int commit_ops(node *n, struct committer *cw, bool *want_note, accord_error *e)
{
	struct put_ctx p = { n, cw };
	audit_batch *b;
	int rc = audit_batch_begin(n->au, &b, e);

	if (rc != 0)
		return rc;
	for (struct op *op = cw->b.ops; op; op = op->next) {
		if (op->unaudited)
			continue;
		rc = audit_batch_append(b, &op->entry, &op->seq, e);
		if (rc != 0) {
			audit_batch_abort(b);
			return rc;
		}
		*want_note |= op->wants_checkpoint;
	}
	return audit_batch_commit(b, put_all, &p, e);
}

int node_sign_head(node *n, bool keep, char **note, accord_error *e)
{
	uint8_t root[AUDIT_HASH_LEN];
	uint64_t size;
	int64_t now = node_now_ms();
	int rc;

	if (keep && now - n->ckpt_stored_ms >= 1000) {
		rc = audit_checkpoint(n->au, n->signer, n->origin, note, e);
		if (rc == 0)
			n->ckpt_stored_ms = now;
		return rc;
	}
	rc = audit_size(n->au, &size, e);
	if (rc == 0)
		rc = audit_root(n->au, size, root, e);
	if (rc == 0)
		rc = audit_note_sign(n->origin, size, root, n->signer, note, e);
	return rc;
}

/* The receipts of b's ops that want one, signed as one batch with b's
 * note: b->receipts, each op's place in it in op->receipt_index. */
static int sign_receipts(node *n, struct batch *b, accord_error *e)
{
	int rc = receipt_batch_new(&b->receipts, e);

	for (struct op *op = b->ops; rc == 0 && op; op = op->next)
		if (op->wants_checkpoint)
			rc = receipt_batch_add(b->receipts, op->id, STATE_ID_LEN,
					       op->entry.record_sha256, &op->receipt_index, e);
	if (rc == 0)
		rc = receipt_batch_sign(b->receipts, n->signer, n->cf.partner,
					node_now_ms() / 1000, b->note, e);
	if (rc != 0) {
		receipt_batch_free(b->receipts);
		b->receipts = NULL;
	}
	return rc;
}

/* Commit what the loop handed over; then one signed checkpoint, and one
 * signature, for every receipt of the batch. The entries are durable
 * either way: without them (note NULL) each receipt is owed, and a repeat
 * gets it. */
static void commit(node *n, struct committer *cw)
{
	struct batch *b = &cw->b;
	bool want_note = false;

	b->e = (accord_error){ 0 };
	b->note = NULL;
	b->receipts = NULL;
	b->rc = commit_ops(n, cw, &want_note, &b->e);
	if (b->rc == 0 && want_note) {
		accord_error why = { 0 };

		if (node_sign_head(n, true, &b->note, &why) != 0 ||
		    sign_receipts(n, b, &why) != 0) {
			node_log(n, "cannot sign the receipts: %s", accord_error_msg(&why));
			free(b->note);
			b->note = NULL;
		}
	}
}

static void *writer(void *arg)
{
	node *n = arg;
	struct committer *cw = n->cw;
	uint64_t one = 1;

	pthread_mutex_lock(&cw->mu);
	for (;;) {
		while (cw->state != CW_QUEUED && !cw->quit)
			pthread_cond_wait(&cw->cv, &cw->mu);
		if (cw->state != CW_QUEUED)
			break;
		pthread_mutex_unlock(&cw->mu);
		commit(n, cw);
		pthread_mutex_lock(&cw->mu);
		cw->state = CW_DONE;
		pthread_cond_broadcast(&cw->cv);
		if (write(cw->efd, &one, sizeof one) != sizeof one)
			node_log(n, "cannot wake the event loop after a commit");
	}
	pthread_mutex_unlock(&cw->mu);
	return NULL;
}

/* ---- on the loop -------------------------------------------------------------- */

static void free_receipts(struct kept_receipt *r, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(r[i].bytes);
	free(r);
}

/* Take the finished commit from the writer, which is then free for the
 * next. A commit the store could not take (full, or failing) stops all
 * sharing before anything else is handed over. */
static void take(node *n, struct batch *f)
{
	struct committer *cw = n->cw;

	*f = cw->b;
	cw->b = (struct batch){ 0 };
	pthread_mutex_lock(&cw->mu);
	cw->state = CW_IDLE;
	pthread_mutex_unlock(&cw->mu);
	if (cw->busy)   /* the writer had it: not ops failed at the handover */
		node_metric_commit(n, f->n_ops, f->rc == 0, node_monotonic() - cw->handed_at);
	cw->busy = false;
	if (f->rc == ACCORD_EFULL || f->rc == ACCORD_EIO)
		n->broken = true;
}

/* Answer a finished commit's ops. */
static void answer(node *n, struct batch *f)
{
	struct op *ops = f->ops;

	if (f->rc != 0) {
		node_log(n, "an audit commit of %zu %s failed: %s", f->n_ops,
			 f->n_ops == 1 ? "entry" : "entries", accord_error_msg(&f->e));
		/* Receipts not kept: a repeat of those deliveries gets new ones. */
	}
	n->consistency.valid = false;
	n->receipts = f->receipts;
	while (ops) {
		struct op *next = ops->next;

		ops->note = f->note;
		ops->done(n, ops, f->rc, &f->e);
		node_op_free(ops);
		ops = next;
	}
	free(f->note);
	receipt_batch_free(f->receipts);
	n->receipts = NULL;
	free_receipts(f->rcpt, f->n_rcpt);
}

/* The commit is over: answer its ops. */
static void complete(node *n)
{
	struct batch f;

	take(n, &f);
	answer(n, &f);
}

/*
 * Hand the queued ops (and the receipts kept since the last commit) to the
 * writer, unless a commit is under way: its end hands them over, so that
 * what queues during a commit makes the next one, and the slower the disk,
 * the larger the batch.
 */
static void hand_over(node *n)
{
	struct committer *cw = n->cw;

	if (cw->busy || (!n->ops && !n->n_rcpt))
		return;
	evtimer_del(cw->rcpt_ev);     /* the receipts go now */
	cw->b.ops = n->ops;
	cw->b.n_ops = n->n_ops;
	cw->b.rcpt = n->rcpt;
	cw->b.n_rcpt = n->n_rcpt;
	n->ops = NULL;
	n->ops_tail = &n->ops;
	n->n_ops = 0;
	n->rcpt = NULL;
	n->n_rcpt = n->cap_rcpt = 0;
	cw->handed_at = node_monotonic();
	if (n->broken) {
		/* Nothing more can be recorded: fail them here. */
		cw->b.rc = accord_fail(&cw->b.e, ACCORD_EIO, NODE_BROKEN_WHY);
		complete(n);
		return;
	}
	cw->busy = true;
	pthread_mutex_lock(&cw->mu);
	cw->state = CW_QUEUED;
	pthread_cond_signal(&cw->cv);
	pthread_mutex_unlock(&cw->mu);
}

static void flush(evutil_socket_t fd, short what, void *arg)
{
	hand_over(arg);
}

/*
 * The writer's "done". What queued during the commit is handed over
 * first, so that the writer starts on it at once and the commit overlaps
 * the loop's answering and reading; then the finished commit is answered
 * (first, when it failed: its failure is the cause of the next ones').
 * Receipts kept with nothing else to commit wait a little for company.
 */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
	node *n = arg;
	struct committer *cw = n->cw;
	struct batch f;
	uint64_t count;
	bool done;

	if (read(cw->efd, &count, sizeof count) != sizeof count)
		return;
	pthread_mutex_lock(&cw->mu);
	done = cw->state == CW_DONE;
	pthread_mutex_unlock(&cw->mu);
	if (!done)
		return;
	take(n, &f);
	if (n->ops && f.rc == 0)
		hand_over(n);
	answer(n, &f);
	if (n->ops)
		hand_over(n);
	else if (n->n_rcpt && !cw->busy && !evtimer_pending(cw->rcpt_ev, NULL)) {
		struct timeval later = { 0, 100000 };

		evtimer_add(cw->rcpt_ev, &later);
	}
}

void node_keep_receipt(node *n, const uint8_t id[STATE_ID_LEN], uint8_t *bytes, size_t len)
{
	if (n->n_rcpt == n->cap_rcpt) {
		size_t cap = n->cap_rcpt ? n->cap_rcpt * 2 : 16;
		struct kept_receipt *r = reallocarray(n->rcpt, cap, sizeof *r);

		if (!r) {
			/* Not kept: a repeat of this delivery gets a new receipt. */
			free(bytes);
			return;
		}
		n->rcpt = r;
		n->cap_rcpt = cap;
	}
	memcpy(n->rcpt[n->n_rcpt].id, id, STATE_ID_LEN);
	n->rcpt[n->n_rcpt].bytes = bytes;
	n->rcpt[n->n_rcpt++].len = len;
}

/* Wait for the commit under way, if any, and answer its ops. */
static void drain(node *n)
{
	struct committer *cw = n->cw;
	bool busy;

	pthread_mutex_lock(&cw->mu);
	while (cw->state == CW_QUEUED)
		pthread_cond_wait(&cw->cv, &cw->mu);
	busy = cw->state == CW_DONE;
	pthread_mutex_unlock(&cw->mu);
	if (busy)
		complete(n);
}

void node_commit_now(node *n)
{
	if (!n->cw || !n->cw->started)
		return;
	drain(n);
	if (n->ops || n->n_rcpt) {
		hand_over(n);
		drain(n);
	}
}

const struct op *node_commit_ops(const node *n)
{
	return n->cw ? n->cw->b.ops : NULL;
}

bool node_commit_idle(const node *n)
{
	const struct committer *cw = n->cw;

	return n->n_ops == 0 && n->n_rcpt == 0 && (!cw || !cw->busy);
}

int node_commit_start(node *n, accord_error *e)
{
	struct committer *cw = calloc(1, sizeof *cw);

	if (!cw)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	n->cw = cw;
	cw->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cw->efd < 0)
		return accord_fail(e, ACCORD_EIO, "eventfd: %s", strerror(errno));
	pthread_mutex_init(&cw->mu, NULL);
	pthread_cond_init(&cw->cv, NULL);
	n->flush_ev = event_new(n->base, -1, 0, flush, n);
	cw->done_ev = event_new(n->base, cw->efd, EV_READ | EV_PERSIST, on_done, n);
	cw->rcpt_ev = evtimer_new(n->base, flush, n);
	if (!n->flush_ev || !cw->done_ev || !cw->rcpt_ev ||
	    event_add(cw->done_ev, NULL) != 0)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	if (pthread_create(&cw->thread, NULL, writer, n) != 0)
		return accord_fail(e, ACCORD_EIO, "cannot start the writer thread");
	cw->started = true;
	return 0;
}

void node_commit_stop(node *n)
{
	struct committer *cw = n->cw;

	if (!cw)
		return;
	node_commit_now(n);    /* finish what was accepted */
	if (cw->started) {
		pthread_mutex_lock(&cw->mu);
		cw->quit = true;
		pthread_cond_signal(&cw->cv);
		pthread_mutex_unlock(&cw->mu);
		pthread_join(cw->thread, NULL);
		pthread_mutex_destroy(&cw->mu);
		pthread_cond_destroy(&cw->cv);
	}
	if (cw->done_ev)
		event_free(cw->done_ev);
	if (cw->rcpt_ev)
		event_free(cw->rcpt_ev);
	if (n->flush_ev)
		event_free(n->flush_ev);
	n->flush_ev = NULL;
	if (cw->efd >= 0)
		close(cw->efd);
	free_receipts(n->rcpt, n->n_rcpt);
	n->rcpt = NULL;
	n->n_rcpt = 0;
	free(cw);
	n->cw = NULL;
}
