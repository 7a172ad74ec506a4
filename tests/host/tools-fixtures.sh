#!/bin/bash
# dedup_check and dedup_dump on metadata images the module wrote (committed
# fixtures, one per hash, see fixtures/README): clean, counters consistent
# with a dump of every mapping, a dump -> restore round trip that checks
# clean, and each single corruption reported with its exact message.
# Fixtures of metadata version 1 (written before the v2 format) must be
# refused with the version message; while every fixture is version 1 the
# rest is skipped: regenerate them as fixtures/README says.
# timeout: 300
. "$(dirname "$0")/common.inc"

cd "$W"
n=0 v1=0
for fx in "$TOP"/tests/host/fixtures/module-meta-*.img.xz; do
	n=$((n + 1))
	h=${fx##*/module-meta-}
	h=${h%.img.xz}
	xz -dc "$fx" > clean.img
	if [ "$(od -An -j 40 -N 4 -t u4 clean.img | tr -d ' ')" = 1 ]; then
		check 2 clean.img
		expect "^error: block 0 \(superblock\): metadata version 1: "
		v1=$((v1 + 1))
		continue
	fi
	check 0 clean.img
	sanitized 0 "$DUMP" --format json --mappings clean.img
	python3 - "$OUT" "$h" <<'PY' || fail "$h: json dump"
import json, sys
d = json.load(open(sys.argv[1]))
c, a, sb = d["counters"], d["arrays"], d["superblock"]
assert sb["hash"] == sys.argv[2], sb
assert a["lbn"]["entries"] == c["nr_mapped"] + c["nr_zero"]
assert a["refcount"]["entries"] == c["nr_unique"]
# with DEDUP_INCOMPAT_STALE_FP free blocks may keep a fingerprint
stale = a["fp"]["entries"] - c["nr_unique"]
assert stale >= 0 if sb["incompat_flags"] & 2 else stale == 0, (c, a)
counts = {}
for m in d["lbns"]:
    if m["pbn"] is not None:
        counts[m["pbn"]] = counts.get(m["pbn"], 0) + 1
assert counts == {p["pbn"]: p["count"] for p in d["pbns"]}
assert all(len(p["fp"]) == 2 * sb["fp_size"] for p in d["pbns"])
PY
	cp "$OUT" a.json
	sanitized 0 "$RESTORE" -q -i a.json -o r.img
	check 0 r.img
	NO_INTERNAL=1 corruption_suite clean.img
	echo "$h: ok"
done
[ $n = 3 ] || fail "expected 3 fixtures, found $n"
[ $v1 = 0 ] || [ $v1 = $n ] || fail "some fixtures are version 1, some not: regenerate all"
[ $v1 = 0 ] || skip "the $n fixtures are metadata version 1 (refused as they must be); regenerate them for version 2 (fixtures/README)"
echo "tools-fixtures: all passed"
