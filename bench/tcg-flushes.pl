#!/usr/bin/perl
# tcg-flushes.pl - how many times QEMU has flushed its TCG translation cache.
#
# Usage: bench/tcg-flushes.pl SOCKET
#   SOCKET  a QEMU human monitor on a unix socket (scripts/vm-lib.sh sets
#           one up when VM_MONITOR names a path)
# Prints the "TB flush count" of `info jit`, or nothing (exit 1) when the
# monitor does not answer within 10 s.
#
# Why it matters: a flush stops every vCPU while the cache is emptied, and
# then all hot code is translated anew, so the whole guest stands still for
# ~0.1 s: a write gap no target caused.  The benchmarks report the count so
# a gap can be told from such a stall.  `info jit` walks every translated
# block: call it between rows, not while one runs.
use strict;
use warnings;
use IO::Socket::UNIX;

my $path = shift or die "usage: tcg-flushes.pl SOCKET\n";
my $sock = IO::Socket::UNIX->new(Peer => $path) or exit 1;
my $out = '';

# Read until the monitor's prompt; give up after 10 s of silence.
sub prompt {
	my $rin = '';
	vec($rin, fileno($sock), 1) = 1;
	while ($out !~ /\(qemu\) $/) {
		select(my $r = $rin, undef, undef, 10) or return 0;
		sysread($sock, my $buf, 65536) or return 0;
		$out .= $buf;
	}
	return 1;
}

prompt() or exit 1;
$out = '';
syswrite($sock, "info jit\n");
prompt() or exit 1;
$out =~ /TB flush count\s+(\d+)/ or exit 1;
print "$1\n";
