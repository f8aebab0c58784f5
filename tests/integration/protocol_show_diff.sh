#!/bin/sh
# protocol_show_diff.sh - `accord protocol show` and `accord protocol diff`
# on the Eastshire example and on edited copies of it. Speaks TAP.
#
# Environment: ACCORD (absolute path to the accord binary), SRCDIR (the
# repository root).
: "${ACCORD:?set ACCORD to the accord binary}"
: "${SRCDIR:?set SRCDIR to the repository root}"

EX="$SRCDIR/policies/examples/eastshire.yaml"
TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM HUP

n=0
failed=0
: >"$TMP/all-stderr"

# ok STATUS DESCRIPTION: one TAP line; STATUS 0 passes. A failure shows
# the start of the last command's output as TAP comments.
ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
		cat "$TMP/out" "$TMP/err" 2>/dev/null | head -n 20 | sed 's/^/# /'
	fi
}

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() {
	desc=$1
	shift
	"$@"
	ok $? "$desc"
}

# run COMMAND...: output in $TMP/out and $TMP/err, exit status in $rc.
run() {
	"$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	cat "$TMP/err" >>"$TMP/all-stderr"
}

# has TEXT: the last output holds TEXT, with runs of white space (line
# wrapping included) counted as one space.
has() {
	tr '\n' ' ' <"$TMP/out" | tr -s ' ' | grep -F -q -- "$1"
}

# line TEXT: some line of the last output holds TEXT.
line() {
	grep -F -q -- "$1" "$TMP/out"
}

# py EXPR: EXPR (Python, over the JSON d) holds for the last output. A
# Python error becomes a TAP comment.
py() {
	python3 -c "import json, sys
d = json.load(sys.stdin)
sys.exit(0 if ($1) else 1)" <"$TMP/out" 2>"$TMP/pyerr" && return 0
	tail -n 1 "$TMP/pyerr" | sed 's/^/# /'
	return 1
}

# --- show -----------------------------------------------------------------

run "$ACCORD" protocol show "$EX" --at 2026-11-01
ok $rc "show of the example exits 0"
all=0
for p in police council exit-programme health-trust; do
	line "  $p: " || all=1
done
ok $all "show names each partner"
check "show gives the legal basis of reintegration-referral" \
	has "UK GDPR Art 6(1)(e) and Art 9(2)(g); DPA 2018 Sch 1 para 6"
check "show lists Referral.risk_assessment as never shared" line "Referral.risk_assessment"
check "show says the example is in force on 2026-11-01" line "IN FORCE on 2026-11-01"
check "show does not say NOT IN FORCE" eval '! line "NOT IN FORCE"'
check "show counts 60 days to the review" has "due in 60 days"
check "show lists what police shares and receives" \
	eval 'line "Shares:" && line "Receives:" && line "police-refers-to-council"'

run "$ACCORD" protocol show "$EX" --at 2026-11-01 --json
ok $rc "show --json exits 0"
check "show --json parses" py "True"
check "show --json: days_to_review 60, in force, reason null" \
	py 'd["days_to_review"] == 60 and d["in_force"] is True and d["reason"] is None'
check "show --json: every partner signed, with shares and receives" \
	py 'len(d["partners"]) == 4 and all(p["signature"] == "signed" and
	    isinstance(p["shares"], list) and isinstance(p["receives"], list)
	    for p in d["partners"])'
check "show --json: purposes, never_share and rule fields" \
	py '"Referral.risk_assessment" in d["never_share"] and
	    any(p["id"] == "reintegration-referral" for p in d["purposes"]) and
	    "subject.gender" in [f for p in d["partners"] if p["id"] == "police"
	    for s in p["shares"] if s["rule"] == "police-refers-to-exit-programme"
	    for f in s["fields"]]'

run "$ACCORD" protocol show "$EX" --at 2027-01-10
check "show after review_by says overdue by 10 days and not in force" \
	eval '[ $rc -eq 0 ] && has "overdue by 10 days" && line "NOT IN FORCE"'

mkdir "$TMP/nosig"
cp "$EX" "$TMP/nosig/eastshire.yaml"
run "$ACCORD" protocol show "$TMP/nosig/eastshire.yaml" --at 2026-11-01
ok $rc "show of a copy without its .sig still exits 0"
check "show of the copy: every partner missing" \
	test "$(grep -c -E '^  (police|council|exit-programme|health-trust) +missing$' "$TMP/out")" -eq 4
check "show of the copy: not in force" line "NOT IN FORCE on 2026-11-01"
run "$ACCORD" protocol show "$TMP/nosig/eastshire.yaml" --at 2026-11-01 --json
check "show --json of the copy: all missing, not in force, a reason" \
	py 'd["in_force"] is False and d["reason"] and
	    all(p["signature"] == "missing" for p in d["partners"])'

run "$ACCORD" protocol show "$TMP/does-not-exist.yaml"
check "show of a missing file exits 1" test $rc -eq 1
run "$ACCORD" protocol show
check "show without a file is a usage error (2)" test $rc -eq 2
run "$ACCORD" protocol show "$EX" --at 2026-13-01
check "show with a bad --at is a usage error (2)" test $rc -eq 2
run "$ACCORD" protocol show --help
check "show --help exits 0 with the usage" eval '[ $rc -eq 0 ] && line "usage:"'

# --- diff -----------------------------------------------------------------

run "$ACCORD" protocol diff "$EX" "$EX"
check "diff of the example with itself exits 0" test $rc -eq 0
check "diff with itself: no differences" line "no differences in the protocol's terms"

# A fresh key for police (another partner's key would fail validation).
run "$ACCORD" keygen --partner police --dir "$TMP/k"
newkey=$(sed -n 's/.*signing_key: "\(.*\)".*/\1/p' "$TMP/out")
newtls=$(sed -n 's/.*tls_spki_sha256: "\(.*\)".*/\1/p' "$TMP/out")
check "keygen gave a new police key" test -n "$newkey" -a -n "$newtls"

sed -e 's/subject\.postcode_district, needs, summary,/subject.postcode_district, subject.gender, needs, summary,/' \
    -e 's/to: \[police, council\]/to: [police]/' \
    -e 's/"UK GDPR Art 6(1)(c) and Art 7(3)"/"UK GDPR Art 6(1)(c)"/' \
    -e 's/id: council-closes-case$/id: council-closes-a-case/' \
    -e 's/^review_by: 2026-12-31/review_by: 2027-01-05/' \
    -e 's/^version: 3$/version: 4/' \
    -e 's/retention_days: 730$/retention_days: 365/' \
    -e "/^  - id: police\$/,/signing_key:/s|signing_key: \".*\"|signing_key: \"$newkey\"|" \
    -e "/^  - id: police\$/,/signing_key:/s|tls_spki_sha256: \".*\"|tls_spki_sha256: \"$newtls\"|" \
    "$EX" | awk '{ print } /^  - Referral\.case_notes$/ { print "  - ProgressUpdate.contact" }' \
    >"$TMP/amended.yaml"

run "$ACCORD" protocol diff "$EX" "$TMP/amended.yaml"
check "diff after edits exits 1" test $rc -eq 1
check "diff names the added field" \
	line "rule police-refers-to-council: fields added: subject.gender"
check "diff names the removed recipient" \
	line "rule exit-programme-reports-progress: recipients removed: council"
check "diff names the changed legal basis" \
	line "purpose consent-management: legal basis changed"
check "diff sees a renamed rule as one removed and one added" \
	eval 'line "rule council-closes-case removed" && line "rule council-closes-a-case added"'
check "diff names the new review_by" line 'review_by changed: "2026-12-31" -> "2027-01-05"'
check "diff names the version" line "version changed: 3 -> 4"
check "diff says police's signing key changed, loudly" \
	line "partner police: SIGNING KEY (signing_key) CHANGED"
check "diff says police's TLS key changed" line "partner police: TLS KEY (tls_spki_sha256) CHANGED"
check "diff names the never_share addition" line "never_share: added: ProgressUpdate.contact"
check "diff names the retention change" \
	line "rule police-passes-on-consent-withdrawal: retention_days changed: 730 -> 365"
check "diff reports nothing for unchanged rules" eval '! line "rule council-refers-to-health"'

run "$ACCORD" protocol diff "$EX" "$TMP/amended.yaml" --json
check "diff --json exits 1" test $rc -eq 1
check "diff --json parses and holds the expected kinds" \
	py '{"version_changed", "review_by_changed", "partner_signing_key_changed",
	     "partner_tls_key_changed", "purpose_legal_basis_changed",
	     "never_share_added", "rule_added", "rule_removed", "rule_fields_added",
	     "rule_recipients_removed", "rule_retention_changed"} ==
	    {c["kind"] for c in d["changes"]}'
check "diff --json: rule_fields_added names the rule and the field" \
	py '{"kind": "rule_fields_added", "rule": "police-refers-to-council",
	     "fields": ["subject.gender"]} in d["changes"] and
	    d["old"]["version"] == 3 and d["new"]["version"] == 4 and
	    d["old"]["digest"] != d["new"]["digest"] and d["same_terms"] is False'

run "$ACCORD" protocol diff "$TMP/amended.yaml" "$EX"
check "diff the other way round: field removed, recipient added" \
	eval '[ $rc -eq 1 ] &&
	      line "rule police-refers-to-council: fields removed: subject.gender" &&
	      line "rule exit-programme-reports-progress: recipients added: council" &&
	      line "never_share: removed: ProgressUpdate.contact"'

# A new partner: probation, with its own keys.
run "$ACCORD" keygen --partner probation --dir "$TMP/kp"
pkey=$(sed -n 's/.*signing_key: "\(.*\)".*/\1/p' "$TMP/out")
ptls=$(sed -n 's/.*tls_spki_sha256: "\(.*\)".*/\1/p' "$TMP/out")
awk -v k="$pkey" -v t="$ptls" '
/^purposes:/ {
	print "  - id: probation"
	print "    name: Eastshire Probation Service"
	print "    responsibilities: Supervises people on licence."
	print "    endpoint: https://probation.eastshire.example:7443"
	print "    tls_spki_sha256: \"" t "\""
	print "    signing_key: \"" k "\""
	print ""
}
{ print }' "$EX" >"$TMP/joined.yaml"
run "$ACCORD" protocol diff "$EX" "$TMP/joined.yaml"
check "diff names the partner that joined" \
	eval '[ $rc -eq 1 ] && line "partner probation joined: Eastshire Probation Service"'
run "$ACCORD" protocol show "$TMP/joined.yaml" --at 2026-11-01
check "show says a partner with no rules shares and receives nothing" \
	eval '[ $rc -eq 0 ] && line "nothing: no rule lets it share" &&
	      line "nothing: no rule names it as a recipient"'
run "$ACCORD" protocol show "$TMP/joined.yaml" --at 2026-11-01 --json
check "show --json: the new partner has empty shares and receives" \
	py '[(p["shares"], p["receives"]) for p in d["partners"]
	     if p["id"] == "probation"] == [([], [])]'
run "$ACCORD" protocol diff "$TMP/joined.yaml" "$EX"
check "diff names the partner that left" \
	eval '[ $rc -eq 1 ] && line "partner probation left"'

cp "$EX" "$TMP/comment.yaml"
echo "# reviewed at the November meeting; no change of terms" >>"$TMP/comment.yaml"
run "$ACCORD" protocol diff "$EX" "$TMP/comment.yaml"
check "a comment-only change exits 0" test $rc -eq 0
check "a comment-only change: no differences in terms, but digests differ" \
	eval 'line "no differences in the protocol'"'"'s terms" && line "digests differ"'
run "$ACCORD" protocol diff "$EX" "$TMP/comment.yaml" --json
check "diff --json of a comment-only change: same terms, not same bytes" \
	py 'd["same_terms"] is True and d["same_bytes"] is False and d["changes"] == []'

# Partners write the text: a title holding U+202E and the C1 control CSI
# (YAML escapes) is shown escaped, and --json keeps it as it is.
sed -e 's/^title: .*/title: "Eastshire \\u202Eevil \\x9B31m"/' "$EX" >"$TMP/bidi.yaml"
run "$ACCORD" protocol show "$TMP/bidi.yaml" --at 2026-11-01
check "show escapes U+202E and CSI in the title" \
	eval '[ $rc -eq 0 ] && line "Eastshire \u202eevil \u009b31m" &&
	      ! grep -q -F "$(printf "\342\200\256")" "$TMP/out"'
run "$ACCORD" protocol diff "$EX" "$TMP/bidi.yaml"
check "diff escapes them too" \
	eval '[ $rc -eq 1 ] && line "-> \"Eastshire \u202eevil \u009b31m\"" &&
	      ! grep -q -F "$(printf "\302\233")" "$TMP/out"'
run "$ACCORD" protocol diff "$EX" "$TMP/bidi.yaml" --json
check "diff --json keeps the title as it is" \
	py '[c["new"] for c in d["changes"] if c["kind"] == "title_changed"] ==
	    ["Eastshire \u202eevil \x9b31m"]'

sed -e 's/to: \[council\]$/to: [nobody]/' "$EX" >"$TMP/broken.yaml"
run "$ACCORD" protocol diff "$EX" "$TMP/broken.yaml"
check "diff with a broken file exits 2" test $rc -eq 2
check "diff with a broken file prints its diagnostics with line numbers" \
	grep -q "broken.yaml:[0-9]*:[0-9]*: .*nobody" "$TMP/err"
run "$ACCORD" protocol diff "$EX"
check "diff with one file is a usage error (2)" test $rc -eq 2

check "no sanitizer reports on stderr" \
	eval '! grep -q -E "Sanitizer|runtime error" "$TMP/all-stderr"'

echo "1..$n"
[ "$failed" -eq 0 ]
