#!/bin/bash
# check-system-guest.sh - the guest's half of `make check-system`: run at
# each boot of the Debian guest (scripts/system-image.sh's driver service,
# from the 9p share at /share), it does what /share/plan says for this boot
# and reports to /share/results-BOOT, then reboots, powers off or waits to
# be killed. One report line per check: "ok - what" or "not ok - what",
# "# ..." for diagnostics; "# done" last (scripts/check-system.sh parses it).
#
# /share/plan: "BOOT EXPECT THEN"
#   EXPECT  setup    install the packages and the module, write deduptab and
#                    fstab, format and mount the device, write the first files
#           clean    the last shutdown was clean: the index was saved
#           rebuilt  the last boot was killed: the index must be rebuilt and
#                    every fsynced file intact
#   THEN    reboot   write new files, commit 200 PostgreSQL transactions,
#                    then `systemctl reboot`
#           crash    write fsynced files (listed in /share/fsynced after each
#                    fsync), then keep writing and committing until the
#                    host kills QEMU
#           final    stop PostgreSQL, unmount, detach (saving the index),
#                    dedup_check the metadata, power off
# Beside dd0, a second device dd1 sits on LVM (volume group ddvg on the
# third disk): a 1 MiB metadata LV, enough for its 16 MiB data LV, its
# grow command in /etc/dedup/grow.d/dd1 (lvextend), warn_metadata=100 in
# deduptab so that only the kernel's low-water event can start a grow.
# Boot 1 creates it. Boot 2 grows the data LV to 64 MiB and dd1 with
# `dedup_setup grow` (the metadata is now too small for it), then fills it
# with unique data until the packaged dedup-monitor.service sees the
# low-water event and grows the metadata LV online. Every later boot finds
# dd1 attached at boot, at its grown size, its data intact.
# Files kept across boots on the share: sums (sha256sum lines of every file
# written and synced on a clean path), fsynced (those of the crash boots).
set -u
PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
# LVM would warn of the trace fd (3) on every command
export LVM_SUPPRESS_FD_WARNINGS=1
S=/share
NAME=dd0
META=/dev/disk/by-id/virtio-ddmeta
DATA=/dev/disk/by-id/virtio-dddata
MNT=/mnt/dedup
UNIT=dedup-setup@$NAME.service
MOUNTUNIT=mnt-dedup.mount
# unique data per set: FILES files of FILE_MB MiB
FILES=4
FILE_MB=8
# the device grown by the monitor, on LVM
SMALL=dd1
VG=ddvg
PV=/dev/disk/by-id/virtio-ddlvm
SMALL_MB=24

read -r BOOT EXPECT THEN <"$S/plan" || exit 1
R=$S/results-$BOOT
: >"$R"
# the trace and stray errors go to the share, not into the checks' output
exec 2>>"$S/guest-$BOOT.log" 3>&2
BASH_XTRACEFD=3
set -x

say() { echo "$*" >>"$R"; echo "check-system: $*" >/dev/console; }
ok() { say "ok - $*"; }
notok() { say "not ok - $*"; }
diag() { sed 's/^/# /' | head -n 40 >>"$R"; }
# check WHAT CMD...: ok if CMD succeeds, else not ok with its output.
check() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$what"
		[ -z "$out" ] || echo "$out" | tail -n 3 | diag
		return 0
	fi
	notok "$what"
	echo "$out" | diag
	return 1
}
finish() {
	say "# done"
	sync
	case $1 in
	reboot) systemctl reboot --no-block ;;
	poweroff) systemctl poweroff --no-block ;;
	esac
	exit 0
}

# stat_of FIELD [DEVICE]: a field of the stats message of DEVICE (dd0)
stat_of() { dmsetup message "${2:-$NAME}" 0 stats 2>/dev/null | sed -n "s/^$1=//p"; }

# ---- what every boot after the first checks ------------------------------

boot_done() {
	local st
	st=$(timeout 600 systemctl is-system-running --wait 2>&1)
	echo "system state: $st"
	case $st in
	running|degraded) return 0 ;;
	esac
	return 1
}

no_failed_units() {
	local f
	f=$(systemctl list-units --failed --no-legend --plain)
	[ -z "$f" ] && return 0
	echo "$f"
	echo "$f" | awk '{ print $1 }' | xargs systemctl status --no-pager 2>&1 | head -n 40
	return 1
}

device_up() {
	systemctl is-active -q "$UNIT" || { systemctl status --no-pager "$UNIT"; return 1; }
	[ -b "/dev/mapper/$NAME" ] || { echo "no /dev/mapper/$NAME"; return 1; }
	[ -b "/dev/disk/by-id/dm-name-$NAME" ] || { echo "no /dev/disk/by-id/dm-name-$NAME"; ls -l /dev/disk/by-id; return 1; }
	dmsetup table "$NAME" | grep -q ' dedup ' || { dmsetup table "$NAME"; return 1; }
}

mounted() {
	local m
	m=$(findmnt -n -o SOURCE,FSTYPE "$MNT")
	echo "$MNT: $m"
	[ "$m" = "/dev/mapper/$NAME ext4" ] || return 1
	systemctl is-active -q "$MOUNTUNIT"
}

# monotonic time a unit became active (0: never)
active_at() { systemctl show -p ActiveEnterTimestampMonotonic --value "$1"; }

before_local_fs() {
	local s m l
	s=$(active_at "$UNIT") m=$(active_at "$MOUNTUNIT") l=$(active_at local-fs.target)
	echo "active at (us): $UNIT $s, $MOUNTUNIT $m, local-fs.target $l"
	[ "$s" -gt 0 ] && [ "$m" -gt 0 ] && [ "$l" -gt 0 ] &&
		[ "$s" -le "$m" ] && [ "$m" -le "$l" ]
}

# The index_state the probe (ExecStartPost, written at setup) read right
# after this boot's attach.
attach_state() {
	journalctl -b -u "$UNIT" -o cat | sed -n 's/^index_state=//p' | tail -n1
}

index_at_attach() {
	local want=$1 st
	st=$(attach_state)
	echo "index_state right after attach: ${st:-none}; want $want"
	journalctl -b -u "$UNIT" -o cat | grep -E '^(index_|unique_blocks)'
	[ -n "$st" ] && echo "$st" | grep -Eqx "$want"
}

index_ready() {
	local i st
	for i in $(seq 1 300); do
		st=$(stat_of index_state)
		[ "$st" = ready ] && { echo "ready after ~$i s"; return 0; }
		sleep 1
	done
	echo "index_state still ${st:-?} after 300 s"
	return 1
}

sums_ok() {
	[ -s "$1" ] || { echo "$1 is empty"; return 1; }
	(cd / && sha256sum --quiet -c "$1")
}

# The journal of this boot (and, for the shutdown, of the last one) has
# nothing from our units worse than info, no error output of dedup_setup,
# no kernel error about dedup or device-mapper (but the taint notice of an
# unsigned out-of-tree module), and no word from the generator.
journal_clean() {
	local b=$1 out
	out=$({
		journalctl -b "$b" -p warning -u "$UNIT" -o short-monotonic --no-pager -q
		journalctl -b "$b" -u "$UNIT" -o short-monotonic --no-pager -q | grep -E 'dedup_setup: |Failed|failed'
		journalctl -b "$b" -k -p err -o short-monotonic --no-pager -q |
			grep -Ei 'dedup|device-mapper' | grep -v 'module verification failed'
		journalctl -b "$b" -o short-monotonic --no-pager -q | grep -E 'dedup-setup-generator'
	} 2>&1)
	[ -z "$out" ] || { echo "$out"; return 1; }
}

last_detach_saved() {
	local out
	out=$(journalctl -b -1 -u "$UNIT" -o cat --no-pager -q)
	echo "$out" | tail -n 5
	echo "$out" | grep -qx "$NAME: detached, index saved"
}

# hits_grow SRC DST: copying SRC's files to DST makes dedup_hits grow by at
# least 90 % of their blocks.
hits_grow() {
	local src=$1 dst=$2 h0 h1 blocks bs
	h0=$(stat_of dedup_hits) bs=$(stat_of data_block_size)
	mkdir -p "$dst" && cp "$src"/* "$dst"/ && sync || return 1
	h1=$(stat_of dedup_hits)
	blocks=$(($(du -b -c "$src"/* | tail -n1 | cut -f1) / bs))
	echo "dedup_hits $h0 -> $h1 copying $blocks blocks of $src"
	[ -n "$h0" ] && [ -n "$h1" ] && [ $((h1 - h0)) -ge $((blocks * 9 / 10)) ]
}

# write_set DIR: FILES new files of random data, synced, added to sums.
write_set() {
	local d=$1 i
	mkdir -p "$d" || return 1
	for i in $(seq 1 $FILES); do
		head -c "${FILE_MB}M" /dev/urandom >"$d/f$i" || return 1
	done
	sync || return 1
	sha256sum "$d"/f* >>"$S/sums"
}

# the newest set written on a clean path, for the rewrite
last_set() { sed -n 's|.*  \(/mnt/dedup/set-[0-9]*\)/.*|\1|p' "$S/sums" | tail -n1; }

common() {
	check "boot $BOOT: the boot finished (systemctl is-system-running --wait)" boot_done
	check "boot $BOOT: $UNIT active, /dev/mapper/$NAME and /dev/disk/by-id/dm-name-$NAME there" device_up
	check "boot $BOOT: $MNT mounted from /dev/mapper/$NAME (ext4, fstab)" mounted
	check "boot $BOOT: attached, then mounted, before local-fs.target" before_local_fs
	case $EXPECT in
	clean)
		check "boot $BOOT: the last shutdown detached $NAME and saved the index" last_detach_saved
		check "boot $BOOT: index_state loading or ready at attach, never rebuilding" index_at_attach 'loading|ready'
		check "boot $BOOT: journal of the last shutdown clean for our units" journal_clean -1 ;;
	rebuilt)
		check "boot $BOOT: index_state rebuilding at attach after the hard reset" index_at_attach rebuilding
		check "boot $BOOT: fsynced files of the killed boots intact" sums_ok "$S/fsynced" ;;
	esac
	check "boot $BOOT: index_state reaches ready" index_ready
	check "boot $BOOT: files of earlier boots intact" sums_ok "$S/sums"
	check "boot $BOOT: rewriting old files makes dedup_hits grow" hits_grow "$(last_set)" "$MNT/copy-$BOOT"
	pg_checks
	dmsetup message "$NAME" 0 stats | grep -E '^(index_|unique|mapped|dedup_hits|data_used)' | diag
}

# ---- dd1: the low-water event under systemd -------------------------------

small_stat() { stat_of "$1" "$SMALL"; }

# boot 1: ddvg with 1 MiB extents, dd1's LVs, grow command and deduptab line
lvm_setup() {
	pvcreate -q "$PV" && vgcreate -q -s 1M "$VG" "$PV" &&
		lvcreate -q -y -L 1M -n meta1 "$VG" &&
		lvcreate -q -y -L 16M -n data1 "$VG" || return 1
	mkdir -p /etc/dedup/grow.d
	cat >/etc/dedup/grow.d/$SMALL <<-EOF
	#!/bin/sh
	# make check-system: the monitor's grow command for $SMALL
	[ "\$2" = data ] && exec lvextend -q -L +64M $VG/data1
	exec lvextend -q -L +16M $VG/meta1
	EOF
	chmod 0755 /etc/dedup/grow.d/$SMALL
	echo "$SMALL /dev/$VG/meta1 /dev/$VG/data1 format,warn_metadata=100" >>/etc/deduptab
	systemctl daemon-reload && systemctl start "dedup-setup@$SMALL.service" &&
		dmsetup table "$SMALL" | grep -q ' dedup '
}

# monitor_saw PATTERN: the monitor's journal of this boot has a line
# matching PATTERN within 60 s
monitor_saw() {
	local i
	for i in $(seq 1 60); do
		journalctl -b -u dedup-monitor -o cat --no-pager -q | grep -Eq "$1" && return 0
		sleep 1
	done
	journalctl -b -u dedup-monitor -o cat --no-pager -q | tail -n 20
	return 1
}

monitor_watches() {
	systemctl is-active -q dedup-monitor || { systemctl status --no-pager dedup-monitor; return 1; }
	monitor_saw "^$SMALL: monitoring: mode rw"
}

# boot 2: the data LV grows, then dd1 with it (as an admin would after
# lvextend); dedup_setup warns that the metadata is now too small
grow_data() {
	local out
	lvextend -q -L 64M "$VG/data1" || return 1
	out=$(dedup_setup grow "$SMALL" 2>&1) || { echo "$out"; return 1; }
	echo "$out"
	echo "$out" | grep -q "$SMALL: warning: metadata device .* is too small" &&
		[ "$(blockdev --getsize64 "/dev/mapper/$SMALL")" = $((64 << 20)) ]
}

# boot 2: unique data, 1 MiB at a time, until the metadata grows; a write
# refused with ENOSPC (out_of_metadata_space before the grow) is retried
# for up to 120 s.
fill_small() {
	local dev=/dev/mapper/$SMALL n=0 tries err
	small_stat metadata_total_blocks >"$S/dd1.mtotal0"
	head -c "${SMALL_MB}M" /dev/urandom >/tmp/fill || return 1
	while [ $n -lt $SMALL_MB ]; do
		tries=0
		until err=$(dd if=/tmp/fill of="$dev" bs=1M skip=$n seek=$n count=1 \
			oflag=direct status=none 2>&1); do
			echo "MiB $n: $err"
			case $err in *"No space left on device"*) ;; *) return 1 ;; esac
			tries=$((tries + 1))
			[ $tries -lt 120 ] || return 1
			sleep 1
		done
		n=$((n + 1))
	done
	sha256sum </tmp/fill >"$S/dd1.sha"
	rm -f /tmp/fill
}

grown() {
	local m0 m1 lv
	m0=$(cat "$S/dd1.mtotal0") m1=$(small_stat metadata_total_blocks)
	lv=$(lvs --noheadings --units m -o lv_size "$VG/meta1" | tr -d ' ')
	echo "metadata_total_blocks ${m0:-?} -> ${m1:-?}, $VG/meta1 $lv, mode $(small_stat mode)"
	[ -n "$m0" ] && [ -n "$m1" ] && [ "$m1" -gt "$m0" ] && [ "$lv" = 17.00m ] &&
		[ "$(small_stat mode)" = rw ] || return 1
	echo "$m1" >"$S/dd1.mtotal"
}

small_intact() {
	[ -s "$S/dd1.sha" ] || { echo "no dd1.sha"; return 1; }
	[ "$(dd if="/dev/mapper/$SMALL" bs=1M count=$SMALL_MB iflag=direct status=none |
		sha256sum)" = "$(cat "$S/dd1.sha")" ]
}

# every boot after 2: dd1 attached at boot from LVM at its grown size
small_back() {
	local m
	systemctl is-active -q "dedup-setup@$SMALL.service" ||
		{ systemctl status --no-pager "dedup-setup@$SMALL.service"; return 1; }
	[ -s "$S/dd1.mtotal" ] || { echo "boot 2 did not grow $SMALL"; return 1; }
	m=$(small_stat metadata_total_blocks)
	echo "metadata_total_blocks ${m:-?}, after the grow $(cat "$S/dd1.mtotal")"
	[ "$m" = "$(cat "$S/dd1.mtotal")" ] && small_intact
}

lowwater() {
	check "boot $BOOT: dedup-monitor.service active, watching $SMALL" monitor_watches
	check "boot $BOOT: lvextend $VG/data1 to 64 MiB, dedup_setup grow $SMALL" grow_data
	check "boot $BOOT: $SMALL filled with $SMALL_MB MiB of unique data" fill_small
	check "boot $BOOT: the monitor logged the kernel's low-water event for $SMALL" \
		monitor_saw "^$SMALL: dm event [0-9]+: metadata low-water mark reached"
	check "boot $BOOT: the monitor ran grow.d/$SMALL (lvextend) and reloaded $SMALL" \
		monitor_saw "^$SMALL: reloaded after the grow command"
	check "boot $BOOT: $SMALL took the grown metadata LV online" grown
	check "boot $BOOT: $SMALL's data reads back" small_intact
}

# ---- PostgreSQL on dd0 -----------------------------------------------------
# Debian's postgresql-15, its cluster 15/main moved onto ext4 on dd0 at boot
# 1. A client commits transactions of two rows each: a copy of one of the 8
# KiB blobs of the table pool (a duplicate for dm-dedup) and a 6000-byte
# random blob with its md5. psql prints "pg-ack TXN end" only after COMMIT
# returned, to the second serial port, which QEMU writes to a file on the
# host (scripts/check-system.sh collects them into /share/pg-acked after the
# boot): an acknowledgement leaves the guest before the kill or never.
# Transaction ids are BOOT * 1000000 + n, so every boot's are its own.

PGV=15
PGBIN=/usr/lib/postgresql/$PGV/bin
PGDATA=$MNT/pg
PGUNIT=postgresql@$PGV-main.service
ACKTTY=/dev/ttyS1

pg() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d dedup "$@"; }

# boot 1: cluster 15/main recreated on dd0; its unit needs the mount; the
# schema
pg_setup() {
	systemctl stop postgresql.service || return 1
	# the package made 15/main; whether it runs depends on the image
	pg_dropcluster --stop $PGV main 2>/dev/null || pg_dropcluster $PGV main ||
		return 1
	pg_createcluster -d "$PGDATA" $PGV main >/dev/null || return 1
	# crash recovery with the metadata disk's reads throttled can take
	# minutes under TCG: pg_ctl waits 60 s by default
	sed -i "s/^pg_ctl_options = .*/pg_ctl_options = '-t 900'/" \
		/etc/postgresql/$PGV/main/pg_ctl.conf || return 1
	pg_conftool $PGV main set synchronous_commit \
		"$(cat "$S/pg-synchronous-commit" 2>/dev/null || echo on)" || return 1
	mkdir -p "/etc/systemd/system/$PGUNIT.d"
	cat >"/etc/systemd/system/$PGUNIT.d/check-system.conf" <<-EOF
	# make check-system: the cluster is on dd0
	[Unit]
	RequiresMountsFor=$PGDATA
	[Service]
	TimeoutStartSec=900
	EOF
	systemctl daemon-reload && systemctl start "$PGUNIT" || return 1
	runuser -u postgres -- createdb dedup || return 1
	pg <<-'EOF'
	CREATE TABLE pool (k int PRIMARY KEY, b bytea NOT NULL);
	ALTER TABLE pool ALTER b SET STORAGE EXTERNAL;
	INSERT INTO pool SELECT k, (SELECT decode(string_agg(md5(random()::text || k || s), ''), 'hex')
		FROM generate_series(1, 512) s) FROM generate_series(0, 7) k;
	CREATE TABLE t (txn bigint, kind int, b bytea NOT NULL, h text NOT NULL,
		PRIMARY KEY (txn, kind));
	ALTER TABLE t ALTER b SET STORAGE EXTERNAL;
	EOF
}

# pg_client [COUNT]: COUNT transactions (default: until killed); every
# acknowledgement goes to the serial port (a tty: psql's output is line
# buffered there)
pg_client() {
	stty -F $ACKTTY 115200 -echo 2>/dev/null
	awk -v from=$((BOOT * 1000000)) -v count="${1:-0}" -v q="'" 'BEGIN {
		for (i = from; count == 0 || i < from + count; i++) {
			print "BEGIN;"
			printf "INSERT INTO t SELECT %d, 0, b, md5(b) FROM pool WHERE k = %d;\n", i, i % 8
			printf "INSERT INTO t SELECT %d, 1, b, md5(b) FROM (SELECT decode(string_agg(md5(random()::text || s), %s%s), %shex%s) AS b FROM generate_series(1, 375) s) u;\n", i, q, q, q, q
			print "COMMIT;"
			printf "\\echo pg-ack %d end\n", i
		}
	}' | pg >$ACKTTY
}

# this boot's transactions in the table
pg_count() { pg -At -c "SELECT count(DISTINCT txn) FROM t WHERE txn >= $((BOOT * 1000000))"; }

pg_commits() {
	local n
	pg_client "$1" || return 1
	n=$(pg_count)
	echo "$n transactions of this boot in the table"
	[ "$n" = "$1" ]
}

pg_up() {
	systemctl is-active -q "$PGUNIT" || { systemctl status --no-pager "$PGUNIT"; return 1; }
	runuser -u postgres -- psql -X -At -c "SHOW data_directory" | grep -qx "$PGDATA"
}

# every acknowledged commit (/share/pg-acked) is there with both rows, no
# transaction is there in part, every blob equals its pool copy or its md5
pg_intact() {
	local have=/tmp/pg-have partial bad miss
	pg -At -c "SELECT txn FROM t GROUP BY txn HAVING count(*) = 2" >$have || return 1
	partial=$(pg -At -c "SELECT count(*) FROM (SELECT txn FROM t GROUP BY txn HAVING count(*) <> 2) p") || return 1
	bad=$(pg -At -c "SELECT count(*) FROM t LEFT JOIN pool ON pool.k = t.txn % 8
		WHERE md5(t.b) <> t.h OR (t.kind = 0 AND t.b IS DISTINCT FROM pool.b)") || return 1
	touch "$S/pg-acked"
	miss=$(awk 'FILENAME == ARGV[1] { have[$1] = 1; next }
		!($1 in have) { m++; if (m <= 10) l = l " " $1 }
		END { print m + 0 l }' $have "$S/pg-acked")
	echo "$(wc -l <"$S/pg-acked") acknowledged commits checked, $(wc -l <$have) in the table;" \
		"missing: $miss; in part: $partial; bad blobs: $bad"
	[ "$miss" = 0 ] && [ "$partial" = 0 ] && [ "$bad" = 0 ]
}

pg_amcheck_ok() {
	runuser -u postgres -- "$PGBIN/pg_amcheck" --install-missing --heapallindexed -d dedup
}

pg_checks() {
	check "boot $BOOT: PostgreSQL up on $PGDATA ($PGUNIT)" pg_up
	check "boot $BOOT: every acknowledged PostgreSQL commit there, none in part, blobs intact" pg_intact
	check "boot $BOOT: pg_amcheck --heapallindexed clean" pg_amcheck_ok
}

# ---- setup ---------------------------------------------------------------

install_tools() {
	dpkg -i "$S"/dm-dedup-tools_*.deb || return 1
	dpkg-query -W -f='${Status}\n' dm-dedup-tools | grep -qx 'install ok installed'
	[ -x /usr/lib/systemd/system-generators/dedup-setup-generator ] ||
		[ -x /lib/systemd/system-generators/dedup-setup-generator ]
}

install_module() {
	local k ko
	k=$(uname -r)
	install -D -m 0644 "$S/dm-dedup.ko" "/lib/modules/$k/updates/dm-dedup.ko" || return 1
	depmod -a "$k" || return 1
	ko=$(modinfo -n dm-dedup) || return 1
	echo "dm-dedup: $ko, vermagic $(modinfo -F vermagic dm-dedup)"
	[ "$ko" = "/lib/modules/$k/updates/dm-dedup.ko" ] &&
		modinfo -F vermagic dm-dedup | grep -q "^$k "
}

configure() {
	# The probe: the index state right after each attach, in the journal.
	mkdir -p /etc/systemd/system/dedup-setup@.service.d
	cat >/etc/systemd/system/dedup-setup@.service.d/check-system-probe.conf <<-EOF
	# make check-system: index_state right after the attach (a read-only message)
	[Service]
	ExecStartPost=-/sbin/dmsetup message %i 0 stats
	EOF
	echo "$NAME $META $DATA format" >/etc/deduptab
	systemctl daemon-reload
}

generated() {
	local p
	p=$(systemctl show -p FragmentPath --value "$UNIT")
	echo "FragmentPath=$p"
	case $p in /run/systemd/generator*/*) ;; *) return 1 ;; esac
	systemctl cat "$UNIT" | grep -q 'Generated by dedup-setup-generator' &&
		systemctl cat "$UNIT" | grep -q 'ExecStop=.*detach'
}

format_mount() {
	mkfs.ext4 -q -F -E nodiscard "/dev/mapper/$NAME" || return 1
	mkdir -p "$MNT"
	echo "/dev/mapper/$NAME $MNT ext4 defaults 0 2" >>/etc/fstab
	systemctl daemon-reload
	systemctl start "$MOUNTUNIT" || return 1
	mounted
}

setup() {
	: >"$S/sums"
	: >"$S/fsynced"
	check "boot 1: dpkg -i dm-dedup-tools (generator installed)" install_tools
	check "boot 1: host-built dm-dedup.ko in updates/, depmod finds it" install_module
	check "boot 1: deduptab written, daemon-reload" configure
	check "boot 1: the generator made $UNIT from /etc/deduptab" generated
	check "boot 1: systemctl start $UNIT formats and attaches" systemctl start "$UNIT"
	udevadm settle
	check "boot 1: $UNIT active, /dev/mapper/$NAME and /dev/disk/by-id/dm-name-$NAME there" device_up
	check "boot 1: mkfs.ext4 on /dev/mapper/$NAME, fstab entry mounted" format_mount
	check "boot 1: $SMALL on LVM ($VG), 1 MiB metadata, attached by its unit" lvm_setup
	check "boot 1: PostgreSQL $PGV's cluster moved to $PGDATA, schema created" pg_setup
}

# ---- then ----------------------------------------------------------------

crash_writes() {
	local d=$MNT/fsynced-$BOOT i
	mkdir -p "$d" && sync "$MNT" || return 1
	for i in $(seq 1 8); do
		dd if=/dev/urandom of="$d/f$i" bs=1M count=2 conv=fsync status=none || return 1
		sync "$d" || return 1
		# listed only once durable
		sha256sum "$d/f$i" >>"$S/fsynced"
	done
}

case $EXPECT in
setup) setup ;;
*) common ;;
esac
case $BOOT in
1) ;;
2) lowwater ;;
*) check "boot $BOOT: $SMALL attached at boot from LVM, grown, its data intact" small_back ;;
esac

case $THEN in
reboot)
	check "boot $BOOT: new files written and synced" write_set "$MNT/set-$BOOT"
	check "boot $BOOT: 200 PostgreSQL commits acknowledged" pg_commits 200
	check "boot $BOOT: systemctl --failed is empty" no_failed_units
	check "boot $BOOT: journal of this boot clean for our units" journal_clean 0
	finish reboot ;;
crash)
	check "boot $BOOT: systemctl --failed is empty" no_failed_units
	check "boot $BOOT: journal of this boot clean for our units" journal_clean 0
	check "boot $BOOT: fsynced files written" crash_writes
	# PostgreSQL commits and unsynced writes in flight when QEMU is
	# killed: new data and copies
	pg_client </dev/null >/dev/null 2>&1 &
	(
		i=0
		while :; do
			i=$((i + 1))
			head -c 4M /dev/urandom >"$MNT/fsynced-$BOOT/junk$i"
			cp "$(last_set)/f1" "$MNT/fsynced-$BOOT/copy$i"
		done
	) </dev/null >/dev/null 2>&1 &
	sleep 3
	# killed only once some commits were acknowledged
	for i in $(seq 1 120); do
		[ "$(pg_count 2>/dev/null)" -ge 20 ] 2>/dev/null && break
		sleep 1
	done
	say "# crash-ready"
	sleep 3600 ;;
final)
	check "boot $BOOT: systemctl --failed is empty" no_failed_units
	check "boot $BOOT: journal of this boot clean for our units" journal_clean 0
	check "boot $BOOT: systemctl stop $PGUNIT" systemctl stop "$PGUNIT"
	check "boot $BOOT: umount $MNT" umount "$MNT"
	check "boot $BOOT: systemctl stop $UNIT detaches and saves the index" systemctl stop "$UNIT"
	check "boot $BOOT: $NAME is gone" sh -c "! dmsetup info $NAME"
	check "boot $BOOT: the detach said the index was saved" sh -c \
		"journalctl -b -u $UNIT -o cat | grep -qx '$NAME: detached, index saved'"
	check "boot $BOOT: the packaged dedup_check passes on the detached metadata" dedup_check "$META"
	finish poweroff ;;
esac
