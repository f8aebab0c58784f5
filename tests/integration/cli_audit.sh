#!/bin/sh
# The DPO's audit commands end to end: entries appended as the daemon
# would, listed, shown, exported, found by subject, proved and checked
# offline, and a changed byte and a cut-off tail caught by verify.
. "$(dirname "$0")/lib/tap.sh"
A=$ACCORD
D=$T/data

run 0 $A audit --help && has "check-proof FILE --pub KEY"; ok "accord audit --help" $?
run 2 $A audit frob && has "audit: unknown command 'frob'"; ok "an unknown audit command is a usage error" $?
run 2 $A audit list; ok "list without --data is a usage error" $?
run 1 $A audit list --data "$T/none" && has "no such data directory"
ok "a missing data directory is named" $?

$A keygen --partner police --dir "$T/keys" >/dev/null 2>&1
run 0 $A audit append --data "$D" --from police --to council --purpose reintegration-referral \
	--rule police-refers-to-council --record-type Referral \
	--disclosed subject.given_name,subject.family_name,needs --withheld risk_assessment \
	--given-name Amina --family-name Khan --birth-date 1990-02-03 --actor cw-17 \
	--reason 'rule allows, "consent" given' --time-ms 1790000000000
ok "append a disclosure" $?
[ "$(stat -c %a "$D")" = 700 ] && [ "$(stat -c %a "$D/audit.key")" = 600 ]
ok "the data directory is 0700 and audit.key 0600" $?
run 0 $A audit append --data "$D" --event RECEIVED --from ngo --to police \
	--purpose progress-report --count 20 --time-ms 1790100000000
ok "append 20 more in one batch" $?

run 0 $A audit list --data "$D" && has "21 entries" && has "police -> council" &&
	has "2026-09-21"
ok "list shows every entry" $?
run 0 $A audit list --data "$D" --event disclosed && has "1 entry"
ok "list filters by event" $?
run 0 $A audit list --data "$D" --partner council --purpose reintegration-referral && has "1 entry"
ok "list filters by partner and purpose" $?
run 0 $A audit list --data "$D" --since 2026-09-22 && has "20 entries"
ok "list filters by time" $?
run 0 $A audit list --data "$D" --rule police-refers-to-council --json &&
	has '"rule": "police-refers-to-council"'
ok "list --json" $?
run 2 $A audit list --data "$D" --event nonsense && has "unknown event"
ok "an unknown event is a usage error" $?

run 0 $A audit show --data "$D" 0 && has "disclosed         [\"subject.given_name\"" &&
	has "withheld          [\"risk_assessment\"]"
ok "show names the disclosed and withheld paths" $?
run 1 $A audit show --data "$D" 99 && has "no entry 99"
ok "show past the end fails" $?
! grep -q Amina "$D/data.mdb"
ok "the subject's name is nowhere in the store" $?

run 0 $A audit export --data "$D" --format csv && has 'rule allows, ""consent"" given"' &&
	has "subject.given_name;subject.family_name;needs"
ok "export csv quotes fields" $?
[ "$(grep -c . "$T/out")" = 22 ]
ok "export csv has a header and 21 rows" $?
run 0 $A audit export --data "$D" --format jsonl --event received
[ "$(grep -c '"event":"RECEIVED"' "$T/out")" = 20 ]
ok "export jsonl, one object a line" $?

# An old log may hold text that is not UTF-8: every reader writes it,
# escaped, with its bytes in hex; none leaves the entry out.
O=$T/old-text
run 0 $A audit append --data "$O" --event REFUSED --from "$(printf '\377')" --to council \
	--reason "$(printf 'sender \303 is not police')" && run 0 $A audit append --data "$O" --count 2
ok "append an entry holding bytes that are not UTF-8, and two more" $?
run 0 $A audit list --data "$O" --json && [ "$(grep -c '"sequence":' "$T/out")" -eq 3 ] &&
	has '"from": "\\xff"' && has '"reason": "sender \\xc3 is not police"' &&
	has '"from": "ff"' && has '"reason": "73656e64657220c3206973206e6f7420706f6c696365"'
ok "list --json holds all three, escaped, the bytes under not_utf8" $?
run 0 $A audit export --data "$O" --format jsonl && [ "$(wc -l <"$T/out")" -eq 3 ] &&
	[ "$(grep -c '^{"sequence":[0-9]' "$T/out")" -eq 3 ]
ok "export jsonl: three lines, one entry each" $?
run 0 $A audit export --data "$O" --format csv && [ "$(wc -l <"$T/out")" -eq 4 ] &&
	has ',\xff,council,' && has ',from=ff;reason=73656e64657220c3206973206e6f7420706f6c696365'
ok "export csv: a header and three rows, the bytes in the last column" $?
run 0 $A audit show --data "$O" 0 && has 'from              \xff'
ok "show writes it too" $?
$A audit export --data "$O" --format jsonl >/dev/full 2>"$T/out"
[ $? -eq 1 ] && has "is incomplete"
ok "an export that cannot be written fails, and says so" $?

# Text a terminal would act on, or that would break the table: list and
# show write it escaped, one line an entry; --json keeps it exact.
X=$T/term-text
run 0 $A audit append --data "$X" --event REFUSED --from "$(printf 'police\033[2J')" \
	--to council --purpose "$(printf 'a\tb\nc')" --reason "$(printf 'moved\r\\x1b \302\233')"
ok "append an entry holding ESC, tab, newline, CR, a backslash and CSI" $?
run 0 $A audit list --data "$X" && [ "$(wc -l <"$T/out")" -eq 3 ] && raw_free &&
	has 'police\x1b[2J -> council' && has 'a\x09b\x0ac'
ok "list: one line for the entry, its text escaped" $?
run 0 $A audit show --data "$X" 0 && raw_free && ! grep -q "$(printf '\r')" "$T/out" &&
	has 'reason            moved\x0d\\x1b \u009b'
ok "show: CR and CSI escaped, and a backslash told from an escape" $?
run 0 $A audit list --data "$X" --json && has '"from": "police\u001B[2J"' &&
	python3 -c 'import json, sys
e = json.load(open(sys.argv[1]))[0]
assert e["reason"] == "moved\r\\x1b \x9b" and e["purpose"] == "a\tb\nc", e' "$T/out"
ok "list --json keeps the text exact, as before" $?

run 0 $A audit subject --data "$D" --given-name " amina " --family-name KHAN \
	--birth-date 1990-02-03 && has "1 entry" && has "police -> council"
ok "subject finds the person's entries, names normalised" $?
run 0 $A audit subject --data "$D" --given-name Amina --family-name Khan \
	--birth-date 1990-02-04 && has "0 entries"
ok "another birth date is another person" $?

run 1 $A audit prove --data "$D" 3 && has "no checkpoint"
ok "prove needs a checkpoint" $?
run 0 $A audit checkpoint --data "$D" --key "$T/keys/signing.key" --partner police \
	--out "$T/ck21" && grep -q "^21$" "$T/ck21" && grep -q "accord.audit/police" "$T/ck21"
ok "checkpoint writes a signed note" $?
cp -r "$D" "$T/old"
run 0 $A audit prove --data "$D" 0 --out "$T/proof.json"
ok "prove entry 0" $?
run 0 $A audit check-proof "$T/proof.json" --pub "$T/keys/signing.pub" && has "entry 0 is in the log"
ok "check-proof accepts it offline" $?
sed 's/"index": 0/"index": 1/' "$T/proof.json" >"$T/bad.json"
run 1 $A audit check-proof "$T/bad.json" --pub "$T/keys/signing.pub"
ok "check-proof refuses another index" $?
$A keygen --partner ngo --dir "$T/other" >/dev/null 2>&1
run 1 $A audit check-proof "$T/proof.json" --pub "$T/other/signing.pub" && has "another key"
ok "check-proof refuses another signer" $?

$A audit append --data "$D" --count 5 >/dev/null
run 0 $A audit verify --data "$D" --checkpoint "$T/ck21" --pub "$T/keys/signing.pub" &&
	has "whole: 26 entries"
ok "verify: the log is whole and extends the checkpoint" $?
run 0 $A audit checkpoint --data "$D" --key "$T/keys/signing.key" --out "$T/ck26"
sed 's/^26$/25/' "$T/ck26" >"$T/forged"
run 1 $A audit verify --data "$D" --checkpoint "$T/forged" --pub "$T/keys/signing.pub" &&
	has "forged or altered"
ok "verify refuses a forged checkpoint" $?

# A copy from before five more entries: to the later checkpoint it is cut off.
run 1 $A audit verify --data "$T/old" --checkpoint "$T/ck26" --pub "$T/keys/signing.pub" &&
	has "first bad entry 21" && has "cut off"
ok "verify catches a cut-off tail against a checkpoint kept elsewhere" $?

# An intruder with the files changes one byte of entry 7 through LMDB.
mdb_dump -s audit_entry "$D" | awk 'f { sub(/.$/, ($0 ~ /0$/) ? "1" : "0"); f = 0 }
	/^ 0000000000000007$/ { f = 1 } { print }' >"$T/dump"
mdb_load -s audit_entry "$D" <"$T/dump" 2>/dev/null
run 1 $A audit verify --data "$D" && has "first bad entry 7" && has "stored leaf hash"
ok "verify names the entry an intruder changed" $?
run 1 $A audit verify --data "$D" --json && has '"first_bad_sequence": 7'
ok "verify --json names it too" $?
chmod 755 "$D"
run 1 $A audit list --data "$D" && has "chmod 700"
ok "a data directory others can read is refused" $?
done_testing
