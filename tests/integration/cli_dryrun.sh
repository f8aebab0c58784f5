#!/bin/sh
# `accord protocol dry-run`: what a rule would disclose, each way it
# refuses, and bad input named by its JSON path.
. "$(dirname "$0")/lib/tap.sh"
A=$ACCORD
EX=$SRCDIR/policies/examples
P=$EX/eastshire.yaml
REF=$EX/referral.json
TO_COUNCIL="--from police --to council --purpose reintegration-referral --record-type Referral"

# jq-like checks on $T/out with python3: check 'EXPR' (d is the object).
check() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$T/out" "$1" 2>>"$T/out.err" && return 0
	echo "check failed: $1" >>"$T/out"
	return 1
}

run 0 $A protocol dry-run --help && has "--record-type T"; ok "dry-run --help" $?
run 0 $A protocol --help && has "dry-run FILE"; ok "protocol --help lists dry-run" $?
run 2 $A protocol dry-run "$P" --from police "$REF"; ok "missing options are a usage error" $?
run 2 $A protocol dry-run "$P" $TO_COUNCIL --case maybe "$REF" && has "--case 'maybe'"
ok "an unknown case state is a usage error" $?
run 2 $A protocol dry-run "$P" --from police --to council --purpose x --record-type Memo "$REF" &&
	has "'Memo' is not a record type"
ok "an unknown record type is a usage error" $?

run 0 $A protocol dry-run "$P" $TO_COUNCIL --at 2026-11-05 "$REF" &&
	check 'd["allowed"] and d["rule"]=="police-refers-to-council" and d["refusal"] is None' &&
	check '"risk_assessment" in d["withheld"] and "case_notes" in d["withheld"]' &&
	check '"subject.identifiers" in d["withheld"] and "subject.birth_year" in d["withheld"]' &&
	check '"risk_assessment" not in d["shared"] and "case_notes" not in d["shared"]' &&
	check 'd["shared"]["subject"]=={"given_name":"Daniel","family_name":"Hartley","birth_date":"1998-03-14","postcode_district":"ES4"}' &&
	check 'd["shared"]["needs"]==["HOUSING","EMPLOYMENT","PSYCHOSOCIAL","MENTORING"]' &&
	! grep -q "Channel panel" "$T/out"
ok "allowed: exit 0, the minimised record, the withheld paths" $?

run 0 $A protocol dry-run "$P" --from police --to exit-programme \
	--purpose reintegration-referral --record-type Referral --at 2026-11-05 "$REF" &&
	check 'd["shared"]["subject"]["gender"]=="MALE" and "birth_date" not in d["shared"]["subject"]' &&
	check '"subject.birth_date" in d["withheld"]'
ok "another rule shares other fields of the same referral" $?

run 3 $A protocol dry-run "$P" --from police --to health-trust \
	--purpose reintegration-referral --record-type Referral --at 2026-11-05 "$REF" &&
	check 'not d["allowed"] and d["refusal"]=="no-rule" and d["shared"] is None and d["withheld"] is None' &&
	has "no rule lets police share a Referral with health-trust for purpose 'reintegration-referral'" &&
	has "rule 'police-refers-to-council' shares it with council for that purpose"
ok "refused, no rule: exit 3, naming partner, purpose and the near rules" $?

python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); del d["consent"]; json.dump(d, open(sys.argv[2],"w"))' \
	"$REF" "$T/noconsent.json"
run 3 $A protocol dry-run "$P" $TO_COUNCIL --at 2026-11-05 "$T/noconsent.json" &&
	check 'd["refusal"]=="no-consent" and d["rule"]=="police-refers-to-council"' &&
	has "requires the person's consent, and this Referral carries none"
ok "refused, consent missing: exit 3, naming the rule" $?

sed 's/"reintegration-referral", //' "$REF" >"$T/scope.json"
run 3 $A protocol dry-run "$P" $TO_COUNCIL --at 2026-11-05 "$T/scope.json" &&
	has "covers only 'case-coordination'"
ok "refused, consent not covering the purpose" $?

run 3 $A protocol dry-run "$P" $TO_COUNCIL --at 2027-01-01 "$REF" &&
	check 'd["refusal"]=="not-in-force"' && has "expired after its review date 2026-12-31"
ok "refused, protocol expired: exit 3, naming the date" $?

cat >"$T/progress.json" <<'JSON'
{"referral_id": "EP-2026-0417", "overall": "ENGAGED",
 "needs": [{"need": "HOUSING", "status": "ENGAGED", "note": "viewing a flat"}],
 "summary": "Attends weekly.", "next_review": "2026-12-01"}
JSON
echo '{"given": true, "scope": ["case-coordination"]}' >"$T/consent.json"
PU="--from council --to police --purpose case-coordination --record-type ProgressUpdate --at 2026-11-05"
run 3 $A protocol dry-run "$P" $PU --case-consent "$T/consent.json" "$T/progress.json" &&
	check 'd["refusal"]=="no-case"' && has "there is no case between them"
ok "refused, in-case rule without a case" $?
run 0 $A protocol dry-run "$P" $PU --case accepted --case-consent "$T/consent.json" "$T/progress.json" &&
	check 'd["shared"]["needs"]==[{"need":"HOUSING","status":"ENGAGED"}] and d["withheld"]==["needs.note"]'
ok "allowed in an accepted case: a repeated message's field withheld" $?
run 3 $A protocol dry-run "$P" $PU --case accepted "$T/progress.json" &&
	has "no consent is recorded for the case"
ok "refused, no consent recorded for the case" $?

sed 's/"MALE"/2/' "$REF" >"$T/bad.json"
run 1 $A protocol dry-run "$P" $TO_COUNCIL --at 2026-11-05 "$T/bad.json" &&
	has "\$.subject.gender: expected a Gender name as a string, got an integer"
ok "bad JSON: exit 1 naming the JSON path" $?
sed 's/"scheme": "nhs"/"schema": "nhs"/' "$REF" >"$T/bad2.json"
run 1 $A protocol dry-run "$P" $TO_COUNCIL --at 2026-11-05 "$T/bad2.json" &&
	has "\$.subject.identifiers[1].schema: Identifier has no field 'schema'"
ok "an unknown key: exit 1 naming its path" $?
printf '{"summary": ' >"$T/cut.json"
run 1 $A protocol dry-run "$P" $TO_COUNCIL --at 2026-11-05 "$T/cut.json" &&
	has "not valid JSON"
ok "text that is not JSON: exit 1" $?
run 1 $A protocol dry-run "$P" $TO_COUNCIL "$T/missing.json" && has "missing.json"
ok "a missing record file: exit 1" $?

done_testing
