#!/bin/sh
# Harness self-test of tests/lib.sh: expect_table_error rejects a wrong
# error text, the status parser maps fields by name, and dedup_teardown
# fails a test when dedup_check reports a problem (a stand-in checker here).
# timeout: 120
. /tests/lib.sh

mkbrd 2 16
# A refusal with some other text must not satisfy expect_table_error.
if (expect_table_error "0 8 dedup /dev/ram0" "Unknown hash") >/dev/null 2>&1; then
	fail "expect_table_error accepted the wrong error text"
fi
expect_table_error "0 8 dedup /dev/ram0" "Invalid argument count"

line="0 16384 dedup rw - 7 10/2048 30/512 100 60 40 5 3 12 250 9 0 2 1500"
assert_eq "$(echo "$line" | dedup_parse_status | grep '^data_total=')" \
	data_total=2048 "parsed data_total"
assert_eq "$(echo "$line" | dedup_parse_status | grep '^longest_wait_us=')" \
	longest_wait_us=1500 "parsed longest_wait_us"
assert_eq "$(echo "$line" | dedup_parse_status | grep '^needs_check=')" \
	needs_check=- "parsed needs_check"
if echo "0 8 dedup rw -" | dedup_parse_status >/dev/null 2>&1; then
	fail "a short status line was accepted"
fi

# dedup_teardown: a registered device is removed and its metadata checked;
# a checker failure fails the teardown and shows the checker's output.
mkdir -p /tmp/fakebin
printf '#!/bin/sh\necho "fake checker: refcount mismatch on $1"\nexit 3\n' \
	> /tmp/fakebin/dedup_check
chmod +x /tmp/fakebin/dedup_check
dm_create fake "0 64 linear /dev/ram1 0"
echo "fake /dev/ram0" >> "$DEDUP_REG"
out=$( (PATH=/tmp/fakebin:$PATH; dedup_teardown) 2>&1) && fail "teardown passed"
assert_match "$out" 'fake checker: refcount mismatch on /dev/ram0' "checker output"
if dmsetup info fake >/dev/null 2>&1; then fail "registered device not removed"; fi
[ ! -e "$DEDUP_REG" ] || fail "registry not cleared"
