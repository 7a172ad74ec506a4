#!/bin/sh
# ext4 on a dedup device survives power cuts: a file workload with fsync
# (new files, duplicated contents, rewrites by rename, in-place updates,
# deletions) is cut at a random moment (dm-flakey drop_writes under both
# devices), EXT4_ROUNDS times (default 3, light load 1; make check-crash:
# 20). After each cut dedup_check passes, the journal replays, e2fsck -fn
# is clean, and every file whose fsync returned before the cut is intact.
# timeout: 600
# shellcheck disable=SC3028 # busybox ash has RANDOM
. /tests/lib.sh

ROUNDS=${EXT4_ROUNDS:-$(by_load 3 1)}
SEED=${CRASH_SEED:-$(date +%s)}
RANDOM=$SEED
T0=$(date +%s)
log "seed $SEED (CRASH_SEED=$SEED repeats the cut times), $ROUNDS rounds"

setup_ram 2 256
dm_linear fm /dev/ram0
dm_linear fd /dev/ram1
M=/dev/mapper/fm
D=/dev/mapper/fd
DEV=/dev/mapper/e4
MNT=/mnt/e4
mkdir -p $MNT /tmp/pool

create() {
	dedup_create e4 $M $D 4096 sha256 commit_period_ms 200
}

# Contents that several files share, of sizes that end mid-block too.
i=0
for kb in 4 12 64 5 200 33; do
	dd if=/dev/urandom of=/tmp/pool/$i bs=1024 count=$kb 2>/dev/null
	i=$((i + 1))
done
dd if=/dev/urandom of=/tmp/pool/6 bs=1000 count=3 2>/dev/null

# The workload. /tmp/model gets a line before each change and one after
# its fsync returned:
#   P NAME       being created: may be missing or hold anything
#   F NAME MD5   durable with this content
#   R NAME MD5   being replaced by rename: the durable content or MD5
#   X NAME       being changed in place: exists, content unknown
#   D NAME       being deleted: missing or the durable content
#   G NAME       deleted for good
# It is stopped (SIGSTOP) before the cut, so no line after it claims more
# than happened before it.
cat > /tmp/work.sh <<'EOF'
#!/bin/sh
r=$1 dir=$2 model=/tmp/model
RANDOM=$3
md5() { md5sum < "$1" | cut -c1-32; }
durable() {	# a random file in state F, or nothing
	awk '$1 == "F" { s[$2] = 1 } $1 != "F" { delete s[$2] }
		END { for (n in s) print n }' $model | shuf -n 1
}
i=0
while :; do
	i=$((i + 1))
	op=$((RANDOM % 10))
	f=
	[ $op -lt 5 ] || f=$(durable)
	if [ -z "$f" ]; then
		f=f$r.$i
		echo "P $f" >> $model
		case $((RANDOM % 4)) in
		0 | 1) cp /tmp/pool/$((RANDOM % 7)) $dir/$f ;;
		2) dd if=/dev/urandom of=$dir/$f bs=4096 count=$((1 + RANDOM % 24)) 2>/dev/null ;;
		3) cat /tmp/pool/$((RANDOM % 7)) /tmp/pool/$((RANDOM % 7)) > $dir/$f
		   dd if=/dev/urandom bs=$((1 + RANDOM % 9000)) count=1 2>/dev/null >> $dir/$f ;;
		esac
		sync $dir/$f
		sync $dir
		echo "F $f $(md5 $dir/$f)" >> $model
	elif [ $op -lt 7 ]; then
		cp /tmp/pool/$((RANDOM % 7)) $dir/$f.new
		dd if=/dev/urandom bs=512 count=$((RANDOM % 5)) 2>/dev/null >> $dir/$f.new
		sync $dir/$f.new
		h=$(md5 $dir/$f.new)
		echo "R $f $h" >> $model
		mv $dir/$f.new $dir/$f
		sync $dir
		echo "F $f $h" >> $model
	elif [ $op -lt 9 ]; then
		echo "X $f" >> $model
		dd if=/dev/urandom of=$dir/$f bs=512 seek=$((RANDOM % 16)) \
			count=$((1 + RANDOM % 8)) conv=notrunc 2>/dev/null
		sync $dir/$f
		echo "F $f $(md5 $dir/$f)" >> $model
	else
		echo "D $f" >> $model
		rm $dir/$f
		sync $dir
		echo "G $f" >> $model
	fi
done
EOF

# verify ROUND: every file in the model is as it may be; then the model
# becomes what the file system holds now (all of it durable: journal
# replay ends with a flush, and e2fsck found it clean).  The cut is a
# device that drops writes while the target runs on: a read of metadata
# written after the cut finds the old block and the pool goes read-only,
# which a real power cut would not see; only the state at the cut matters.
verify() {
	( cd $MNT && find . -type f | sed 's|^\./||' | sort | while read -r f; do
		echo "$f $(md5sum < "$f" | cut -c1-32)"
	done ) > /tmp/have
	awk -v round="$1" '
	NR == FNR {
		if ($1 == "F") { st[$2] = "F"; h[$2] = $3 }
		else if ($1 == "R") { st[$2] = "R"; nw[$2] = $3 }
		else st[$2] = $1
		next
	}
	{ have[$1] = $2 }
	END {
		for (f in st) {
			s = st[f]; ok = 1
			if (s == "F") ok = (f in have) && have[f] == h[f]
			else if (s == "R") ok = (f in have) && (have[f] == h[f] || have[f] == nw[f])
			else if (s == "X") ok = (f in have)
			else if (s == "D") ok = !(f in have) || have[f] == h[f]
			else if (s == "G") ok = !(f in have)
			n[s]++
			if (!ok) {
				printf "round %d: %s (state %s, durable md5 %s%s) %s\n", round, f, s,
					h[f] ? h[f] : "-", s == "R" ? ", new " nw[f] : "",
					(f in have) ? "reads md5 " have[f] : "is missing"
				bad++
			}
		}
		printf "round %d: %d durable, %d being replaced, %d being changed, %d being deleted, %d deleted, %d being created\n",
			round, n["F"], n["R"], n["X"], n["D"], n["G"], n["P"]
		exit bad > 0
	}' /tmp/model /tmp/have || fail "round $1: files fsynced before the cut are not intact"
	# A cut between writing NAME.new and renaming it leaves NAME.new
	# behind: it is removed here, since a later rewrite of NAME would
	# create and rename it again without the model knowing.
	rm -f $MNT/*.new
	sync
	awk '$1 !~ /\.new$/ { print "F", $1, $2 }' /tmp/have > /tmp/model
}

create
mkfs.ext4 -q -F -b 4096 -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 $DEV ||
	fail "mkfs.ext4 failed"
mount -t ext4 $DEV $MNT || fail "first mount failed"
: > /tmp/model
round=0
while [ $round -lt "$ROUNDS" ]; do
	round=$((round + 1))
	setsid sh /tmp/work.sh $round $MNT $((SEED + round)) > /tmp/work.out 2>&1 &
	wpid=$!
	# A random moment: 0.5 to 6 s into the workload.
	usleep $(( (500 + RANDOM % 5500) * 1000 ))
	kill -STOP -$wpid || fail "round $round: the workload died early: $(cat /tmp/work.out)"
	dm_fault fm drop_writes --noflush --nolockfs
	dm_fault fd drop_writes --noflush --nolockfs
	kill -KILL -$wpid
	wait $wpid 2>/dev/null || true
	n=0
	until umount $MNT 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt 50 ] || fail "round $round: cannot unmount after the cut"
		usleep 100000
	done
	dmsetup remove e4 || fail "round $round: cannot remove the dedup device"
	dm_fault fm linear --noflush --nolockfs
	dm_fault fd linear --noflush --nolockfs
	dedup_check $M || fail "round $round: dedup_check failed after the cut"
	create
	mount -t ext4 $DEV $MNT ||
		{ dmesg_test | tail -n 20; fail "round $round: mount (journal replay) failed"; }
	umount $MNT
	if ! e2fsck -fn $DEV > /tmp/fsck.out 2>&1; then
		cat /tmp/fsck.out
		fail "round $round: e2fsck -fn finds errors"
	fi
	mount -t ext4 $DEV $MNT || fail "round $round: mount after e2fsck failed"
	verify $round
	log "round $round: $(wc -l < /tmp/model) files, e2fsck clean;" \
		"status: $(dmsetup status e4 | cut -d' ' -f4-14)"
done
umount $MNT
log "$ROUNDS power cuts survived; $(($(date +%s) - T0)) s in all"
