#!/bin/bash
# dedup_check and dedup_dump on metadata images the module wrote (committed
# fixtures, one per hash, see fixtures/README): clean, counters consistent
# with a dump of every mapping, and each single corruption reported with
# its exact message.
# timeout: 300
. "$(dirname "$0")/common.inc"

cd "$W"
n=0
for fx in "$TOP"/tests/host/fixtures/module-meta-*.img.xz; do
	n=$((n + 1))
	h=${fx##*/module-meta-}
	h=${h%.img.xz}
	xz -dc "$fx" > clean.img
	check 0 clean.img
	sanitized 0 "$DUMP" --format json --mappings clean.img
	python3 - "$OUT" "$h" <<'PY' || fail "$h: json dump"
import json, sys
d = json.load(open(sys.argv[1]))
c, t, sb = d["counters"], d["trees"], d["superblock"]
assert sb["hash"] == sys.argv[2], sb
assert t["lbn"]["entries"] == c["nr_mapped"] + c["nr_zero"]
assert t["refcount"]["entries"] == c["nr_unique"]
assert t["index"]["entries"] == c["nr_indexed"]
counts = {}
for m in d["mappings"]:
    if m["pbn"] is not None:
        counts[m["pbn"]] = counts.get(m["pbn"], 0) + 1
assert len(counts) == c["nr_unique"]
for r in d["refcounts"]:
    assert counts[r["pbn"]] == r["count"], r
for e in d["index"]:
    assert int(e["key"], 16) >> 16 == int(e["fp"][:12], 16), e
    assert len(e["fp"]) == 2 * sb["fp_size"]
PY
	corruption_suite clean.img
	echo "$h: ok"
done
[ $n = 3 ] || fail "expected 3 fixtures, found $n"
