#!/usr/bin/perl
# Net-SNMP's own library (SNMP.pm, Debian package libsnmp-perl) walking exactly what
# `cmdb-agent snmp inventory` walks, in one process and one session: the walks are read from
# standard input, one per line, as `cmdb-agent snmp subtrees --columns` prints them (the OIDs
# of a line are walked side by side by the agent).
#
#   --side-by-side  one GETBULK walk per line with all its OIDs side by side, as the agent
#                   does (the same requests);
#   (default)       one GETBULK walk per OID: every column walked on its own, as
#                   snmpbulkwalk would, but in one process.
#   --follow        every walk by follow() below instead of SNMP.pm's bulkwalk (for tests).
#
# The walks are SNMP.pm's bulkwalk (C); one that the agent answers out of order, which it
# cannot follow, is done again by follow(), a getbulk loop that follows the agent's order.
# Prints one line: `oids=N secs=S followed=F`, N the values walked, S the seconds from before
# the session was opened (SNMPv3 engine discovery included) to the end of the last walk (the
# start-up of perl and of the library is not in it), F the walks done again by follow().
#
# Usage: bench_snmp_netsnmp.pl [--side-by-side] [--follow] --reps N --timeout SECS --retries N PEER
#   PEER as Net-SNMP writes it, e.g. udp:127.0.0.1:1161. Credentials from the environment:
#   BENCH_COMMUNITY (v2c), or BENCH_V3_USER, BENCH_V3_AUTH_PROTO, BENCH_V3_AUTH,
#   BENCH_V3_PRIV_PROTO, BENCH_V3_PRIV (authPriv).
use strict;
use warnings;
use Getopt::Long;
use Time::HiRes qw(time);

BEGIN { $ENV{MIBS} = ''; $ENV{MIBDIRS} = ''; }    # numeric OIDs only: no MIB parsing
use SNMP;

my ($side_by_side, $follow, $reps, $timeout, $retries) = (0, 0, 25, 5, 1);
GetOptions(
    'side-by-side' => \$side_by_side,
    'follow'       => \$follow,
    'reps=i'       => \$reps,
    'timeout=f'    => \$timeout,
    'retries=i'    => \$retries,
) or die "bad options\n";
my $peer = shift @ARGV
    or die "usage: $0 [--side-by-side] [--follow] --reps N --timeout S --retries N PEER\n";

my @walks;
while (my $line = <STDIN>) {
    my @oids = split ' ', $line;
    next unless @oids;
    if ($side_by_side) { push @walks, [@oids] } else { push @walks, [$_] for @oids }
}

$SNMP::use_numeric = 1;
my %access;
if (defined $ENV{BENCH_COMMUNITY}) {
    %access = (Version => '2c', Community => $ENV{BENCH_COMMUNITY});
} else {
    %access = (
        Version   => 3,
        SecLevel  => 'authPriv',
        SecName   => $ENV{BENCH_V3_USER},
        AuthProto => $ENV{BENCH_V3_AUTH_PROTO},
        AuthPass  => $ENV{BENCH_V3_AUTH},
        PrivProto => $ENV{BENCH_V3_PRIV_PROTO},
        PrivPass  => $ENV{BENCH_V3_PRIV},
    );
}

my $started = time;
my $session = SNMP::Session->new(
    DestHost      => $peer,
    %access,
    Timeout       => int($timeout * 1_000_000),
    Retries       => $retries,
    UseNumeric    => 1,
    UseLongNames  => 1,
    NonIncreasing => 1,    # see bulkwalk()
) or die "cannot open a session to $peer\n";
my ($oids, $followed) = (0, 0);
for my $walk (@walks) {
    my $n = $follow ? undef : bulkwalk(@$walk);
    unless (defined $n) {
        $followed++ unless $follow;
        $n = follow(@$walk);
    }
    $oids += $n;
}
printf "oids=%d secs=%.6f followed=%d\n", $oids, time - $started, $followed;

# SNMP.pm's bulkwalk (in C): ends each OID's walk where it leaves its subtree. It cannot
# follow an agent that answers out of order (it asks again from the last increasing OID, for
# ever), so it is told to stop there (NonIncreasing): undef, and the walk is done again by
# follow().
sub bulkwalk {
    my @result = $session->bulkwalk(0, $reps, SNMP::VarList->new(map { [$_] } @_));
    if ($session->{ErrorNum}) {
        return undef if $session->{ErrorStr} =~ /not increasing/i;
        die "bulkwalk @_: $session->{ErrorStr}\n";
    }
    my $n = 0;
    for my $column (@result) {
        $n += grep { $_->[3] !~ /^(ENDOFMIBVIEW|NOSUCHOBJECT|NOSUCHINSTANCE)$/ } @$column;
    }
    return $n;
}

# The same walk by SNMP.pm's getbulk, each OID continued after the last one the agent
# gave, in its own order (as snmpbulkwalk -Cc and cmdb-agent do); an OID's walk ends where
# it leaves its subtree, at an exception, or when an answer brings nothing new.
sub follow {
    my @roots = map { /^\./ ? $_ : ".$_" } @_;    # SNMP.pm names OIDs with a leading dot
    my @cursor = @roots;
    my %seen;
    my @active = (0 .. $#roots);
    while (@active) {
        my $vl = SNMP::VarList->new(map { [$cursor[$_]] } @active);
        $session->getbulk(0, $reps, $vl);
        die "getbulk @roots: $session->{ErrorStr}\n" if $session->{ErrorNum};
        my $n = @active;
        my (@ended, @new);
        for my $k (0 .. $#$vl) {
            my $slot = $k % $n;
            next if $ended[$slot];
            my $vb = $vl->[$k];
            my $i = $active[$slot];
            my $oid = length $vb->[1] ? "$vb->[0].$vb->[1]" : $vb->[0];
            if ($vb->[3] =~ /^(ENDOFMIBVIEW|NOSUCHOBJECT|NOSUCHINSTANCE)$/
                || index($oid, "$roots[$i].") != 0) {
                $ended[$slot] = 1;
                next;
            }
            $cursor[$i] = $oid;
            $new[$slot] = 1 unless $seen{$oid}++;
        }
        @active = map { $active[$_] } grep { !$ended[$_] && $new[$_] } 0 .. $n - 1;
    }
    return scalar keys %seen;
}
