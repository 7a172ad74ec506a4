#!/bin/sh
# SQLite keeps every commit it acknowledged across power cuts (issue 27),
# on ext4 and on XFS on a dedup device, and on a dm-linear control beside
# it that is cut at the same moment and must pass the same checks.
#
# Each transaction inserts two rows: a copy of one of 8 random 8 KiB pool
# blobs (duplicates) and a random 6000-byte blob with its sha3 (unique).
# Rounds alternate WAL mode with synchronous=FULL and rollback-journal
# (DELETE) mode with synchronous=EXTRA (FULL does not sync the directory
# after the journal's unlink, so SQLite itself may roll the last commit
# back after a power loss).  The sqlite3 shell prints a transaction's id
# after its COMMIT returned; those lines go to a file in the guest's RAM,
# outside the cut devices, and the writer is stopped (SIGSTOP) before the
# cut, so no commit that ends after the cut is counted.  The cut: dm-flakey
# drop_writes under all three devices (dedup metadata and data, control).
# After each cut and re-create: dedup_check passes, the journal replays,
# e2fsck -fn or xfs_repair -n is clean, PRAGMA integrity_check says ok,
# every acknowledged transaction is there whole, no transaction is there in
# part, and every blob matches its pool copy or its sha3.
#
# SQLITE_ROUNDS cuts per file system (default 2, light load 2; make
# check-crash: 20).  Data on 4 GiB thin volumes, whose pool has 512 MiB
# and 48 more a round: dedup's allocator moves on through its data device
# and the databases grow, and the first long run (20 rounds) filled a 512
# MiB pool in round 13 of XFS.  A pool 90 % full fails the test as the
# test's own limit, before it can pass for an error of dedup.
# timeout: 900
# shellcheck disable=SC3028 # busybox ash has RANDOM
. /tests/lib.sh

ROUNDS=${SQLITE_ROUNDS:-2}
SEED=${CRASH_SEED:-$(date +%s)}
RANDOM=$SEED
T0=$(date +%s)
log "seed $SEED (CRASH_SEED=$SEED repeats the cut times), $ROUNDS rounds per file system"

thin_data sqdata $((4 * GIB)) $((512 + ROUNDS * 48))
thin_volume sqctl 1 $((4 * GIB))
dm_linear fm $M
dm_linear fd /dev/mapper/sqdata
dm_linear fc /dev/mapper/sqctl
CUT="fm fd fc"
mkdir -p /mnt/dd /mnt/ctl

create() {
	dedup_create sq /dev/mapper/fm /dev/mapper/fd 4096 sha256 \
		commit_period_ms 200
}

dev_of() {	# dd | ctl
	if [ "$1" = dd ]; then echo /dev/mapper/sq; else echo /dev/mapper/fc; fi
}

# The writer: transactions from id $3 on, each acknowledged by a line with
# its id once COMMIT returned.  journal_mode persists in the database;
# synchronous is per connection, so it comes first.
cat > /tmp/sqwriter.sh <<'EOF'
#!/bin/sh
db=$1 mode=$2 first=$3
{
	case $mode in
	wal) echo "PRAGMA synchronous=FULL; PRAGMA journal_mode=WAL;" ;;
	delete) echo "PRAGMA synchronous=EXTRA; PRAGMA journal_mode=DELETE;" ;;
	esac
	awk -v i="$first" 'BEGIN {
		for (;; i++) {
			printf "BEGIN;\n"
			printf "INSERT INTO t(txn, kind, pid, b) SELECT %d, 0, id, b FROM pool WHERE id = %d;\n", i, i % 8
			printf "INSERT INTO t(txn, kind, b, h) SELECT %d, 1, r, sha3(r) FROM (SELECT randomblob(6000) AS r);\n", i
			printf "COMMIT;\nSELECT %d;\n", i
			fflush()
		}
	}'
} | sqlite3 -batch "$db"
EOF

# The acknowledged ids in a writer's output (the pragmas print a line too).
acks() { grep -E '^[0-9]+$' "$1"; }

# check WHICH ROUND: the database on WHICH's mount is whole and holds every
# transaction acknowledged in /tmp/ack.WHICH.
check_db() {
	local which=$1 round=$2 db=/mnt/$1/db out
	out=$(sqlite3 -batch "$db" 'PRAGMA integrity_check;') ||
		fail "round $round ($which): sqlite3 cannot open the database"
	[ "$out" = ok ] || fail "round $round ($which): integrity_check: $out"
	sqlite3 -batch "$db" 'SELECT txn FROM t GROUP BY txn HAVING count(*) = 2;' \
		> /tmp/have.$which ||
		fail "round $round ($which): cannot read the transactions"
	out=$(sqlite3 -batch "$db" "SELECT
		(SELECT count(*) FROM (SELECT txn FROM t GROUP BY txn HAVING count(*) != 2)),
		(SELECT count(*) FROM t WHERE kind = 0 AND b != (SELECT b FROM pool WHERE id = t.pid)),
		(SELECT count(*) FROM t WHERE kind = 1 AND h != sha3(b));")
	[ "$out" = "0|0|0" ] ||
		fail "round $round ($which): partial transactions|bad copies|bad blobs: $out"
	acks /tmp/ack.$which >> /tmp/ackall.$which
	out=$(awk 'FILENAME == ARGV[1] { have[$1] = 1; next } !($1 in have)' \
		/tmp/have.$which /tmp/ackall.$which | head -n 5)
	[ -z "$out" ] ||
		fail "round $round ($which): acknowledged transactions missing:" \
			$out "(of $(wc -l < /tmp/ackall.$which) acknowledged)"
	log "round $round ($which): $(wc -l < /tmp/ackall.$which) acknowledged in all," \
		"$(wc -l < /tmp/have.$which) transactions in the database, all whole"
}

# recover WHICH FS ROUND: re-create (dedup), replay, check the file system.
recover() {
	local which=$1 fs=$2 round=$3 dev
	dev=$(dev_of "$which")
	[ "$which" = ctl ] || create
	fs_recover "$fs" "$dev" /mnt/"$which" "round $round ($which)"
}

# pool_room WHAT: the test's thin pool is less than 90 % full
pool_room() {
	local used
	used=$(dmsetup status pool | awk '{ split($6, d, "/"); print d[1] " " d[2] }')
	set -- "$1" $used
	[ $(($2 * 10)) -lt $(($3 * 9)) ] ||
		fail "$1: the test's thin pool is full ($2 of $3 blocks): a limit of the test, raise its size"
}

rounds=0
create
for fs in ext4 xfs; do
	for which in dd ctl; do
		dev=$(dev_of $which)
		fs_mkfs $fs "$dev" > /tmp/mkfs.out 2>&1 ||
			{ cat /tmp/mkfs.out; fail "mkfs.$fs on $which failed"; }
		mount -t $fs "$dev" /mnt/$which || fail "mount $fs on $which failed"
		sqlite3 -batch /mnt/$which/db "
			CREATE TABLE pool(id INTEGER PRIMARY KEY, b BLOB);
			CREATE TABLE t(txn INTEGER, kind INTEGER, pid INTEGER, b BLOB, h BLOB);
			WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 7)
			INSERT INTO pool SELECT i, randomblob(8192) FROM n;" ||
			fail "cannot create the database on $which"
		: > /tmp/ackall.$which
	done
	sync
	round=0
	while [ $round -lt "$ROUNDS" ]; do
		round=$((round + 1))
		rounds=$((rounds + 1))
		pool_room "round $round ($fs)"
		mode=wal
		[ $((round % 2)) = 1 ] || mode=delete
		pids=
		for which in dd ctl; do
			next=$(awk 'n < $1 + 0 { n = $1 } END { print n + 1 }' \
				/tmp/have.$which 2>/dev/null || echo 1)
			: > /tmp/ack.$which
			setsid sh /tmp/sqwriter.sh /mnt/$which/db $mode $next \
				> /tmp/ack.$which 2> /tmp/writer.$which &
			pids="$pids $!"
		done
		# A random moment, once both writers have committed something.
		n=0
		until [ -n "$(acks /tmp/ack.dd)" ] && [ -n "$(acks /tmp/ack.ctl)" ]; do
			n=$((n + 1))
			[ $n -lt 600 ] || fail "round $round: no commit in 60 s:" \
				"$(cat /tmp/writer.dd /tmp/writer.ctl)"
			usleep 100000
		done
		usleep $(( (200 + RANDOM % 3800) * 1000 ))
		for p in $pids; do
			kill -STOP -"$p" ||
				fail "round $round: a writer died early: $(cat /tmp/writer.*)"
		done
		for d in $CUT; do
			dm_fault $d drop_writes --noflush --nolockfs
		done
		for p in $pids; do
			kill -KILL -"$p"
			wait "$p" 2>/dev/null || true
		done
		log "round $round ($fs, $mode): cut after $(acks /tmp/ack.dd | wc -l) and" \
			"$(acks /tmp/ack.ctl | wc -l) acknowledged commits"
		umount_retry /mnt/dd "round $round (dd)"
		umount_retry /mnt/ctl "round $round (ctl)"
		dmsetup remove sq || fail "round $round: cannot remove the dedup device"
		for d in $CUT; do
			dm_fault $d linear --noflush --nolockfs
		done
		dedup_check /dev/mapper/fm ||
			fail "round $round: dedup_check failed after the cut"
		for which in dd ctl; do
			recover $which $fs $round
			check_db $which "$round ($fs, $mode)"
		done
	done
	umount /mnt/dd
	umount /mnt/ctl
	rm -f /tmp/have.*
done
log "$rounds power cuts survived on dedup and on the control;" \
	"$(($(date +%s) - T0)) s in all"
dmsetup status sq
