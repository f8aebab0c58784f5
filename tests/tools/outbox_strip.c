/*
 * outbox_strip.c - make a stopped node's pending outbox items look as the
 * earliest version wrote them: the envelope inside the item (not kept
 * apart in outbox_envelopes), and neither the envelope's purpose nor its
 * record digest. outbox_strip DATA_DIR rewrites every PENDING item so and
 * prints how many it changed. The node must then read the envelope from
 * the item and both facts from the envelope (parcel_facts in
 * node/node_outbox.c).
 */
#include "accord/state.h"
#include "accord/store.h"

#define STRIP_MAX 4096

struct strip {
	state *sb;
	MDB_dbi outbox, envelopes;
	size_t n;
	uint8_t id[STRIP_MAX][STATE_ID_LEN];
	state_outbox_item *item[STRIP_MAX];
};

static int take(const uint8_t id[STATE_ID_LEN], state_outbox_item **item, void *ctx)
{
	struct strip *s = ctx;

	if (s->n == STRIP_MAX)
		return 1;
	memcpy(s->id[s->n], id, STATE_ID_LEN);
	s->item[s->n++] = *item;
	*item = NULL;
	return 0;
}

static int put_all(MDB_txn *txn, void *ctx, accord_error *e)
{
	struct strip *s = ctx;

	for (size_t i = 0; i < s->n; i++) {
		state_outbox_item *it = s->item[i];

		if (it->purpose != protobuf_c_empty_string)
			free(it->purpose);
		it->purpose = (char *)protobuf_c_empty_string;
		free(it->record_sha256.data);
		it->record_sha256 = (ProtobufCBinaryData){ 0, NULL };
		/* Written as it was: the item whole, its envelope inside. */
		MDB_val k = { STATE_ID_LEN, s->id[i] };
		MDB_val v = { protobuf_c_message_get_packed_size(&it->base), NULL };
		int rc = mdb_put(txn, s->outbox, &k, &v, MDB_RESERVE);

		if (rc == 0) {
			protobuf_c_message_pack(&it->base, v.mv_data);
			rc = mdb_del(txn, s->envelopes, &k, NULL);
			rc = rc == MDB_NOTFOUND ? 0 : rc;
		}
		if (rc != 0)
			return accord_fail(e, ACCORD_EIO, "%s", mdb_strerror(rc));
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct strip s;
	store *st = NULL;
	accord_error e = { 0 };
	int rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: outbox_strip DATA_DIR\n");
		return 2;
	}
	if (store_open(argv[1], NULL, &st, &e) != 0 || state_open(st, &s.sb, &e) != 0 ||
	    store_db(st, "outbox", 0, &s.outbox, &e) != 0 ||
	    store_db(st, "outbox_envelopes", 0, &s.envelopes, &e) != 0 ||
	    state_outbox_each_pending(s.sb, NULL, take, &s, &e) < 0 ||
	    store_write(st, put_all, &s, &e) != 0) {
		fprintf(stderr, "outbox_strip: %s\n", accord_error_msg(&e));
		goto out;
	}
	printf("%zu\n", s.n);
	rc = 0;
out:
	for (size_t i = 0; i < s.n; i++)
		state_free(s.item[i]);
	state_close(s.sb);
	store_close(st);
	return rc;
}
