#!/bin/bash
# dedup_setup (tools/dedup_setup.c, ASan/UBSan build) against a fake
# dmsetup that keeps its devices in files and logs every call: the exact
# table line attach loads (features, block size and hash from the options
# or the superblock, the logical size), deduptab parsing (each bad line
# reported with its line number), UUID=/PARTUUID=/LABEL= resolution
# (under DEDUP_DEV_DIR), refusal of unformatted metadata without "format"
# and of a metadata device smaller than dedup_metadata_size's figure,
# detach, grow and status, the generator's units and links (checked with
# systemd-escape and systemd-analyze verify when the host has them), and
# the monitor: its log lines (priorities, thresholds from the options and
# deduptab, mode changes and the low-water event through dmsetup wait),
# the grow command run once per rate-limit interval and then the reload,
# its clean stop on SIGTERM, and dedup-monitor.service.
# The guest side (real dmsetup, real systemd) is not covered here.
# timeout: 300
. "$(dirname "$0")/common.inc"

cd "$W"
SETUP=$TOP/tools/asan/dedup_setup

# ---- the fake dmsetup -------------------------------------------------------
# State in $FAKE: NAME.table (active), NAME.inactive (loaded), NAME.status,
# NAME.stats, NAME.events (the event counter; wait returns when it grows,
# and logs its pid to waiters); every call is logged to $FAKE/log, its arguments joined by
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
	# as dmsetup --retry reports a try that found the device busy
	echo "device-mapper: remove ioctl on $3  failed: Device or resource busy" >&2
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
info)	[ "$2 $3 $4 $5" = "-c --noheadings -o events" ] || { echo "fake: bad info $*" >&2; exit 1; }
	[ -f "$f/$6.table" ] || gone
	echo "  $(cat "$f/$6.events" 2>/dev/null || echo 0)" ;;
wait)	# until NAME.events exceeds the number given, or NAME goes
	[ -f "$f/$2.table" ] || gone
	echo $$ >> "$f/waiters"
	while [ -f "$f/$2.table" ] && [ "$(cat "$f/$2.events" 2>/dev/null || echo 0)" -le "$3" ]; do
		sleep 0.05
	done ;;
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
	"b17 /a /b warn_data=101|warn_data=101: not a percentage from 1 to 100"
	"b18 /a /b warn_metadata=x|warn_metadata=x: not a percentage from 1 to 100"
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
expect "^fake: remove failed"
# a busy try that dmsetup --retry got past says nothing
run 0 detach dd0
expect "^dd0: detached, index saved$"
expect_not "busy"
echo "ok: detach"

# ---- grow -------------------------------------------------------------------------------
# the live table (as dmsetup prints it) reloaded with the data device's size
echo "0 131072 dedup 254:1 254:2 4096 sha256 2 commit_period_ms 500" > "$FAKE/dd0.table"
truncate -s 128M data.img
run 0 grow dd0
expect_not "too small"
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
# no deduptab at all: the data device by its major:minor under /dev/block
# (as udev links it), the size from it
echo "0 131072 dedup 254:1 254:2 4096 sha256" > "$FAKE/dd0.table"
mkdir -p devb/block
ln -sf "$W/data.img" devb/block/254:2
DEDUPTAB=$W/missing DEDUP_DEV_DIR=$W/devb run 0 grow dd0
logged "load|dd0|--table|0 262144 dedup 254:1 254:2 4096 sha256"
# grown past what its 4 MiB metadata device holds: a warning, and the grow
# goes on (with deduptab; and without, the metadata device by major:minor)
truncate -s 1G data.img
run 0 grow dd0
expect "^dedup_setup: dd0: warning: metadata device $M is too small: 4194304 bytes, where dedup_metadata_size -d 1073741824 "
logged "load|dd0|--table|0 2097152 dedup 254:1 254:2 4096 sha256"
ln -sf "$W/meta.img" devb/block/254:1
DEDUPTAB=$W/missing DEDUP_DEV_DIR=$W/devb run 0 grow dd0
expect "^dedup_setup: dd0: warning: metadata device /dev/block/254:1 is too small: 4194304 bytes"
logged "load|dd0|--table|0 2097152 dedup 254:1 254:2 4096 sha256"
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
After=blk-availability.service
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
	# the monitor's unit, with this dedup_setup
	sed "s|^ExecStart=/usr/sbin/dedup_setup |ExecStart=$SETUP |" \
		"$TOP/tools/systemd/dedup-monitor.service" > gen/dedup-monitor.service
	for u in gen/normal/*.service "$TOP/tools/systemd/dedup-setup.target" \
		 gen/dedup-monitor.service; do
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

# ---- monitor ---------------------------------------------------------------------------
# A device crossing 80 % of its data device, changing mode, raising the
# low-water event, crossing its deduptab metadata threshold (90 %), and
# going away; another device that stays quiet. The monitor polls every
# 0.2 s here (mode changes and the low-water event also reach it through
# dmsetup wait: checked below with an hour's interval). The grow command
# must run once for data and once for metadata (rate limit), each
# followed by a reload.
mon_status() {	# NAME MODE DATA_USED METADATA_USED [EVENTS]: out of 1000 each
	echo "0 131072 dedup $2 - 7 $3/1000 $4/1000 300 $3 200 0 5 3 9 10 0 0 0" > "$FAKE/$1.status.new"
	mv "$FAKE/$1.status.new" "$FAKE/$1.status"
	[ -z "${5:-}" ] || mon_event "$1" "$5"
}
# mon_event NAME N: the event counter of NAME is N (written whole, as the
# fake's wait and info may read it at any time)
mon_event() {
	echo "$2" > "$FAKE/$1.events.new"
	mv "$FAKE/$1.events.new" "$FAKE/$1.events"
}
# mon_wait REGEX: the monitor logs a line matching REGEX within 30 s
mon_wait() {
	local i
	for i in $(seq 300); do
		grep -Eq -- "$1" mon.out && return 0
		kill -0 "$MON" 2>/dev/null || break
		sleep 0.1
	done
	cat mon.out mon.err
	fail "monitor: no line /$1/"
}
printf 'dd0 %s %s warn_metadata=90\n' "$M" "$D" > montab
echo "0 131072 dedup 254:1 254:2 4096 sha256" > "$FAKE/dd0.table"
echo "0 131072 dedup 254:3 254:4 4096 sha256" > "$FAKE/quiet.table"
mon_status dd0 rw 500 100 0
mon_status quiet rw 10 10 0
: > "$FAKE/log"
: > "$FAKE/waiters"
DEDUPTAB=$W/montab "$SETUP" monitor --interval 0.2 --grow-interval=3600 \
	--grow-command "echo %n \$DEDUP_GROW >> $W/grown" >mon.out 2>mon.err &
MON=$!
mon_wait '^<6>dd0: monitoring: mode rw, data 50\.0 % used, metadata 10\.0 % used \(warnings at 80 % and 90 %\), event 0$'
mon_wait '^<6>quiet: monitoring: mode rw, data 1\.0 % used, metadata 1\.0 % used \(warnings at 80 % and 80 %\), event 0$'
# data past 80 %: a warning, the grow command, a reload
mon_status dd0 rw 812 100
mon_wait '^<4>dd0: data 81\.2 % used \(warning at 80 %\)$'
mon_wait '^<6>dd0: reloaded after the grow command$'
grep -Fq "<6>dd0: data: running echo 'dd0' \$DEDUP_GROW >> $W/grown" mon.out ||
	{ cat mon.out; fail "monitor: grow command not logged"; }
logged "load|dd0|--table|0 131072 dedup 254:1 254:2 4096 sha256"
logged "resume|dd0"
# another step up: another warning, no second grow within the interval
mon_status dd0 rw 861 100
mon_wait '^<4>dd0: data 86\.1 % used \(warning at 80 %\)$'
# a mode change, seen through dmsetup wait (an event)
mon_status dd0 out_of_data_space 1000 100 1
mon_wait '^<3>dd0: mode out_of_data_space \(was rw\): the data device is full'
# an event without a mode change: the metadata low-water mark; 85 % is
# below this device's 90 %
mon_status dd0 out_of_data_space 1000 850 2
mon_wait '^<4>dd0: dm event 2: metadata low-water mark reached, metadata 85\.0 % used'
mon_wait '^<6>dd0: metadata: running '
mon_status dd0 out_of_data_space 1000 920
mon_wait '^<4>dd0: metadata 92\.0 % used \(warning at 90 %\)$'
# back to normal; the mode change is seen before its event is counted
# (as the target raises it, from a work item): that event is not the
# low-water one
mon_status dd0 rw 500 100
mon_wait '^<6>dd0: mode rw \(was out_of_data_space\) again$'
mon_event dd0 3
for i in $(seq 300); do grep -q '^wait|dd0|3$' "$FAKE/log" && break; sleep 0.1; done
mon_wait '^<6>dd0: data 50\.0 % used, below 80 % again$'
mon_wait '^<6>dd0: metadata 10\.0 % used, below 90 % again$'
# gone
rm "$FAKE/dd0.table"
mon_wait '^<6>dd0: no longer active$'
kill -TERM "$MON"
rc=0
wait "$MON" || rc=$?
[ "$rc" = 0 ] || { cat mon.out mon.err; fail "monitor: exit status $rc after SIGTERM"; }
mon_wait '^<6>dedup monitor: stopped$'
if grep -Eq 'Sanitizer|runtime error:' mon.err; then cat mon.err; fail "monitor: sanitizer report"; fi
[ "$(cat grown)" = "$(printf 'dd0 data\ndd0 metadata')" ] ||
	{ cat grown mon.out; fail "monitor: the grow commands run were not exactly dd0 data, dd0 metadata"; }
[ "$(grep -c '^load|' "$FAKE/log")" = 2 ] || { cat "$FAKE/log"; fail "monitor: not 2 reloads"; }
if grep -q '^<[34]>quiet:' mon.out; then cat mon.out; fail "monitor: warned about the quiet device"; fi
[ "$(grep -c '^<4>dd0: data ' mon.out)" = 3 ] || { cat mon.out; fail "monitor: not 3 data warnings (81.2, 86.1, 100 %)"; }
[ "$(grep -c 'low-water' mon.out)" = 1 ] || { cat mon.out; fail "monitor: not 1 low-water line"; }
while read -r p; do
	if kill -0 "$p" 2>/dev/null; then fail "monitor: its dmsetup wait $p still runs"; fi
done < "$FAKE/waiters"
rm -f "$FAKE/quiet.table"
echo "ok: monitor"

# a grow.d executable is run instead of --grow-command; named devices;
# with an interval of an hour, only dmsetup wait can bring the mode change;
# usage errors
mkdir grow.d
printf '#!/bin/sh\necho "$@" >> %s/grown2\n' "$W" > grow.d/dd0
chmod +x grow.d/dd0
echo "0 131072 dedup 254:1 254:2 4096 sha256" > "$FAKE/dd0.table"
mon_status dd0 rw 900 100 0
echo "0 131072 dedup 254:5 254:6 4096 sha256" > "$FAKE/dd2.table"
mon_status dd2 rw 900 100 0
: > "$FAKE/log"
DEDUP_GROW_DIR=$W/grow.d DEDUPTAB=$W/montab "$SETUP" monitor --interval 3600 \
	--grow-command "exit 3" dd0 nosuch dd2 >mon.out 2>mon.err &
MON=$!
mon_wait '^<6>nosuch: not active$'
mon_wait '^<6>dd0: reloaded after the grow command$'
# dd2 has no grow.d file: --grow-command, which fails: no reload
mon_wait '^<3>dd2: the grow command failed \(exit status 3\): not reloading$'
not_logged '^load\|dd2'
# a mode change and the low-water event counted by the time of one look:
# both are reported
mon_status dd2 out_of_metadata_space 900 990 2
mon_wait '^<3>dd2: mode out_of_metadata_space \(was rw\)'
mon_wait '^<4>dd2: dm event 2: metadata low-water mark reached, metadata 99\.0 % used'
mon_status dd0 ro 900 100 1
mon_wait '^<3>dd0: mode ro \(was rw\): read-only after an error'
echo "0 131072 dedup ro needs_check 7 900/1000 100/1000 300 900 200 0 5 3 9 10 0 0 0" > "$FAKE/dd0.status.new"
mv "$FAKE/dd0.status.new" "$FAKE/dd0.status"
mon_event dd0 2
mon_wait '^<3>dd0: needs_check: remove the device and run dedup_check'
kill -TERM "$MON"
wait "$MON" || fail "monitor: exit status after SIGTERM"
[ "$(cat grown2)" = "dd0 data" ] || { cat grown2; fail "monitor: grow.d/dd0 not run as 'dd0 data'"; }
[ "$(grep -c 'nosuch' mon.out)" = 1 ] || { cat mon.out; fail "monitor: nosuch reported more than once"; }
rm "$FAKE/dd0.table" "$FAKE/dd2.table"
run 1 monitor --warn-data 0
expect 'bad value "0"'
run 1 monitor --interval x
run 1 monitor --warn-metadata=101
expect 'bad value "101"'
run 1 monitor --interval
expect ': monitor: --interval needs a value$'
run 1 monitor --bogus
expect 'unknown option --bogus'
echo "ok: monitor grow.d, named devices, usage"

# ---- install, man pages -----------------------------------------------------------------
make -s -C "$TOP/tools" install DESTDIR="$W/inst" PREFIX=/usr >/dev/null
for f in usr/sbin/dedup_setup usr/share/man/man8/dedup_setup.8 \
	 usr/share/man/man5/deduptab.5 usr/lib/systemd/system/dedup-setup.target \
	 usr/lib/systemd/system/dedup-monitor.service; do
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
