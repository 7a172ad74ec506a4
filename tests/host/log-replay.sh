#!/bin/bash
# tests/tools/log-replay against logs written here in dm-log-writes' format
# (drivers/md/dm-log-writes.c): check/list/points print what the log holds;
# replaying to every entry, every FLUSH/FUA point and a mark gives exactly
# the image a model computes, and --pair cuts the second log at the matching
# mark; every kind of damage (magic, version, sector size, entry count,
# truncation, flags, marks, a write beyond the target) fails cleanly with
# status 1 and a message naming it, under ASan/UBSan.
# timeout: 120
set -eu
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
W=$(mktemp -d "${TMPDIR:-/tmp}/log-replay.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

SRC=$TOP/tests/tools/log-replay.c
LR=$W/log-replay
cc -Wall -Wextra -Werror -O1 -g -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=all \
	-D'__printf(a,b)=__attribute__((format(printf,a,b)))' \
	-D'__noreturn=__attribute__((noreturn))' -o "$LR" "$SRC" ||
	fail "cannot build $SRC with sanitizers"
export ASAN_OPTIONS=exitcode=99:detect_leaks=0
export UBSAN_OPTIONS=halt_on_error=1:exitcode=98

# mklog.py OUT SPEC...: a log of the given entries. SPEC words:
#   w:SECTOR:NR:BYTE   a write of NR sectors filled with BYTE (decimal)
#   f  (empty FLUSH)   u:SECTOR:NR:BYTE  (FUA write)   d:SECTOR:NR  (discard)
#   m:NAME (mark)      M:SECTOR:NR:BYTE  (a write with the META flag)
#   F:SECTOR:NR:BYTE   (a FLUSH carrying data)
# --ss N sets the sector size (default 512); --nr N overrides the count.
cat > "$W/mklog.py" <<'PY'
import struct, sys
args = sys.argv[1:]
out = args.pop(0)
ss, nr_override = 512, None
while args and args[0].startswith('--'):
    k, v = args.pop(0), args.pop(0)
    if k == '--ss': ss = int(v)
    if k == '--nr': nr_override = int(v)
FLUSH, FUA, DISCARD, MARK, META = 1, 2, 4, 8, 16
body = b''
n = 0
for spec in args:
    p = spec.split(':')
    kind = p[0]
    if kind == 'm':
        name = p[1].encode()
        hdr = struct.pack('<QQQQ', 0, 0, MARK, len(name)) + name
        body += hdr.ljust(ss, b'\0')
    elif kind == 'f':
        body += struct.pack('<QQQQ', 0, 0, FLUSH, 0).ljust(ss, b'\0')
    elif kind == 'd':
        body += struct.pack('<QQQQ', int(p[1]), int(p[2]), DISCARD, 0).ljust(ss, b'\0')
    else:
        flags = {'w': 0, 'u': FUA, 'M': META, 'F': FLUSH}[kind]
        sec, nrs, byte = int(p[1]), int(p[2]), int(p[3])
        body += struct.pack('<QQQQ', sec, nrs, flags, 0).ljust(ss, b'\0')
        body += bytes([byte]) * (nrs * ss)
    n += 1
sup = struct.pack('<QQQI', 0x6a736677736872, 1,
                  n if nr_override is None else nr_override, ss)
with open(out, 'wb') as f:
    f.write(sup.ljust(ss, b'\0') + body)
PY
# model.py OUT SIZE UPTO SPEC...: the image after entries 1..UPTO.
cat > "$W/model.py" <<'PY'
import sys
out, size, upto = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
img = bytearray(size)
for i, spec in enumerate(sys.argv[4:4 + upto]):
    p = spec.split(':')
    if p[0] in ('m', 'f'):
        continue
    sec, nrs = int(p[1]), int(p[2])
    byte = 0 if p[0] == 'd' else int(p[3])
    img[sec * 512:(sec + nrs) * 512] = bytes([byte]) * (nrs * 512)
open(out, 'wb').write(img)
PY
mklog() { python3 "$W/mklog.py" "$@"; }

# run RC ARGS...: log-replay ARGS; its status must be RC; output in $W/out.
run() {
	local want=$1 rc=0
	shift
	"$LR" "$@" >"$W/out" 2>&1 || rc=$?
	if grep -Eq 'Sanitizer|runtime error' "$W/out"; then
		cat "$W/out"
		fail "sanitizer report from log-replay $*"
	fi
	[ "$rc" = "$want" ] || { cat "$W/out"; fail "log-replay $*: status $rc, expected $want"; }
}
expect() {
	grep -Eq -- "$1" "$W/out" || { cat "$W/out"; fail "expected /$1/ in the output of log-replay"; }
}

SPEC=(w:0:8:1 w:8:8:2 f m:s0 w:16:4:3 d:0:4 u:100:2:4 M:8:1:5 m:s1 F:200:8:6
	w:0:1:7 f m:s1 w:300:8:8 m:end)
mklog "$W/a.log" "${SPEC[@]}"
run 0 check "$W/a.log"
expect '15 entries: 8 writes \(20480 bytes\)'
expect '1 discards, 3 flushes, 1 fua, 4 marks; 4 flush/fua points'
run 0 list "$W/a.log"
diff -u - "$W/out" <<'LIST' || fail "list output"
1 WRITE 0 8
2 WRITE 8 8
3 FLUSH 0 0
4 MARK s0
5 WRITE 16 4
6 DISCARD 0 4
7 WRITE|FUA 100 2
8 WRITE|META 8 1
9 MARK s1
10 WRITE|FLUSH 200 8
11 WRITE 0 1
12 FLUSH 0 0
13 MARK s1
14 WRITE 300 8
15 MARK end
LIST
run 0 points "$W/a.log"
diff -u - "$W/out" <<'POINTS' || fail "points output"
1 3 FLUSH s0
2 7 WRITE|FUA s1
3 10 WRITE|FLUSH s1
4 12 FLUSH s1
POINTS
run 0 points --count "$W/a.log"
[ "$(cat "$W/out")" = 4 ] || fail "points --count: $(cat "$W/out")"

SIZE=$((512 * 512))
image() {	# UPTO: the model's image after UPTO entries, in $W/want
	python3 "$W/model.py" "$W/want" "$SIZE" "$1" "${SPEC[@]}"
}
fresh() { rm -f "$W/t"; truncate -s "$SIZE" "$W/t"; }
for n in $(seq 0 15); do
	fresh
	run 0 replay "$W/a.log" "$W/t" --to-entry "$n"
	expect "entries 1-$n of 15 \\(to entry $n\\)"
	image "$n"
	cmp -s "$W/t" "$W/want" || fail "replay to entry $n differs from the model"
done
points=(3 7 10 12)
for p in 1 2 3 4; do
	fresh
	run 0 replay "$W/a.log" "$W/t" --to-point "$p"
	image "${points[$((p - 1))]}"
	cmp -s "$W/t" "$W/want" || fail "replay to point $p differs from the model"
done
fresh
run 0 replay "$W/a.log" "$W/t" --to-mark s1
expect 'entries 1-9 of 15 \(to mark s1\).*5 writes, 11776 bytes, 1 discards'
image 9
cmp -s "$W/t" "$W/want" || fail "replay to mark s1 differs from the model"
fresh
run 0 replay "$W/a.log" "$W/t"
image 15
cmp -s "$W/t" "$W/want" || fail "replay of the whole log differs from the model"
# --discard skip leaves what was there.
fresh
run 0 replay "$W/a.log" "$W/t" --to-entry 6 --discard skip
image 5
cmp -s "$W/t" "$W/want" || fail "--discard skip replayed the discard"

# --pair: the second log is cut at the mark that follows the cut in the
# first, counting marks of the same name.
SPEC2=(w:0:2:9 m:s0 w:2:2:10 f m:s1 w:4:2:11 f m:s1 w:6:2:12 m:end)
mklog "$W/b.log" "${SPEC2[@]}"
pair() {	# CUT-ARGS... -- EXPECTED-UPTO-IN-B
	local args=() want
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	want=$2
	fresh
	rm -f "$W/t2"
	truncate -s "$SIZE" "$W/t2"
	run 0 replay "$W/a.log" "$W/t" "${args[@]}" --pair "$W/b.log" "$W/t2"
	python3 "$W/model.py" "$W/want2" "$SIZE" "$want" "${SPEC2[@]}"
	cmp -s "$W/t2" "$W/want2" || { cat "$W/out"; fail "--pair with ${args[*]}: second log not cut after entry $want"; }
	expect "b.log: entries 1-$want of 10"
}
pair --to-point 1 -- 2
pair --to-point 2 -- 5
pair --to-point 3 -- 8
pair --to-point 4 -- 8
pair --to-entry 13 -- 8
pair --to-entry 14 -- 10
pair --to-mark s0 -- 2
run 1 replay "$W/a.log" "$W/t" --to-point 1 --pair "$W/a.log.none" "$W/t2"
expect 'a.log.none: No such file'
mklog "$W/c.log" w:0:1:1 m:other
run 1 replay "$W/a.log" "$W/t" --to-point 1 --pair "$W/c.log" "$W/t2"
expect "no mark 's0' \\(number 1\\) to pair with entry 4"

# Usage errors: status 2.
run 2 replay "$W/a.log" "$W/t" --to-point 1 --to-entry 2
run 2 replay "$W/a.log" "$W/t" --to-point x
run 2 replay "$W/a.log" "$W/t" --to-point 0
run 2 replay "$W/a.log" "$W/t" --discard maybe
run 2 replay "$W/a.log" "$W/t" --pair "$W/b.log"
run 2 frobnicate "$W/a.log"
run 1 replay "$W/a.log" "$W/t" --to-point 5
expect 'the log has 4 flush/fua points'
run 1 replay "$W/a.log" "$W/t" --to-entry 16
run 1 replay "$W/a.log" "$W/t" --to-mark nowhere
expect "no mark 'nowhere'"

# Damage: status 1, one precise message each, and nothing written.
damage() {	# WHAT REGEX COMMAND-TO-DAMAGE-$W/d.log
	local what=$1 re=$2
	shift 2
	cp "$W/a.log" "$W/d.log"
	"$@"
	fresh
	run 1 replay "$W/d.log" "$W/t"
	expect "$re"
	cmp -s "$W/t" <(head -c "$SIZE" /dev/zero) || fail "$what: the target was written"
	run 1 check "$W/d.log"
	expect "$re"
	echo "ok: $what"
}
poke() {	# OFFSET HEXBYTES: overwrite bytes of $W/d.log
	local hex=$2 bytes=
	while [ -n "$hex" ]; do
		bytes+="\\x${hex:0:2}"
		hex=${hex:2}
	done
	printf '%b' "$bytes" | dd of="$W/d.log" bs=1 seek="$1" conv=notrunc status=none
}
damage "bad magic" 'not a dm-log-writes log \(magic 0x6a736677736873' poke 0 73
damage "bad version" 'log version 2, this tool reads 1' poke 8 02
damage "bad sector size" 'sector size 768 is not a power of two' poke 24 0003
damage "entry count too big" 'the super counts 4096 entries, the log has room for [0-9]+ at most' poke 16 0010
damage "truncated" 'entry 14 \(byte 23552\): 8 sectors of data, the log ends 5 sectors later' \
	truncate -s -2048 "$W/d.log"
damage "cut at a header" 'entry 15 \(byte 28160\): beyond the end of the log \(28416 bytes' \
	truncate -s -256 "$W/d.log"
# Entry 2's header is at byte 512 + 9 * 512.
H2=$((512 + 9 * 512))
damage "unknown flags" 'entry 2 \(byte 5120\): unknown flags 0x40: log damaged' poke $((H2 + 16)) 40
damage "empty entry" 'entry 2 \(byte 5120\): a write of no sectors' poke $((H2 + 8)) 00
damage "inline data" 'entry 2 \(byte 5120\): 3 bytes of inline data outside a mark' poke $((H2 + 24)) 03
damage "discard with fua" 'a discard with FLUSH or FUA' poke $((H2 + 16)) 06
damage "mark with sectors" 'entry 2 \(byte 5120\): a mark with 8 sectors' poke $((H2 + 16)) 08
damage "overflow" 'sector 18446744073709551615 \+ 8 overflows' poke "$H2" ffffffffffffffff
# Entry 4 (mark s0): a name with a NUL, and one too long for its sector.
H4=$((512 + 9 * 512 + 9 * 512 + 512))
damage "NUL in a mark" 'entry 4 \(byte [0-9]+\): a NUL inside the mark' poke $((H4 + 24)) 05
damage "long mark" 'entry 4 \(byte [0-9]+\): a mark of 480 bytes in a 512-byte sector' poke $((H4 + 24)) e001
run 1 check "$W/none.log"
expect 'none.log: No such file'
: > "$W/empty.log"
run 1 check "$W/empty.log"
expect '0 bytes, too small for a log'
# A write beyond the target: status 1, named.
rm -f "$W/t"
truncate -s 4096 "$W/t"
run 1 replay "$W/a.log" "$W/t"
expect 'entry 2 writes bytes 4096\.\.8191, beyond the end of .*/t \(4096 bytes\)'
cmp -s "$W/t" <(head -c 4096 /dev/zero) || fail "a replay that does not fit wrote something"
# ... and with --pair, neither target is written when the second does not fit.
fresh
run 1 replay "$W/a.log" "$W/t" --to-point 4 --pair "$W/b.log" "$W/t4k"
expect 'No such file'
rm -f "$W/t4k"
truncate -s 2048 "$W/t4k"
run 1 replay "$W/a.log" "$W/t" --to-point 4 --pair "$W/b.log" "$W/t4k"
expect 'b.log: entry 6 writes bytes 2048\.\.3071, beyond the end'
cmp -s "$W/t" <(head -c "$SIZE" /dev/zero) || fail "a paired replay that does not fit wrote the first target"

# Other sector sizes: 4096-byte log sectors.
mklog "$W/e.log" --ss 4096 w:1:2:7 f m:x
run 0 list "$W/e.log"
expect '^1 WRITE 1 2$'
rm -f "$W/t"
truncate -s 16384 "$W/t"
run 0 replay "$W/e.log" "$W/t"
expect '1 writes, 8192 bytes'
[ "$(od -An -tu1 -j 4096 -N 1 "$W/t" | tr -d ' ')" = 7 ] || fail "4096-byte sectors: wrong place"
[ "$(od -An -tu1 -j 4095 -N 1 "$W/t" | tr -d ' ')" = 0 ] || fail "4096-byte sectors: wrote too early"
echo "log-replay: all checks passed"
