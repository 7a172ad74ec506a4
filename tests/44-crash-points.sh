#!/bin/sh
# Crash consistency at FLUSH/FUA points: a mixed workload (unique,
# duplicate, zero, partial, multi-block, discard and overwrite writes, FLUSH
# and FUA) is recorded with dm-log-writes under the dedup device's metadata
# and data devices; both logs are replayed onto fresh devices to
# CRASH_POINTS points spread over the log (default 24, light load 8; make
# check-crash: 200). At each point dedup_check passes, the device loads in
# rw mode, every block acknowledged durable before the point reads back,
# and every other block reads back one of the contents it may hold.
# timeout: 600
# shellcheck disable=SC3028 # busybox ash has RANDOM
. /tests/lib.sh

# How the two logs are cut at one instant (tests/tools/log-replay.c says
# why there are two): after every round of the workload, once its FLUSH or
# FUA has returned, both log-writes devices are suspended (no bio moves),
# get the same mark "s<round>", and are resumed. Replaying both logs to the
# mark gives the state of both devices at that instant, worst case.
#
# Points inside a round come from the metadata log: each FLUSH/FUA entry
# there is a point where the durable metadata changes (the commit's
# flushes). Its data log is cut at the round's FLUSH/FUA, the commit's data
# flush: with commit_period_ms 60000 a commit runs only for the round's
# FLUSH/FUA, and until its data flush the round's data writes are not
# durable; after it nothing on the data device is until the next round's
# commit (the blocks the commit frees are discarded later, unflushed).
# Rounds with several data FLUSH/FUA are checked at their marks only, and
# the test says how many there were. (Cutting the data log at the round's
# mark instead would be wrong at the end: removing the log-writes device
# logs the writes never flushed, such as the discards of the blocks the
# last commit freed, before its last mark.)

# One round in four is a barrier round: the data log-writes device is
# suspended before the round's FLUSH, so the commit stops at its data flush;
# then both devices get the mark "b<round>". A module that made a superblock
# durable before the data it points at is caught there, however the logs
# pair otherwise; so is one whose FLUSH returned before it was durable (if
# the FLUSH has returned by the mark, the round must be durable there).
#
# Per point: blocks written in rounds before the point's round must hold
# their last content; blocks written in the point's round may hold the old
# content or any they were given in that round (the crash semantics of
# doc/dm-dedup.rst); at the mark "s<k>", which follows the round's
# completed FLUSH/FUA, round k is durable too.

POINTS=${CRASH_POINTS:-$(by_load 24 8)}
RANGE=64		# logical blocks the workload touches
BS=4096
# About three points per round (two metadata flushes and a mark), and
# some rounds' inner points cannot be paired: rounds to spare.
ROUNDS=$((POINTS / 2 + 12))
SEED=${CRASH_SEED:-$(date +%s)}
RANDOM=$SEED
T0=$(date +%s)
log "seed $SEED (CRASH_SEED=$SEED repeats the workload), $ROUNDS rounds, $POINTS points"

command -v log-replay >/dev/null || fail "log-replay is not in the initramfs"
command -v blkpat >/dev/null || fail "blkpat is not in the initramfs"
load_dedup
modprobe dm-log-writes || fail "modprobe dm-log-writes failed"
mkbrd 4 64
S=$(dev_sectors /dev/ram0)
LOGM=/dev/ram2
LOGD=/dev/ram3
dm_create lwm "0 $S log-writes /dev/ram0 $LOGM"
dm_create lwd "0 $S log-writes /dev/ram1 $LOGD"
# Replay targets: virtio disks, zeroed in no time with BLKZEROOUT.
VA=$(vdisk 0)
VB=$(vdisk 1)
dm_linear rm "$VA" "$S"
dm_linear rd "$VB" "$S"
RM=/dev/mapper/rm
RD=/dev/mapper/rd
zero_targets() {
	# util-linux's, for -z (ash runs busybox's applet for "blkdiscard").
	for t in $RM $RD; do
		/usr/sbin/blkdiscard -f -z "$t" 2>/tmp/zero.err ||
			{ cat /tmp/zero.err; fail "cannot zero $t"; }
	done
}
DEV=/dev/mapper/cp
dedup_create cp /dev/mapper/lwm /dev/mapper/lwd $BS sha256 commit_period_ms 60000

mark_both() {	# NAME: the same mark in both logs, at one instant
	dmsetup suspend --noflush --nolockfs lwm
	dmsetup suspend --noflush --nolockfs lwd
	dmsetup message lwm 0 mark "$1" || fail "mark $1 (metadata log)"
	dmsetup message lwd 0 mark "$1" || fail "mark $1 (data log)"
	dmsetup resume lwm
	dmsetup resume lwd
}

# The model: /tmp/ops has "ROUND LBN CONTENT HOW" for every write, in
# order; CONTENT is what blkpat read prints for the block, HOW is "z" for a
# write of zeroes, "u" for a discard (unmapped), "m" for anything else
# (mapped). cur_<lbn> is the latest content.
: > /tmp/ops
cur() { eval "echo \${cur_$1:-0}"; }
record() {	# round lbn content [how]
	eval "cur_$2=\$3"
	h=${4:-m}
	[ "$3" != 0 ] || [ -n "${4:-}" ] || h=z
	echo "$1 $2 $3 $h" >> /tmp/ops
}

# counters ROUND: the status counters "mapped unique zero" the model
# expects once rounds up to ROUND are durable and nothing after them is.
counters() {
	awk -v dur="$1" '$1 <= dur { c[$2] = $3; h[$2] = $4 }
		END {
			for (l in c) {
				if (h[l] == "m") { mapped++; if (!(c[l] in seen)) { seen[c[l]] = 1; unique++ } }
				if (h[l] == "z") zero++
			}
			printf "%d %d %d\n", mapped, unique, zero
		}' /tmp/ops
}
status_counters() {	# NAME
	dedup_status_dump "$1" | awk -F= '{ v[$1] = $2 }
		END { printf "%d %d %d\n", v["mapped"], v["unique"], v["zero"] }'
}

write_blocks() {	# round lbn count tag [--fua]
	# shellcheck disable=SC2086 # $5: --fua or nothing
	blkpat write $DEV $(($2 * BS)) $(($3 * BS)) "$4" ${5:-} ||
		fail "round $1: write of blocks $2+$3 failed"
	i=0
	while [ $i -lt "$3" ]; do
		record "$1" $(($2 + i)) "$4"
		i=$((i + 1))
	done
}

# Sectors FIRST..FIRST+N-1 of block LBN get TAG: the whole block's new
# content, from its current one.
partial() {	# round lbn first n tag
	blkpat write $DEV $(($2 * BS + $3 * 512)) $(($4 * 512)) "$5" ||
		fail "round $1: partial write of block $2 failed"
	record "$1" "$2" "$(cur "$2" | awk -F, -v f="$3" -v n="$4" -v t="$5" '{
		for (i = 0; i < 8; i++) s[i] = (NF == 1) ? $1 : $(i + 1)
		for (i = f; i < f + n; i++) s[i] = t
		out = s[0]; same = 1
		for (i = 1; i < 8; i++) { out = out "," s[i]; if (s[i] != s[0]) same = 0 }
		print same ? s[0] : out }')"
}

one_op() {	# round n
	lbn=$((RANDOM % RANGE))
	r=$((RANDOM % 20))
	if [ $r -lt 6 ]; then
		write_blocks "$1" $lbn 1 "u$1.$2"
	elif [ $r -lt 9 ]; then
		write_blocks "$1" $lbn 1 "d$((RANDOM % 4))"
	elif [ $r -lt 11 ]; then
		write_blocks "$1" $lbn 1 0
	elif [ $r -lt 14 ]; then
		f=$((RANDOM % 8))
		n=$((1 + RANDOM % 3))
		[ $((f + n)) -le 8 ] || n=$((8 - f))
		partial "$1" $lbn $f $n "p$1.$2"
	elif [ $r -lt 16 ]; then
		c=$((2 + RANDOM % 3))
		[ $((lbn + c)) -le $RANGE ] || lbn=$((RANGE - c))
		write_blocks "$1" $lbn $c "m$1.$2"
	elif [ $r -lt 18 ]; then
		c=$((1 + RANDOM % 2))
		[ $((lbn + c)) -le $RANGE ] || lbn=$((RANGE - c))
		blkdiscard -o $((lbn * BS)) -l $((c * BS)) $DEV ||
			fail "round $1: discard of blocks $lbn+$c failed"
		record "$1" $lbn 0 u
		[ $c = 1 ] || record "$1" $((lbn + 1)) 0 u
	else
		# The same content again: a duplicate of itself.
		c=$(cur $lbn)
		case $c in
		*,*) partial "$1" $lbn 0 8 "r$1.$2" ;;
		*) write_blocks "$1" $lbn 1 "$c" ;;
		esac
	fi
}

# Barrier: the round's FLUSH with the data device suspended.
barrier_flush() {	# round
	dmsetup suspend --noflush --nolockfs lwd
	blkpat flush $DEV &
	fpid=$!
	t=0
	while [ $t -lt "$(scaled 40)" ] && kill -0 $fpid 2>/dev/null; do
		[ "$(dedup_field cp commit_in_flight)" = 1 ] && break
		usleep 50000
		t=$((t + 1))
	done
	# Let the commit go as far as it can without the data device.
	usleep 300000
	dmsetup suspend --noflush --nolockfs lwm
	# A FLUSH that has returned by now says the round is durable, data
	# device or not: the mark is then checked as such.
	if ! kill -0 $fpid 2>/dev/null; then
		echo "b$1" >> /tmp/returned
		log "round $1: the FLUSH returned while the data device was suspended"
	fi
	dmsetup message lwm 0 mark "b$1" || fail "mark b$1 (metadata log)"
	dmsetup message lwd 0 mark "b$1" || fail "mark b$1 (data log)"
	dmsetup resume lwm
	dmsetup resume lwd
	wait $fpid || fail "round $1: the FLUSH failed"
}

: > /tmp/returned
blkpat flush $DEV || fail "first flush failed"
mark_both s0
k=1
nb=0
nf=0
while [ $k -le $ROUNDS ]; do
	n=0
	nops=$((1 + RANDOM % 6))
	while [ $n -lt $nops ]; do
		one_op $k $n
		n=$((n + 1))
	done
	if [ $((k % 4)) = 2 ]; then
		# New data for the held commit to point at, over a block that
		# holds data (zeroes would pass for its old content).
		lbn=$((RANDOM % RANGE))
		i=0
		while [ $i -lt $RANGE ] && [ "$(cur $(((lbn + i) % RANGE)))" = 0 ]; do
			i=$((i + 1))
		done
		write_blocks $k $(((lbn + i) % RANGE)) 1 "u$k.b"
		barrier_flush $k
		nb=$((nb + 1))
	elif [ $((RANDOM % 10)) -lt 3 ]; then
		write_blocks $k $((RANDOM % RANGE)) 1 "f$k" --fua
		nf=$((nf + 1))
	else
		blkpat flush $DEV || fail "round $k: FLUSH failed"
	fi
	mark_both "s$k"
	k=$((k + 1))
done
# Writes after the last flush: the clean removal must commit them.
n=0
while [ $n -lt 4 ]; do
	one_op $k $n
	n=$((n + 1))
done
LAST=$k
# The model must know what the device holds now.
blkpat read $DEV $BS 0 $RANGE > /tmp/final
awk 'FILENAME == ARGV[1] { last[$2] = $3; next }
	{ w = ($1 in last) ? last[$1] : "0"
	  if ($2 != w) { printf "block %d reads %s, the model says %s\n", $1, $2, w; bad++ } }
	END { exit bad > 0 }' /tmp/ops /tmp/final || fail "the live device does not hold what the model says"
want=$(counters $LAST)
got=$(status_counters cp)
[ "$got" = "$want" ] ||
	fail "the live device counts mapped/unique/zero $got, the model $want"
log "recorded $ROUNDS rounds ($nb barrier, $nf FUA), $(wc -l < /tmp/ops) block writes;" \
	"status: $(dmsetup status cp | cut -d' ' -f4-14)"
dedup_remove cp
dedup_check /dev/mapper/lwm || fail "dedup_check of the recorded metadata failed"
for l in lwm lwd; do
	st=$(dmsetup status $l)
	case $st in
	*logging_disabled*) fail "$l stopped logging (log device full?): $st" ;;
	esac
done
dmsetup remove lwm
dmsetup remove lwd
log-replay check $LOGM || fail "the metadata log does not check"
log-replay check $LOGD || fail "the data log does not check"

log "recording done after $(($(date +%s) - T0)) s"
# The whole logs replayed must give the devices as they are (brd ignores
# discards, and so does what log-writes passes to it).
zero_targets
log-replay replay $LOGM $RM --discard skip >/dev/null || fail "full replay (metadata)"
log-replay replay $LOGD $RD --discard skip >/dev/null || fail "full replay (data)"
cmp /dev/ram0 $RM || fail "the metadata log replayed whole differs from the device"
cmp /dev/ram1 $RD || fail "the data log replayed whole differs from the device"

# Candidates: after the mark s0, every FLUSH/FUA entry of the metadata log
# (kind "flush") and every mark (kind "mark"), each with the mark that ends
# its round and the data log entry to cut at. For a mark, its twin in the
# data log. For a flush point, the round's data FLUSH/FUA (the commit's
# data flush, which comes first), or the round's first entry when it has
# none; a round with several leaves its flush points out ("skip").
log-replay list $LOGM > /tmp/mlist
log-replay list $LOGD > /tmp/dlist
awk '$2 == "MARK" {
		print $3, $1, (n == 0 ? prev : n == 1 ? last : "skip")
		n = 0; prev = $1; next
	}
	$2 ~ /FLUSH|FUA/ { n++; last = $1 }' /tmp/dlist > /tmp/dcuts
awk 'FILENAME == ARGV[1] { at[$1] = $2; cut[$1] = $3; next }
	$2 == "MARK" && $3 == "s0" { on = 1; next }
	!on { next }
	$2 == "MARK" {
		for (i = 0; i < np; i++)
			print (cut[$3] == "skip" ? "skip" : "flush"), p[i], $3, cut[$3]
		np = 0
		print "mark", $1, $3, at[$3]
		next
	}
	$2 ~ /FLUSH|FUA/ { p[np++] = $1 }' /tmp/dcuts /tmp/mlist > /tmp/cands
nskip=$(grep -c '^skip' /tmp/cands || true)
grep -v '^skip' /tmp/cands > /tmp/points
C=$(wc -l < /tmp/points)
log "metadata log: $(grep -c ' MARK ' /tmp/mlist) marks, $C points after s0" \
	"($(grep -c '^flush' /tmp/points) flush, $(grep -c '^mark' /tmp/points) mark);" \
	"$nskip flush points in rounds with several data flushes left out"
[ "$C" -ge "$POINTS" ] || fail "only $C points for CRASH_POINTS=$POINTS"
# POINTS of them: every barrier mark (the points that pair the two logs
# inside a commit), then the rest spread over the log, one drawn at random
# from each of as many equal slices (a fixed stride would fall in step with
# the rounds and check one kind of point only).
grep '^mark [0-9]* b[0-9]* ' /tmp/points > /tmp/chosen || true
grep -v '^mark [0-9]* b[0-9]* ' /tmp/points > /tmp/others
nbar=$(wc -l < /tmp/chosen)
awk -v c="$(wc -l < /tmp/others)" -v p="$((POINTS - nbar))" \
	-v seed="$SEED" 'BEGIN {
		srand(seed)
		for (i = 0; i < p; i++) {
			lo = int(i * c / p); hi = int((i + 1) * c / p)
			want[lo + int(rand() * (hi - lo)) + 1] = 1
		}
	}
	want[FNR]' /tmp/others >> /tmp/chosen
sort -k2,2n /tmp/chosen > /tmp/chosen.sorted
mv /tmp/chosen.sorted /tmp/chosen

# round_of MARK: the round a mark ends ("dm-log-writes-end": the last one).
round_of() {
	case $1 in
	s* | b*) echo "${1#?}" ;;
	*) echo $LAST ;;
	esac
}

checked=0
while read -r kind entry mk dentry; do
	checked=$((checked + 1))
	k=$(round_of "$mk")
	# The last durable round, and the round whose writes may or may not be.
	if [ "$kind" = mark ] && [ "${mk#s}" != "$mk" ]; then
		dur=$k alt=-1
		what="mark $mk (round $k durable)"
	elif [ "$kind" = mark ] && grep -qx "$mk" /tmp/returned; then
		dur=$k alt=-1
		what="barrier mark $mk (round $k durable: its FLUSH had returned)"
	elif [ "$kind" = mark ] && [ "${mk#b}" != "$mk" ]; then
		dur=$((k - 1)) alt=$k
		what="barrier mark $mk (round $((k - 1)) durable, round $k's commit held at its data flush)"
	elif [ "$kind" = mark ]; then
		dur=$LAST alt=-1
		what="mark $mk (after the clean removal: everything durable)"
	else
		dur=$((k - 1)) alt=$k
		what="$kind at metadata entry $entry, data entry $dentry, before mark $mk (round $((k - 1)) durable, round $k in flight)"
	fi
	pt="point $checked/$POINTS ($what)"
	zero_targets
	if [ "$kind" = mark ]; then
		# The tool finds the twin mark itself.
		log-replay replay $LOGM $RM --to-entry "$entry" --pair $LOGD $RD
	else
		log-replay replay $LOGM $RM --to-entry "$entry" &&
			log-replay replay $LOGD $RD --to-entry "$dentry"
	fi > /tmp/replay.out 2>&1 || { cat /tmp/replay.out; fail "$pt: replay failed"; }
	if ! dedup_check $RM > /tmp/check.out 2>&1; then
		cat /tmp/replay.out /tmp/check.out
		fail "$pt: dedup_check of the replayed metadata failed"
	fi
	dedup_create rp $RM $RD $BS sha256
	mode=$(dedup_field rp mode)
	[ "$mode" = rw ] || fail "$pt: the replayed device loads in mode $mode"
	# Where the state is exact, the counters of the status line (read
	# from the superblock) must be exact too.
	if [ "$alt" = -1 ]; then
		want=$(counters "$dur")
		got=$(status_counters rp)
		[ "$got" = "$want" ] ||
			fail "$pt: status counts mapped/unique/zero $got, the blocks say $want"
	fi
	blkpat read /dev/mapper/rp $BS 0 $RANGE > /tmp/got ||
		fail "$pt: reading the replayed device failed"
	if ! awk -v dur="$dur" -v alt="$alt" -v pt="$pt" '
		FILENAME == ARGV[1] {
			if ($1 <= dur) want[$2] = $3
			else if ($1 == alt) alts[$2] = alts[$2] " " $3
			next
		}
		{
			w = ($1 in want) ? want[$1] : "0"
			ok = ($2 == w)
			n = split(alts[$1], a, " ")
			for (i = 1; i <= n; i++)
				if (a[i] == $2)
					ok = 1
			if (!ok) {
				printf "%s: block %d reads %s, expected %s%s\n", pt, $1, $2, w,
					n ? " or one of round " alt "'"'"'s:" alts[$1] : ""
				bad++
			}
		}
		END { exit bad > 0 }' /tmp/ops /tmp/got; then
		cat /tmp/replay.out
		fail "$pt: blocks lost or wrong"
	fi
	dedup_remove rp
	dedup_check $RM > /tmp/check.out 2>&1 ||
		{ cat /tmp/check.out; fail "$pt: dedup_check after the replayed device's removal failed"; }
	echo "ok $pt"
done < /tmp/chosen
[ "$checked" -ge "$POINTS" ] || fail "checked $checked points, wanted $POINTS"
log "$checked points checked; $(($(date +%s) - T0)) s in all"
