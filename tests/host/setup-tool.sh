#!/bin/bash
# dedup_setup (tools/dedup_setup.c, ASan/UBSan build) against a fake
# dmsetup that keeps its devices in files and logs every call: the exact
# table line attach loads (features, block size and hash from the options
# or the superblock, the logical size), deduptab parsing (each bad line
# reported with its line number), UUID=/PARTUUID=/LABEL= resolution
# (under DEDUP_DEV_DIR), refusal of unformatted metadata without "format"
# and of a metadata device smaller than dedup_metadata_size's figure,
# detach, grow and status, and the generator's units and links (checked
# with systemd-escape and systemd-analyze verify when the host has them).
# The guest side (real dmsetup, real systemd) is not covered here.
# timeout: 300
. "$(dirname "$0")/common.inc"

cd "$W"
SETUP=$TOP/tools/asan/dedup_setup

# ---- the fake dmsetup -------------------------------------------------------
# State in $FAKE: NAME.table (active), NAME.inactive (loaded), NAME.status,
# NAME.stats; every call is logged to $FAKE/log, its arguments joined by
# '|'. FAKE_FAIL=CMD makes that command fail.
mkdir -p bin fake
cat > bin/dmsetup <<'EOF'
#!/bin/bash
f=$FAKE
(IFS='|'; echo "$*") >> "$f/log"
[ "${FAKE_FAIL:-}" != "$1" ] || { echo "fake: $1 failed" >&2; exit 1; }
gone() { echo "Device does not exist." >&2; exit 1; }
case $1 in
create)	[ "$3" = --table ] || { echo "fake: bad create $*" >&2; exit 1; }
	[ ! -f "$f/$2.table" ] || { echo "fake: $2 exists" >&2; exit 1; }
	echo "$4" > "$f/$2.table" ;;
remove)	[ "$2" = --retry ] || { echo "fake: bad remove $*" >&2; exit 1; }
	[ -f "$f/$3.table" ] || gone
	rm -f "$f/$3.table" ;;
table|status)
	[ -f "$f/$2.$1" ] || gone
	cat "$f/$2.$1" ;;
load)	[ -f "$f/$2.table" ] || gone
	echo "$4" > "$f/$2.inactive" ;;
suspend) [ -f "$f/$2.table" ] || gone ;;
resume)	[ -f "$f/$2.table" ] || gone
	[ ! -f "$f/$2.inactive" ] || mv "$f/$2.inactive" "$f/$2.table" ;;
message) [ -f "$f/$2.stats" ] || { echo "message ioctl failed" >&2; exit 1; }
	cat "$f/$2.stats" ;;
mknodes) ;;
ls)	n=0
	for t in "$f"/*.table; do
		[ -f "$t" ] || continue
		n=1
		t=${t##*/}
		printf '%s\t(253:0)\n' "${t%.table}"
	done
	[ $n = 1 ] || echo "No devices found" ;;
*)	echo "fake: unknown command $*" >&2; exit 1 ;;
esac
EOF
chmod +x bin/dmsetup
export FAKE=$W/fake PATH=$W/bin:$PATH
unset DEDUP_DEV_DIR
export DEDUPTAB=$W/none

# run RC ARGS...: dedup_setup ARGS, status RC, output in $OUT
run() {
	local want=$1
	shift
	: > "$FAKE/log"
	sanitized "$want" "$SETUP" "$@"
}
# logged LINE: the fake dmsetup was called with exactly these arguments
logged() {
	grep -Fxq -- "$1" "$FAKE/log" || { cat "$FAKE/log"; fail "dmsetup was not called as: $1"; }
}
not_logged() {
	if grep -Eq -- "$1" "$FAKE/log"; then cat "$FAKE/log"; fail "dmsetup called as /$1/"; fi
}

# ---- devices ----------------------------------------------------------------
# meta.img: formatted (ddgen) for a 16384-block data device; zero.img: not
# formatted; junk.img: neither; data.img: 64 MiB
generate meta.img --unique 100 --data-blocks 16384 -s 4M
truncate -s 64M data.img
truncate -s 4M zero.img
head -c 4096 /dev/urandom > junk.img
truncate -s 4M junk.img
M=$W/meta.img D=$W/data.img Z=$W/zero.img

# ---- attach: the table line ---------------------------------------------------
run 0 attach dd0 "$M" "$D"
logged "table|dd0"
logged "create|dd0|--table|0 131072 dedup $M $D 4096 sha256"
logged "mknodes|dd0"
expect "^dd0: attached: 0 131072 dedup "
# already active: nothing more
run 0 attach dd0 "$M" "$D"
expect "^dd0: already active"
not_logged "^create"
rm "$FAKE/dd0.table"

# every feature, in the order the target prints them, counted in words
run 0 attach dd1 "$Z" "$D" \
	format,verify,blocking_commit,no_discard_passdown,error_if_no_space,commit_period_ms=500,max_open_mb=128,nofail,noauto,x-systemd.device-timeout=10s
logged "create|dd1|--table|0 131072 dedup $Z $D 4096 sha256 8 commit_period_ms 500 max_open_mb 128 verify blocking_commit no_discard_passdown error_if_no_space"
expect "the target formats it"
rm "$FAKE/dd1.table"
# each alone
for f in verify blocking_commit no_discard_passdown error_if_no_space; do
	run 0 attach dd1 "$Z" "$D" "$f,format"
	logged "create|dd1|--table|0 131072 dedup $Z $D 4096 sha256 1 $f"
	rm "$FAKE/dd1.table"
done
run 0 attach dd1 "$Z" "$D" format,max_open_mb=4096
logged "create|dd1|--table|0 131072 dedup $Z $D 4096 sha256 2 max_open_mb 4096"
rm "$FAKE/dd1.table"
# block size and hash from the options; size= the logical size, rounded
# down to a block
truncate -s $((64 * 1048576 + 4096)) data2.img
run 0 attach dd1 "$Z" "$W/data2.img" format,block_size=8K,hash=xxhash64
logged "create|dd1|--table|0 131072 dedup $Z $W/data2.img 8192 xxhash64"
rm "$FAKE/dd1.table"
run 0 attach dd1 "$Z" "$D" format,size=1G,block_size=65536
logged "create|dd1|--table|0 2097152 dedup $Z $D 65536 sha256"
rm "$FAKE/dd1.table"
run 0 attach dd1 "$Z" "$D" format,size=100000
logged "create|dd1|--table|0 192 dedup $Z $D 4096 sha256"
rm "$FAKE/dd1.table"
# formatted metadata: its block size and hash are used, others refused
generate meta8.img --unique 10 --data-blocks 8192 --block-size 8192 --hash blake2b-256 -s 4M
run 0 attach dd1 "$W/meta8.img" "$D"
logged "create|dd1|--table|0 131072 dedup $W/meta8.img $D 8192 blake2b-256"
rm "$FAKE/dd1.table"
run 2 attach dd1 "$W/meta8.img" "$D" block_size=4096
expect "^dedup_setup: dd1: block_size=4096, but the metadata on $W/meta8.img is for 8192-byte blocks$"
run 2 attach dd1 "$W/meta8.img" "$D" hash=sha256
expect "^dedup_setup: dd1: hash=sha256, but the metadata on $W/meta8.img is for blake2b-256$"
not_logged "^create"
echo "ok: table lines"

# ---- attach: refusals -----------------------------------------------------------
run 2 attach dd1 "$Z" "$D"
expect "^dedup_setup: dd1: metadata device $Z has no dm-dedup superblock \(add \"format\" to format it\)$"
not_logged "^create"
run 2 attach dd1 "$W/junk.img" "$D" format
expect "^dedup_setup: dd1: metadata device $W/junk.img has no dm-dedup superblock and is not zeroed"
not_logged "^create"
cp meta.img bad.img
"$CORRUPT" bad.img flip 0 200
run 2 attach dd1 "$W/bad.img" "$D"
expect "superblock cannot be used"
expect "checksum mismatch"
truncate -s 60K tiny.img
run 2 attach dd1 "$Z" "$W/tiny.img" format
expect "^dedup_setup: dd1: data device $W/tiny.img has 61440 bytes, less than 16 blocks of 4096$"
run 2 attach dd1 "$W/missing.img" "$D" format
expect "missing.img"
run 2 attach dd1 "$Z" "$W/missing.img" format
expect "^dedup_setup: dd1: cannot open $W/missing.img$"
# the size check is dedup_metadata_size's figure, to the byte
need=$("$TOP/tools/dedup_metadata_size" -n -d 64M -l 64M)
truncate -s "$need" exact.img
run 0 attach dd1 "$W/exact.img" "$D" format
rm "$FAKE/dd1.table"
truncate -s $((need - 4096)) short.img
run 2 attach dd1 "$W/short.img" "$D" format
expect "^dedup_setup: dd1: metadata device $W/short.img is too small: $((need - 4096)) bytes, where dedup_metadata_size -d 67108864 -l 67108864 -b 4096 -H sha256 says $need$"
not_logged "^create"
# a larger logical size needs more
run 2 attach dd1 "$W/exact.img" "$D" format,size=1T
expect "is too small"
# metadata already formatted that small: a warning, not a refusal
generate small.img --unique 10 --data-blocks 16384 -s 1M
run 0 attach dd1 "$W/small.img" "$D"
expect "^dedup_setup: dd1: warning: metadata device $W/small.img is too small: "
rm "$FAKE/dd1.table"
# dmsetup failing
FAKE_FAIL=create run 3 attach dd1 "$M" "$D"
expect "^dedup_setup: dd1: dmsetup create failed"
echo "ok: refusals"

# ---- command line errors ----------------------------------------------------
run 1 attach
run 1 attach dd1 "$M"
run 1 frobnicate
run 1 attach dd1 "$M" "$D" bogus
expect "^dedup_setup: dd1: unknown option \"bogus\"$"
run 0 --help
expect "^Usage: dedup_setup attach"
run 0 --version
expect "^dedup_setup $(cat "$TOP/VERSION")$"

# ---- deduptab ---------------------------------------------------------------------
# each bad line and its message
bad=(
	"b1 /a|expected NAME METADATA-DEVICE DATA-DEVICE [OPTIONS]"
	"b2 /a /b verify x|too many fields (options are one field, comma-separated)"
	"b3 foo /b|metadata device \"foo\" is not an absolute path, UUID=, PARTUUID=, LABEL= or PARTLABEL="
	"b4 /a UUID=|data device \"UUID=\" has an empty value"
	"b5 /a /a|the metadata and data devices are the same"
	"b/6 /a /b|bad name \"b/6\": 1 to 127 of letters, digits and #+-.:=@_"
	"b7 /a /b c|unknown option \"c\""
	"b8 /a /b block_size=3000|block_size=3000: not a power of two from 4096 to 65536 bytes"
	"b9 /a /b block_size=128K|block_size=128K: not a power of two from 4096 to 65536 bytes"
	"b10 /a /b hash=md5|hash=md5: unknown hash (sha256, blake2b-256, xxhash64)"
	"b11 /a /b verify=1|option \"verify\" takes no value"
	"b12 /a /b hash|option \"hash\" needs a value"
	"b13 /a /b commit_period_ms=0|commit_period_ms=0: not a number from 1 to 60000"
	"b14 /a /b max_open_mb=4097|max_open_mb=4097: not a number from 1 to 4096"
	"b15 /a /b verify,,nofail|empty option"
	"b16 /a /b size=1Q|size=1Q: not a size"
	"dd0 /a /b|dd0 is already on line 4"
)
{
	echo "# deduptab of the test"
	echo ""
	echo "   # an indented comment"
	echo "dd0	$M  $D	-"
	echo "u0 UUID=1234-ABCD PARTUUID=aa-bb-01 block_size=4K,nofail"
	echo "l0 LABEL=a/b /dev/disk/by-id/dm-name-x noauto"
	for b in "${bad[@]}"; do echo "${b%%|*}"; done
} > tab
export DEDUPTAB=$W/tab
# status reads the whole file and reports every bad line
run 1 status
for i in "${!bad[@]}"; do
	grep -Fxq "dedup_setup: $W/tab:$((i + 7)): ${bad[$i]#*|}" "$OUT" ||
		{ cat "$OUT"; fail "line $((i + 7)) (${bad[$i]%%|*}): not reported exactly"; }
done
[ "$(grep -c "^dedup_setup: $W/tab:" "$OUT")" = ${#bad[@]} ] ||
	{ cat "$OUT"; fail "not exactly ${#bad[@]} bad lines reported"; }
# attach NAME takes its line
run 0 attach dd0
logged "create|dd0|--table|0 131072 dedup $M $D 4096 sha256"
run 1 attach nosuch
expect "^dedup_setup: nosuch: no valid entry in $W/tab$"
run 1 attach b7
DEDUPTAB=$W/missing run 1 attach dd0
expect "^dedup_setup: $W/missing: No such file or directory$"
# UUID=, PARTUUID= and LABEL= are the /dev/disk/by-* links (LABEL's '/'
# encoded as udev does), opened under DEDUP_DEV_DIR
mkdir -p dev/disk/by-uuid dev/disk/by-partuuid dev/disk/by-label dev/disk/by-id
ln -s "$W/zero.img" dev/disk/by-uuid/1234-ABCD
ln -s "$W/data.img" dev/disk/by-partuuid/aa-bb-01
ln -s "$W/meta.img" 'dev/disk/by-label/a\x2fb'
ln -s "$W/data.img" dev/disk/by-id/dm-name-x
export DEDUP_DEV_DIR=$W/dev
run 2 attach u0
expect "^dedup_setup: u0: metadata device /dev/disk/by-uuid/1234-ABCD has no dm-dedup superblock"
run 0 attach u0 UUID=1234-ABCD PARTUUID=aa-bb-01 format
logged "create|u0|--table|0 131072 dedup $W/dev/disk/by-uuid/1234-ABCD $W/dev/disk/by-partuuid/aa-bb-01 4096 sha256"
run 0 attach l0
logged "create|l0|--table|0 131072 dedup $W/dev/disk/by-label/a\\x2fb $W/dev/disk/by-id/dm-name-x 4096 sha256"
rm "$FAKE/u0.table" "$FAKE/l0.table"
unset DEDUP_DEV_DIR
echo "ok: deduptab"

# ---- detach -------------------------------------------------------------------------
run 0 detach dd0
logged "remove|--retry|dd0"
expect "^dd0: detached, index saved$"
run 0 detach dd0
expect "^dd0: not active$"
not_logged "^remove"
echo "0 1000 linear /dev/x 0" > "$FAKE/lin.table"
run 2 detach lin
expect "^dedup_setup: lin: is active but not a dm-dedup device"
not_logged "^remove"
rm "$FAKE/lin.table"
run 0 attach dd0
FAKE_FAIL=remove run 3 detach dd0
expect "^dedup_setup: dd0: dmsetup remove failed: still in use"
echo "ok: detach"

# ---- grow -------------------------------------------------------------------------------
# the live table (as dmsetup prints it) reloaded with the data device's size
echo "0 131072 dedup 254:1 254:2 4096 sha256 2 commit_period_ms 500" > "$FAKE/dd0.table"
truncate -s 128M data.img
run 0 grow dd0
logged "load|dd0|--table|0 262144 dedup 254:1 254:2 4096 sha256 2 commit_period_ms 500"
logged "suspend|dd0"
logged "resume|dd0"
[ "$(sed -n 2,4p "$FAKE/log" | cut -d'|' -f1)" = "$(printf '%s\n' load suspend resume)" ] ||
	{ cat "$FAKE/log"; fail "grow: not table, load, suspend, resume"; }
# never shrinks
echo "0 999936 dedup 254:1 254:2 4096 sha256" > "$FAKE/dd0.table"
run 0 grow dd0
logged "load|dd0|--table|0 999936 dedup 254:1 254:2 4096 sha256"
FAKE_FAIL=load run 3 grow dd0
expect "dmsetup load failed"
not_logged "^(suspend|resume)"
run 2 grow nosuch
expect "^dedup_setup: nosuch: not active$"
truncate -s 64M data.img
echo "ok: grow"

# ---- status -----------------------------------------------------------------------------
echo "0 131072 dedup $M $D 4096 sha256" > "$FAKE/dd0.table"
echo "0 131072 dedup rw - 7 100/16384 40/1024 300 100 200 0 5 3 9 10 0 0 0" > "$FAKE/dd0.status"
printf 'mode=rw\nindex_state=ready\n' > "$FAKE/dd0.stats"
run 0 status dd0
expect "^dd0: active, mode rw$"
expect "^  data      100/16384 blocks used \(0\.6 %\)$"
expect "^  metadata  40/1024 blocks used \(3\.9 %\)$"
expect "^  blocks    300 mapped, 100 unique, 200 dedup hits$"
expect "^  index     ready$"
echo "0 131072 dedup ro needs_check 7 100/16384 40/1024 300 100 200 0 5 3 9 10 0 0 0" > "$FAKE/dd0.status"
run 0 status dd0
expect "^dd0: active, mode ro, needs_check \(run dedup_check\)$"
run 4 status u0
expect "^u0: not active$"
# all: deduptab's entries and the other dedup devices
echo "0 131072 dedup $M $D 4096 sha256" > "$FAKE/other.table"
cp "$FAKE/dd0.status" "$FAKE/other.status"
sed -n 5,6p tab > tab3
DEDUPTAB=$W/tab3 run 4 status
expect "^u0: not active$"
expect "^l0: not active$"
expect "^other: active"
DEDUPTAB=$W/missing run 0 status
expect "^other: active"
rm "$FAKE"/*.table
echo "ok: status"

# ---- the generator --------------------------------------------------------------------
ln -s "$SETUP" bin/dedup-setup-generator
gen() {
	rm -rf gen
	mkdir -p gen/normal gen/early gen/late
	: > "$FAKE/log"
	sanitized "$1" dedup-setup-generator gen/normal gen/early gen/late
	[ ! -s "$FAKE/log" ] || fail "the generator ran dmsetup"
}
gen 1
[ -z "$(find gen/early gen/late -mindepth 1)" ] || fail "the generator wrote outside its normal directory"
cat > want.service <<EOF
# Generated by dedup-setup-generator from $W/tab line 5

[Unit]
Description=dm-dedup device u0
Documentation=man:deduptab(5) man:dedup_setup(8)
SourcePath=$W/tab
DefaultDependencies=no
IgnoreOnIsolate=true
BindsTo=dev-disk-by\\x2duuid-1234\\x2dABCD.device dev-disk-by\\x2dpartuuid-aa\\x2dbb\\x2d01.device
After=dev-disk-by\\x2duuid-1234\\x2dABCD.device dev-disk-by\\x2dpartuuid-aa\\x2dbb\\x2d01.device
After=systemd-udevd-kernel.socket systemd-modules-load.service
Wants=blockdev@dev-mapper-u0.target
Before=blockdev@dev-mapper-u0.target
Before=local-fs-pre.target dedup-setup.target
Conflicts=umount.target
Before=umount.target

[Service]
Type=oneshot
RemainAfterExit=yes
TimeoutStartSec=5min
TimeoutStopSec=30min
ExecStart=$SETUP attach u0
ExecStop=$SETUP detach u0
EOF
diff -u want.service gen/normal/dedup-setup@u0.service || fail "dedup-setup@u0.service"
lnk() { [ "$(readlink "gen/normal/$1")" = "$2" ] || fail "gen/normal/$1 is not a link to $2"; }
lnk 'dedup-setup.target.requires/dedup-setup@dd0.service' '../dedup-setup@dd0.service'
lnk 'dedup-setup.target.wants/dedup-setup@u0.service' '../dedup-setup@u0.service'
[ ! -e 'gen/normal/dedup-setup.target.requires/dedup-setup@u0.service' ] || fail "nofail: required"
[ -z "$(find gen/normal -name 'dedup-setup@l0.service' -path '*target*')" ] || fail "noauto: pulled in"
for n in dd0 u0 l0; do
	lnk "dev-mapper-$n.device.requires/dedup-setup@$n.service" "../dedup-setup@$n.service"
done
lnk sysinit.target.wants/dedup-setup.target /usr/lib/systemd/system/dedup-setup.target
grep -Fqx 'BindsTo=dev-disk-by\x2dlabel-a\x5cx2fb.device dev-disk-by\x2did-dm\x2dname\x2dx.device' \
	'gen/normal/dedup-setup@l0.service' || fail "l0: device units"
[ "$(find gen/normal -name '*.service' -type f | wc -l)" = 3 ] || fail "not 3 units"
# odd names: systemd-escape's escaping
printf '%s\n' '.d-x:y_z /dev//x/./y/ /dev/disk/by-label/a+b' > tab2
DEDUPTAB=$W/tab2 gen 0
f='gen/normal/dedup-setup@\x2ed\x2dx:y_z.service'
[ -f "$f" ] || { ls gen/normal; fail "unit of .d-x:y_z"; }
grep -Fqx 'BindsTo=dev-x-y.device dev-disk-by\x2dlabel-a\x2bb.device' "$f" || fail ".d-x:y_z: device units"
grep -Fqx 'Wants=blockdev@dev-mapper-.d\x2dx:y_z.target' "$f" || fail ".d-x:y_z: blockdev target"
lnk 'dev-mapper-.d\x2dx:y_z.device.requires/dedup-setup@\x2ed\x2dx:y_z.service' \
	'../dedup-setup@\x2ed\x2dx:y_z.service'
if command -v systemd-escape >/dev/null; then
	for p in '.d-x:y_z \x2ed\x2dx:y_z' '--path|/dev//x/./y/ dev-x-y' \
		 '--path|/dev/mapper/.d-x:y_z dev-mapper-.d\x2dx:y_z' \
		 '--path|/dev/disk/by-label/a+b dev-disk-by\x2dlabel-a\x2bb'; do
		a=${p% *}
		# shellcheck disable=SC2086 # split at | on purpose
		[ "$(IFS='|'; systemd-escape $a)" = "${p#* }" ] ||
			fail "systemd-escape ${a/|/ } is not ${p#* }"
	done
else
	echo "systemd-escape not on this host: names checked against the fixed expectations only"
fi
# no deduptab: no units, no failure
DEDUPTAB=$W/missing gen 0
[ -z "$(ls gen/normal)" ] || fail "units without a deduptab"
# generate DIR is the same
DEDUPTAB=$W/tab2 run 0 generate "$W/gen/normal"
[ -f "$f" ] || fail "generate DIR"
run 1 generate
if command -v systemd-analyze >/dev/null; then
	gen 1
	cp gen/normal/dedup-setup@u0.service gen/broken@x.service
	sed -i 's/^ExecStart=.*/ExecStart=no-such-program attach u0/' gen/broken@x.service
	export SYSTEMD_UNIT_PATH=$W/gen/normal:$TOP/tools/systemd:
	systemd-analyze verify --man=no gen/broken@x.service >verify.out 2>&1 &&
		fail "systemd-analyze verify passes a broken unit: $(cat verify.out)"
	for u in gen/normal/*.service "$TOP/tools/systemd/dedup-setup.target"; do
		systemd-analyze verify --man=no "$u" >verify.out 2>&1 ||
			{ cat verify.out; fail "systemd-analyze verify $u"; }
		[ ! -s verify.out ] || { cat verify.out; fail "systemd-analyze verify $u: warnings"; }
	done
	unset SYSTEMD_UNIT_PATH
	echo "ok: systemd-analyze verify"
else
	echo "skipped: systemd-analyze verify (no systemd-analyze on this host)"
fi
echo "ok: generator"

# ---- install, man pages -----------------------------------------------------------------
make -s -C "$TOP/tools" install DESTDIR="$W/inst" PREFIX=/usr >/dev/null
for f in usr/sbin/dedup_setup usr/share/man/man8/dedup_setup.8 \
	 usr/share/man/man5/deduptab.5 usr/lib/systemd/system/dedup-setup.target; do
	[ -f "$W/inst/$f" ] || fail "make install did not install /$f"
done
[ "$(readlink "$W/inst/usr/lib/systemd/system-generators/dedup-setup-generator")" = /usr/sbin/dedup_setup ] ||
	fail "make install: no generator link to /usr/sbin/dedup_setup"
if command -v groff >/dev/null; then
	for m in "$TOP/tools/dedup_setup.8" "$TOP/tools/deduptab.5"; do
		groff -man -ww -z "$m" 2>groff.out
		[ ! -s groff.out ] || { cat groff.out; fail "groff warns on $m"; }
	done
fi
echo "setup-tool: all passed"
