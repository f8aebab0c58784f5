/* helper_audit.c - a scratch audit log and plausible entries for tests. */
#include "helper.h"

void th_log_open(struct th_log *l, const store_options *opt)
{
	accord_error e = { 0 };

	l->dir = th_tmpdir();
	if (store_open(l->dir, opt, &l->st, &e) != 0 || audit_open(l->st, &l->a, &e) != 0)
		fail_msg("opening the audit log: %s", accord_error_msg(&e));
}

void th_log_shut(struct th_log *l)
{
	audit_close(l->a);
	store_close(l->st);
	l->a = NULL;
	l->st = NULL;
}

void th_log_reopen(struct th_log *l)
{
	accord_error e = { 0 };

	th_log_shut(l);
	if (store_open(l->dir, NULL, &l->st, &e) != 0 || audit_open(l->st, &l->a, &e) != 0)
		fail_msg("reopening the audit log: %s", accord_error_msg(&e));
}

void th_log_close(struct th_log *l)
{
	audit_close(l->a);
	store_close(l->st);
	th_rmdir(l->dir);
	memset(l, 0, sizeof *l);
}

static const char *const paths[] = {
	"subject.given_name", "subject.family_name", "subject.birth_date", "needs",
	"summary", "urgency", "consent",
};
static const char *const withheld[] = { "risk_assessment", "case_notes" };
static const char *const partners[] = { "police", "council", "ngo" };
static const char *const purposes[] = { "reintegration-referral", "progress-report" };

void th_entry(uint64_t i, audit_entry *en, uint8_t subject_key)
{
	static char msgid[40];

	memset(en, 0, sizeof *en);
	en->time_ms = 1790000000000 + (int64_t)i * 1000;
	en->event = (int)(i % 3) + 1;
	en->protocol_id = "eastshire-reintegration";
	en->protocol_version = 3;
	en->has_protocol_digest = true;
	memset(en->protocol_digest, 0xab, sizeof en->protocol_digest);
	en->rule_id = "police-refers-to-council";
	en->purpose = purposes[i % 2];
	en->from = partners[i % 3];
	en->to = partners[(i + 1) % 3];
	en->record_type = "Referral";
	en->disclosed = paths;
	en->n_disclosed = sizeof paths / sizeof paths[0];
	en->withheld = withheld;
	en->n_withheld = 2;
	en->has_record_sha256 = true;
	assert_int_equal(crypto_sha256(&i, sizeof i, en->record_sha256), 0);
	snprintf(msgid, sizeof msgid, "msg-%016llx", (unsigned long long)i);
	en->message_id = msgid;
	en->has_subject = true;
	memset(en->subject, 0, sizeof en->subject);
	en->subject[0] = subject_key;
	en->subject[1] = (uint8_t)(i % 7);
	en->has_peer_key = true;
	memset(en->peer_key, 0x5a, sizeof en->peer_key);
	en->actor = "case-worker-17";
	en->outcome = AUDIT_SUCCESS;
	en->reason = "rule allows";
}

void th_fill(audit *a, uint64_t n, size_t batch)
{
	accord_error e = { 0 };
	uint64_t i = 0;

	while (i < n) {
		audit_batch *b;

		if (audit_batch_begin(a, &b, &e) != 0)
			fail_msg("batch: %s", accord_error_msg(&e));
		for (size_t j = 0; j < batch && i < n; j++, i++) {
			audit_entry en;
			uint64_t seq;

			th_entry(i, &en, 1);
			if (audit_batch_append(b, &en, &seq, &e) != 0)
				fail_msg("append: %s", accord_error_msg(&e));
		}
		if (audit_batch_commit(b, NULL, NULL, &e) != 0)
			fail_msg("commit: %s", accord_error_msg(&e));
	}
}
