#!/bin/bash
# dedup_check on metadata the module wrote: the clean image a VM test saved
# in the share passes (ASan, valgrind, --data-dev), each single corruption
# is reported with its exact message, truncation and random damage never
# crash the tools, and dedup_dump's counters agree with its tree walk.
#
# Input (from the guest suite): $VM_SHARE/clean-meta.img, a whole metadata
# device after dmsetup remove; optional $VM_SHARE/clean-data.img, its data
# device, and clean-meta.status, its last status as key=value lines.  Missing image: a failure when the VM suite ran in this run
# ($VM_SHARE/.harness exists), a skip otherwise (host tests run alone).
# timeout: 600
. "$(dirname "$0")/common.inc"

IMG=$VM_SHARE/clean-meta.img
DATA=$VM_SHARE/clean-data.img
if [ ! -f "$IMG" ]; then
	[ ! -d "$VM_SHARE/.harness" ] ||
		fail "the VM suite ran but saved no $IMG (a guest test must copy a clean metadata device to /share/clean-meta.img)"
	skip "no module-made image $IMG: run the VM suite first"
fi

cd "$W"
cp "$IMG" clean.img

# ---- the module's image is clean -----------------------------------------
if [ -f "$DATA" ]; then
	check 0 --data-dev "$DATA" clean.img
	expect "data: verified [0-9]+ of [0-9]+ blocks in use"
	[ "$(vg dedup_check --data-dev "$DATA" clean.img)" = 0 ] ||
		fail "valgrind: module image not clean"
else
	[ "$(vg dedup_check clean.img)" = 0 ] || fail "valgrind: module image not clean"
fi
check 0 clean.img
echo "module image: $(tail -n 1 "$OUT")"

sanitized 0 "$DUMP" --format json --mappings clean.img
cp "$OUT" a.json
python3 - "$OUT" <<'PY' || fail "json dump of the module image"
import json, sys
d = json.load(open(sys.argv[1]))
c, a = d["counters"], d["arrays"]
assert a["lbn"]["entries"] == c["nr_mapped"] + c["nr_zero"], (c, a)
assert a["refcount"]["entries"] == c["nr_unique"], (c, a)
# with DEDUP_INCOMPAT_STALE_FP free blocks may keep a fingerprint
stale = a["fp"]["entries"] - c["nr_unique"]
assert stale >= 0 if d["superblock"]["incompat_flags"] & 2 else stale == 0, (c, a)
assert len(d["lbns"]) == a["lbn"]["entries"]
assert sum(1 for m in d["lbns"] if m["pbn"] is None) == c["nr_zero"]
counts = {}
for m in d["lbns"]:
    if m["pbn"] is not None:
        counts[m["pbn"]] = counts.get(m["pbn"], 0) + 1
assert counts == {p["pbn"]: p["count"] for p in d["pbns"]}
assert c["nr_mapped"] > 0, "the saved image maps nothing"
print("module image: %d mapped, %d zero, %d unique; saved index: %s"
      % (c["nr_mapped"], c["nr_zero"], c["nr_unique"],
         "yes" if d["superblock"]["compat_flags"] & 1 else "no"))
PY
# dump -> restore: the restored image (no saved index) checks clean
sanitized 0 "$RESTORE" -q -i a.json -o r.img
check 0 r.img
sanitized 0 "$DUMP" clean.img

# the device's last status (key=value lines), if the guest saved it, must
# agree with the counters on disk
if [ -f "$VM_SHARE/clean-meta.status" ]; then
	sanitized 0 "$DUMP" --format json clean.img
	python3 - "$OUT" "$VM_SHARE/clean-meta.status" <<'PY' || fail "status vs metadata"
import json, sys
c = json.load(open(sys.argv[1]))["counters"]
st = dict(l.strip().split("=", 1) for l in open(sys.argv[2]) if "=" in l)
for key, field in (("mapped", "nr_mapped"), ("unique", "nr_unique"),
                   ("zero", "nr_zero")):
    if key in st:
        assert int(st[key]) == c[field], (key, st[key], field, c[field])
PY
fi

# ---- one corruption at a time ---------------------------------------------
NO_INTERNAL=1 corruption_suite clean.img

# needs_check round trip on a clean copy
cp clean.img c.img
"$CORRUPT" c.img sb-set flags 1
check 0 --clear-needs-check-flag c.img
expect "needs_check cleared"

# a damaged saved index is a cache the module rebuilds: a warning, not an
# error (the image still checks clean)
cp clean.img c.img
if "$CORRUPT" c.img save-shard-last > /dev/null; then
	check 0 c.img
	expect "warning.*shard [0-9]+ says [0-9]+ entries, its buckets hold"
else
	grep -q '"compat_flags": 0' a.json ||
		fail "the module image has a saved index, but ddcorrupt found no shard"
fi

# ---- truncated images and random damage -----------------------------------
used=$(( $("$DUMP" --format json clean.img | python3 -c \
	'import json,sys; print(json.load(sys.stdin)["metadata"]["used_blocks"])') ))
size=$(stat -c %s clean.img)
for s in 0 4095 4096 8192 $((used * 4096 / 2)) $(( (used - 1) * 4096)) $((size - 4096)); do
	[ "$s" -ge 0 ] || continue
	cp clean.img c.img
	truncate -s "$s" c.img
	check 1 c.img
	sanitized any "$DUMP" --format json --mappings c.img
done
cp clean.img c.img
truncate -s $(( (used - 1) * 4096 )) c.img
[ "$(vg dedup_check c.img)" = 1 ] || fail "valgrind: truncated module image"

for seed in $(seq 1 60); do
	cp clean.img c.img
	"$CORRUPT" c.img fuzz "$seed" $((1 + seed % 3)) >/dev/null
	sanitized any "$CHECK" c.img
	sanitized any "$DUMP" --format json --mappings c.img
done
echo "tools-module-image: all passed"
