/* helper_protocol.c - a small valid protocol for the tests to break. */
#include "helper.h"

/* The line numbers matter: test_protocol.c asserts them. */
static const char base[] =
	"# A test protocol.\n"                                      /*  1 */
	"protocol: test-partnership\n"                              /*  2 */
	"version: 1\n"                                              /*  3 */
	"title: Test partnership\n"                                 /*  4 */
	"coordinator: council\n"                                    /*  5 */
	"effective_from: 2026-10-01\n"                              /*  6 */
	"review_by: 2026-12-31\n"                                   /*  7 */
	"partners:\n"                                               /*  8 */
	"  - id: police\n"                                          /*  9 */
	"    name: Test Police\n"                                   /* 10 */
	"    responsibilities: Refers people.\n"                    /* 11 */
	"    endpoint: https://police.test:7443\n"                  /* 12 */
	"    tls_spki_sha256: \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n" /* 13 */
	"    signing_key: \"@K0@\"\n"                               /* 14 */
	"  - id: council\n"                                         /* 15 */
	"    name: Test Council\n"                                  /* 16 */
	"    responsibilities: Houses people.\n"                    /* 17 */
	"    endpoint: https://council.test:7443\n"                 /* 18 */
	"    tls_spki_sha256: \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"\n" /* 19 */
	"    signing_key: \"@K1@\"\n"                               /* 20 */
	"  - id: ngo\n"                                             /* 21 */
	"    name: Test NGO\n"                                      /* 22 */
	"    responsibilities: Mentors people.\n"                   /* 23 */
	"    endpoint: https://ngo.test\n"                          /* 24 */
	"    tls_spki_sha256: \"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\"\n" /* 25 */
	"    signing_key: \"@K2@\"\n"                               /* 26 */
	"purposes:\n"                                               /* 27 */
	"  - id: referral\n"                                        /* 28 */
	"    description: Refer a person for support\n"             /* 29 */
	"    legal_basis: UK GDPR Art 6(1)(e)\n"                    /* 30 */
	"  - id: coordination\n"                                    /* 31 */
	"    description: Report progress\n"                        /* 32 */
	"    legal_basis: UK GDPR Art 6(1)(e)\n"                    /* 33 */
	"never_share:\n"                                            /* 34 */
	"  - Referral.case_notes\n"                                 /* 35 */
	"rules:\n"                                                  /* 36 */
	"  - id: police-refers\n"                                   /* 37 */
	"    from: police\n"                                        /* 38 */
	"    to: [council, ngo]\n"                                  /* 39 */
	"    purpose: referral\n"                                   /* 40 */
	"    record: Referral\n"                                    /* 41 */
	"    fields: [subject.given_name, subject.family_name, needs, consent]\n" /* 42 */
	"    consent: required\n"                                   /* 43 */
	"    when: anytime\n"                                       /* 44 */
	"    retention_days: 180\n"                                 /* 45 */
	"  - id: council-reports\n"                                 /* 46 */
	"    from: council\n"                                       /* 47 */
	"    to: [police]\n"                                        /* 48 */
	"    purpose: coordination\n"                               /* 49 */
	"    record: ProgressUpdate\n"                              /* 50 */
	"    fields:\n"                                             /* 51 */
	"      - referral_id\n"                                     /* 52 */
	"      - needs.status\n"                                    /* 53 */
	"    consent: not-required\n"                               /* 54 */
	"    when: in-case\n"                                       /* 55 */
	"    retention_days: 365\n";                                /* 56 */

char *th_protocol_doc(crypto_signer *keys[3])
{
	char *doc = strdup(base);

	assert_non_null(doc);
	for (int i = 0; i < 3; i++) {
		char mark[16], pub[CRYPTO_B64_LEN(CRYPTO_ED25519_PUB_LEN)], *next;

		if (!keys[i])
			assert_int_equal(crypto_signer_generate(&keys[i], NULL), 0);
		th_pub64(keys[i], pub);
		snprintf(mark, sizeof mark, "@K%d@", i);
		next = th_replace(doc, mark, pub);
		free(doc);
		doc = next;
	}
	return doc;
}

void th_keys_close(crypto_signer *keys[3])
{
	for (int i = 0; i < 3; i++) {
		crypto_signer_close(keys[i]);
		keys[i] = NULL;
	}
}
