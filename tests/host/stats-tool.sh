#!/bin/bash
# dedup_stats (tools/dedup_stats.c), built with ASan/UBSan, against a fake
# dmsetup: its table and JSON figures follow from the status and stats the
# fake reports (logical = mapped x block size, physical = data used x block
# size, saved = the difference); it reads figures by name whatever their
# order and passes unknown stats keys through; without the stats message
# it falls back to status positions and the table's block size; it lists
# only dedup devices, quotes odd names, shows needs_check, and fails (exit
# 1) on a device that is missing or not a dedup device. --prometheus is
# checked by a strict validator of the text exposition format (HELP and
# TYPE once per family and before its samples, families contiguous, names,
# label escaping, counters named *_total, no duplicate series; promtool
# check metrics too when the host has it) and its every series against
# the values the fake implies. The guest test 33-stats-tool.sh checks it
# against the real target.
# timeout: 120
set -eu
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
W=$(mktemp -d "${TMPDIR:-/tmp}/stats-tool.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export ASAN_OPTIONS=exitcode=99:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:exitcode=98:print_stacktrace=1

STATS=$TOP/tools/asan/dedup_stats
make -s -C "$TOP/tools" asan/dedup_stats >"$W/build.log" 2>&1 ||
	{ cat "$W/build.log"; fail "cannot build dedup_stats"; }

# The fake dmsetup answers from $FAKE: ls (one name a line), NAME.status,
# NAME.stats and NAME.table; a missing file is a failing command. It logs
# each device name it is given, to check the quoting.
mkdir -p "$W/bin" "$W/fake"
cat > "$W/bin/dmsetup" <<'EOF'
#!/bin/bash
f=$FAKE
case $1 in
ls)	[ "$2 $3" = "--target dedup" ] || { echo "fake: bad ls $*" >&2; exit 1; }
	if [ -s "$f/ls" ]; then
		while IFS= read -r n; do printf '%s\t(253:%d)\n' "$n" $((i++)); done < "$f/ls"
	else
		echo "No devices found"
	fi ;;
status|table)
	printf '%s\n' "$2" >> "$f/names"
	[ -f "$f/$2.$1" ] || { echo "Device does not exist." >&2; exit 1; }
	cat "$f/$2.$1" ;;
message)
	[ "$3 $4" = "0 stats" ] || { echo "fake: bad message $*" >&2; exit 1; }
	[ -f "$f/$2.stats" ] || { echo "device-mapper: message ioctl failed" >&2; exit 1; }
	cat "$f/$2.stats" ;;
*)	echo "fake: unknown command $*" >&2; exit 1 ;;
esac
EOF
chmod +x "$W/bin/dmsetup"
export FAKE=$W/fake PATH=$W/bin:$PATH

# mkdev NAME BS MODE NEEDS_CHECK DATA_USED DATA_TOTAL MAPPED HITS ZERO
#       COMMITS LONGEST_COMMIT_MS BP_WAITS LONGEST_WAIT_US: a fake dedup device
#       (unique = data used), its status line, stats message and table.
mkdev() {
	local n=$1 bs=$2 mode=$3 nc=$4 du=$5 dt=$6 map=$7 hits=$8 zero=$9
	local com=${10} lc=${11} bpw=${12} lw=${13} ncs=-
	[ "$nc" = 0 ] || ncs=needs_check
	echo "0 $((dt * 4 * bs / 512)) dedup $mode $ncs 7 $du/$dt 40/2048 $map $du $hits $zero $com 3 $lc 5 0 $bpw $lw" \
		> "$FAKE/$n.status"
	echo "0 $((dt * 4 * bs / 512)) dedup 254:0 254:1 $bs sha256 2 commit_period_ms 500" \
		> "$FAKE/$n.table"
	cat > "$FAKE/$n.stats" <<EOS
mode=$mode
needs_check=$nc
transaction_id=7
data_block_size=$bs
data_used_blocks=$du
data_total_blocks=$dt
data_allocatable_blocks=$((dt - du))
metadata_used_blocks=40
metadata_total_blocks=2048
mapped_blocks=$map
unique_blocks=$du
dedup_hits=$hits
zero_blocks=$zero
zero_writes=$zero
commits=$com
last_commit_ms=3
longest_commit_ms=$lc
last_commit_blocks=5
commit_in_flight=0
backpressure_waits=$bpw
longest_wait_us=$lw
EOS
}

# run RC ARGS...: run dedup_stats; its exit status must be RC; no sanitizer
# report. Output in $W/out, errors in $W/err.
run() {
	local want=$1 rc=0
	shift
	: > "$FAKE/names"
	"$STATS" "$@" >"$W/out" 2>"$W/err" || rc=$?
	if grep -Eq 'Sanitizer|runtime error:' "$W/err"; then
		cat "$W/err"
		fail "sanitizer report: dedup_stats $*"
	fi
	[ "$rc" = "$want" ] || { cat "$W/out" "$W/err"; fail "exit status $rc, expected $want: dedup_stats $*"; }
}

# check_json: the JSON output is valid and each device's figures follow from
# its fake files (python3 reads the same status/stats the tool was given).
check_json() {
	python3 - "$W/out" "$FAKE" "$@" <<'PY' || { cat "$W/out"; fail "JSON figures: $*"; }
import json, sys
doc = json.load(open(sys.argv[1]))
fake = sys.argv[2]
want_names = sys.argv[3:]
devs = doc["devices"]
assert [d["name"] for d in devs] == want_names, [d["name"] for d in devs]
ver = open(fake + "/../VERSION").read().strip()
assert doc["version"] == ver, doc["version"]
for d in devs:
    st = open("%s/%s.status" % (fake, d["name"])).read().split()[3:]
    w = []
    for x in st:
        w += x.split("/")
    bs = int(open("%s/%s.table" % (fake, d["name"])).read().split()[5])
    used, total, mapped = int(w[3]), int(w[4]), int(w[7])
    exp = {
        "mode": w[0], "needs_check": w[1] == "needs_check", "block_size": bs,
        "logical_used_bytes": mapped * bs, "physical_used_bytes": used * bs,
        "physical_size_bytes": total * bs,
        "saved_bytes": max(mapped - used, 0) * bs,
        "dedup_hits": int(w[9]), "zero_blocks": int(w[10]), "commits": int(w[11]),
        "longest_commit_ms": int(w[13]), "backpressure_waits": int(w[16]),
        "longest_wait_us": int(w[17]),
    }
    for k, v in exp.items():
        assert d[k] == v, (d["name"], k, d[k], v)
    pct = 100.0 * exp["saved_bytes"] / exp["logical_used_bytes"] if mapped else 0.0
    assert abs(d["saved_percent"] - pct) <= 0.05, (d["saved_percent"], pct)
    try:
        lines = open("%s/%s.stats" % (fake, d["name"])).read().split("\n")
    except FileNotFoundError:
        lines = []
    kv = dict(l.split("=", 1) for l in lines if "=" in l)
    assert d["source"] == ("stats" if kv else "status"), d["source"]
    assert set(d["stats"]) == set(kv), (sorted(d["stats"]), sorted(kv))
    for k, v in kv.items():
        assert str(d["stats"][k]) == v, (k, d["stats"][k], v)
print("json ok:", " ".join(want_names))
PY
}

# check_prom NAME...: $W/out is valid text exposition format, and holds
# exactly the series the fake files of the devices NAME... imply.
check_prom() {
	python3 - "$W/out" "$FAKE" "$@" <<'PY' || { cat "$W/out"; fail "--prometheus: $*"; }
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
fake, names = sys.argv[2], sys.argv[3:]
assert text == "" or text.endswith("\n"), "no final newline"
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
help_, type_, order, series = {}, {}, [], {}
for n, line in enumerate(text.split("\n")[:-1], 1):
    where = "line %d: %r" % (n, line)
    m = re.fullmatch(r"# (HELP|TYPE) (%s) (.*)" % NAME, line)
    if m:
        kind, fam, rest = m.groups()
        d = help_ if kind == "HELP" else type_
        assert fam not in d, "second %s of %s, %s" % (kind, fam, where)
        assert fam not in order, "%s after samples of %s, %s" % (kind, fam, where)
        if kind == "TYPE":
            assert fam in help_, "TYPE before HELP, " + where
            assert rest in ("gauge", "counter"), where
            assert (rest == "counter") == fam.endswith("_total"), \
                "counters and only counters end in _total, " + where
        else:
            assert rest and "\\" not in rest, where
        d[fam] = rest
        continue
    assert not line.startswith("#"), where
    m = re.fullmatch(r"(%s)\{(.*)\} (\S+)" % NAME, line)
    assert m, "not a sample, " + where
    fam, labels, value = m.groups()
    assert fam.startswith("dm_dedup_"), where
    assert fam in type_, "sample before its TYPE, " + where
    if not order or order[-1] != fam:
        assert fam not in order, "family %s not contiguous, %s" % (fam, where)
        order.append(fam)
    float(value)
    assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value), "odd value, " + where
    lab, i = {}, 0
    while i < len(labels):
        m = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="').match(labels, i)
        assert m, "bad label at %d, %s" % (i, where)
        i, v = m.end(), ""
        while labels[i] != '"':
            if labels[i] == "\\":
                esc = labels[i + 1]
                assert esc in '\\"n', "bad escape, " + where
                v += "\n" if esc == "n" else esc
                i += 2
            else:
                assert labels[i] != "\n", where
                v += labels[i]
                i += 1
        assert m.group(1) not in lab, "label twice, " + where
        lab[m.group(1)] = v
        i += 1
        if i < len(labels):
            assert labels[i] == ",", where
            i += 1
    key = (fam, tuple(sorted(lab.items())))
    assert key not in series, "duplicate series, " + where
    series[key] = value
assert set(help_) == set(type_) == set(order), "a family without samples"

want = {}
def put(fam, dev, v, **extra):
    lab = dict(extra, device=dev)
    want[("dm_dedup_" + fam, tuple(sorted(lab.items())))] = v
for dev in names:
    st = open("%s/%s.status" % (fake, dev)).read().split()[3:]
    w = []
    for x in st:
        w += x.split("/")
    try:
        kv = dict(l.split("=", 1) for l in open("%s/%s.stats" % (fake, dev)).read().split("\n") if "=" in l)
    except FileNotFoundError:
        kv = {}
    bs = int(open("%s/%s.table" % (fake, dev)).read().split()[5])
    mode = w[0]
    modes = ["rw", "out_of_data_space", "out_of_metadata_space", "ro", "fail"]
    for m in modes + ([mode] if mode not in modes else []):
        put("mode", dev, "1" if m == mode else "0", mode=m)
    put("needs_check", dev, "1" if w[1] == "needs_check" else "0")
    if "index_state" in kv:
        states = ["ready", "loading", "rebuilding"]
        for s in states + ([kv["index_state"]] if kv["index_state"] not in states else []):
            put("index_state", dev, "1" if s == kv["index_state"] else "0", state=s)
    i = lambda k: int(w[k])
    du, dt, mu, mt, mapped = i(3), i(4), i(5), i(6), i(7)
    for fam, v in (("block_size_bytes", bs), ("data_used_bytes", du * bs),
                   ("data_size_bytes", dt * bs), ("metadata_used_bytes", mu * 4096),
                   ("metadata_size_bytes", mt * 4096),
                   ("logical_used_bytes", mapped * bs),
                   ("saved_bytes", max(mapped - du, 0) * bs),
                   ("zero_blocks", i(10)), ("hits_total", i(9)),
                   ("commits_total", i(11)), ("transaction_id", i(2)),
                   ("last_commit_seconds", "%.3f" % (i(12) / 1e3)),
                   ("longest_commit_seconds", "%.3f" % (i(13) / 1e3)),
                   ("last_commit_blocks", i(14)), ("commit_in_flight", i(15)),
                   ("backpressure_waits_total", i(16)),
                   ("longest_backpressure_wait_seconds", "%.6f" % (i(17) / 1e6))):
        put(fam, dev, str(v))
    for fam, k in (("zero_writes_total", "zero_writes"),
                   ("index_entries", "index_entries"),
                   ("index_ram_bytes", "index_ram_bytes")):
        if k in kv:
            put(fam, dev, kv[k])
missing = sorted(set(want) - set(series))
extra = sorted(set(series) - set(want))
assert not missing and not extra, ("missing", missing, "extra", extra)
for k, v in want.items():
    assert series[k] == v, (k, series[k], v)
print("prometheus ok: %d series, %d families" % (len(series), len(order)))
PY
	if command -v promtool >/dev/null; then
		promtool check metrics < "$W/out" || fail "promtool check metrics"
	fi
}

# row NAME: the table row of NAME, as words.
row() { awk -v n="$1" '$1 == n' "$W/out"; }

cp "$TOP/VERSION" "$W/VERSION"

# ---- two devices, listed; a non-dedup device is not listed --------------
mkdev alpha 4096 rw 0 64 1000 256 192 32 4 17 0 0
mkdev beta 65536 rw 0 1000 5000 3500 2500 9 120 4321 6 250000
printf '%s\n' alpha beta > "$FAKE/ls"
echo "0 2048 linear 254:0 0" > "$FAKE/lin.status"
run 0 --json
check_json alpha beta
run 0
head -n 1 "$W/out" | grep -q '^Device  *Mode  *Logical-used  *Physical-used  *Saved  *Saved%  *Dedup-hits  *Zero-blocks  *Commits  *Longest-commit  *Longest-wait$' ||
	{ cat "$W/out"; fail "table header"; }
[ "$(wc -l < "$W/out")" = 3 ] || { cat "$W/out"; fail "table: expected a header and 2 rows"; }
# alpha: 256 mapped, 64 used, 4096 bytes: saved 192 blocks = 75 %
exp="alpha rw $((256 * 4096)) $((64 * 4096)) $((192 * 4096)) 75.0% 192 32 4 17ms 0us"
[ "$(row alpha | tr -s ' ')" = "$exp" ] || { cat "$W/out"; fail "alpha row: want '$exp'"; }
exp="beta rw $((3500 * 65536)) $((1000 * 65536)) $((2500 * 65536)) 71.4% 2500 9 120 4321ms 250000us"
[ "$(row beta | tr -s ' ')" = "$exp" ] || { cat "$W/out"; fail "beta row: want '$exp'"; }
echo "ok: table and JSON of two devices"

# ---- --prometheus: the format, and every value -------------------------
printf 'index_state=rebuilding\nindex_entries=5\nindex_ram_bytes=35\n' >> "$FAKE/beta.stats"
run 0 --prometheus
check_prom alpha beta
# a few values spelled out, not only derived by the checker
for l in 'dm_dedup_mode{device="alpha",mode="rw"} 1' \
	 'dm_dedup_mode{device="alpha",mode="ro"} 0' \
	 'dm_dedup_index_state{device="beta",state="rebuilding"} 1' \
	 'dm_dedup_index_state{device="beta",state="ready"} 0' \
	 'dm_dedup_data_used_bytes{device="alpha"} 262144' \
	 'dm_dedup_data_size_bytes{device="alpha"} 4096000' \
	 'dm_dedup_metadata_size_bytes{device="beta"} 8388608' \
	 'dm_dedup_saved_bytes{device="alpha"} 786432' \
	 'dm_dedup_hits_total{device="beta"} 2500' \
	 'dm_dedup_longest_commit_seconds{device="beta"} 4.321' \
	 'dm_dedup_longest_backpressure_wait_seconds{device="beta"} 0.250000' \
	 '# TYPE dm_dedup_commits_total counter' \
	 '# TYPE dm_dedup_data_used_bytes gauge'; do
	grep -Fxq "$l" "$W/out" || { cat "$W/out"; fail "--prometheus lacks: $l"; }
done
[ "$(grep -c '^# HELP dm_dedup_mode ' "$W/out")" = 1 ] || fail "--prometheus: HELP of mode not once"
grep -q 'index_state{device="alpha"' "$W/out" && fail "--prometheus: index_state of alpha, whose stats have none"
# the validator must be able to fail
for bad in 's/^\(dm_dedup_hits_total{device="alpha"}\) .*/\1 193/' \
	   's/^# TYPE dm_dedup_commits_total counter/# TYPE dm_dedup_commits_total gauge/' \
	   's/device="beta"/device="beta\\q"/' \
	   '/^# HELP dm_dedup_zero_blocks /p'; do
	cp "$W/out" "$W/good"
	sed -i "$bad" "$W/out"
	if (check_prom alpha beta) >/dev/null 2>&1; then fail "the validator passes a broken file ($bad)"; fi
	mv "$W/good" "$W/out"
done
run 2 --prometheus --json
echo "ok: --prometheus"

# ---- --human: powers of 1024, one decimal ------------------------------
run 0 --human alpha beta
exp=$(python3 -c '
def h(b):
    if b < 1024: return "%dB" % b
    v, u = float(b), -1
    while v >= 1024 and u < 5: v /= 1024; u += 1
    return "%.1f%s" % (v, "KMGTPE"[u])
for m, u, bs in ((256, 64, 4096), (3500, 1000, 65536)):
    print(h(m * bs), h(u * bs), h((m - u) * bs))')
got=$(awk 'NR > 1 { print $3, $4, $5 }' "$W/out")
[ "$got" = "$exp" ] || { cat "$W/out"; fail "--human sizes: want '$exp'"; }
grep -q '^alpha .* 1\.0M  *256\.0K  *768\.0K ' "$W/out" || { cat "$W/out"; fail "--human alpha"; }
echo "ok: --human"

# ---- named devices: order kept, /dev/mapper/ accepted, a bad one fails ----
run 1 --json beta /dev/mapper/alpha lin missing
check_json beta alpha
grep -q 'lin: not a dedup device' "$W/err" || { cat "$W/err"; fail "lin: no 'not a dedup device'"; }
grep -q 'missing: dmsetup status failed: Device does not exist' "$W/err" ||
	{ cat "$W/err"; fail "missing device message"; }
echo "ok: named devices, errors"

# ---- stats keys reordered, an unknown key added: same figures ------------
{ echo "future_field=42"; tac "$FAKE/alpha.stats"; echo "future_text=a b"; } > "$W/s"
mv "$W/s" "$FAKE/alpha.stats"
run 0 --json alpha
check_json alpha
for k in '"future_field": 42' '"future_text": "a b"'; do
	grep -qF "$k" "$W/out" || { cat "$W/out"; fail "unknown stats key not passed through: $k"; }
done
echo "ok: stats read by name, unknown keys passed through"

# ---- figures the stats message lacks come from status and the table ------
grep -v -e '^dedup_hits=' -e '^data_block_size=' "$FAKE/beta.stats" > "$W/s"
mv "$W/s" "$FAKE/beta.stats"
# a stats message that disagrees would show: the status has other hits
sed -i 's/^\(\([^ ]* \)\{10\}\)2500 /\12499 /' "$FAKE/beta.status"
run 0 --json beta
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["devices"][0]
assert d["dedup_hits"] == 2499 and d["block_size"] == 65536, d' "$W/out" ||
	{ cat "$W/out" "$FAKE/beta.status"; fail "fallback of missing keys"; }
# no stats message at all: everything from status (source "status")
rm "$FAKE/beta.stats"
run 0 --json beta
check_json beta
echo "ok: fallback to status positions and the table"

# ---- needs_check, ro mode; odd names are quoted -------------------------
mkdev "it's x" 4096 ro 1 0 100 0 0 0 1 2 0 0
run 0 "it's x"
grep -Fxq "it's x" "$FAKE/names" || { cat "$FAKE/names"; fail "name not passed verbatim"; }
row "it's" | grep -q ' ro,needs_check .* 0\.0% ' || { cat "$W/out"; fail "ro,needs_check row"; }
run 0 --json "it's x"
check_json "it's x"
echo "ok: needs_check, quoting"
# label escaping: backslash, double quote, newline
nl='x
y'
for n in 'a"b\c' "$nl"; do
	mkdev "$n" 4096 out_of_metadata_space 1 3 100 5 2 0 1 2 0 0
done
printf 'index_state=warming\n' >> "$FAKE/$nl.stats"
run 0 --prometheus "it's x" 'a"b\c' "$nl"
check_prom "it's x" 'a"b\c' "$nl"
for l in 'dm_dedup_needs_check{device="a\"b\\c"} 1' \
	 'dm_dedup_mode{device="x\ny",mode="out_of_metadata_space"} 1' \
	 'dm_dedup_index_state{device="x\ny",state="warming"} 1' \
	 'dm_dedup_mode{device="it'"'"'s x",mode="ro"} 1'; do
	grep -Fxq "$l" "$W/out" || { cat "$W/out"; fail "--prometheus lacks: $l"; }
done
echo "ok: --prometheus label escaping"

# ---- no dedup devices; usage ----------------------------------------------
: > "$FAKE/ls"
run 0 --json
check_json
run 0 --prometheus
[ ! -s "$W/out" ] || fail "--prometheus without devices: output"
run 0
grep -q 'no dedup devices' "$W/err" || fail "no devices: no message"
run 2 --bogus
run 0 --version
grep -qx "dedup_stats $(cat "$TOP/VERSION")" "$W/out" || { cat "$W/out"; fail "--version"; }
echo "ok: no devices, usage, version"
