#!/usr/bin/env python3
"""SNMP poller benchmarks (figures in the README), on equal terms.

1. Each device (a recording served by snmpsim, or Debian's snmpd over v2c and SNMPv3
   authPriv) is inventoried by three tools, in turn, RUNS times (the order rotates each run):
   - `cmdb-agent snmp inventory`;
   - Net-SNMP walking exactly what the agent walks (`cmdb-agent snmp subtrees --columns`: the
     15 subtrees walked whole, and the 14 ifTable and 5 ifXTable columns the parsers read)
     through its own library (SNMP.pm, Debian's libsnmp-perl: its bulkwalk, in C) in ONE
     process and ONE session (scripts/bench_snmp_netsnmp.pl), twice: one GETBULK walk per
     column, as snmpbulkwalk would walk them ("per column"), and the walks side by side as
     the agent groups them ("side by side", the same requests as the agent: a control);
   - FusionInventory's network inventory (`fusioninventory-netinventory`, Debian's
     fusioninventory-agent-task-network), which reads what it needs for its own inventory.
   Every tool talks to the device through the same UDP proxy (in this process), which counts
   the datagrams each way, the values in the answers (v2c; SNMPv3 answers are encrypted) and
   the round-trips, and timestamps every datagram.
   Time of a tool = from its first request to the last answer (the "wire time"): process
   start-up, library loading and printing are outside it for every tool alike. Each tool's
   whole process time is printed beside it, and its own time: the gaps from an answer to
   its next request (the rest is the responder's and the proxy's).
   Two things snmpsim cannot do are made up for: FusionInventory's requests to Cisco VLAN
   contexts (community@vlan) are answered by the proxy with no data (snmpsim has no such
   contexts; each would wait for a timeout), and SNMP.pm's bulkwalk, which cannot follow an
   agent answering out of order, is replaced for such a walk by a getbulk loop that follows
   it (as snmpbulkwalk -Cc and the agent do); both are noted under the table.
   Ratio = the median over RUNS runs (FAST_RUNS for a device that every tool inventories in
   under a second) of the agent's wire time / the other tool's in the same run (the tools run
   back to back, so a slower phase of the machine weighs on both); target <= 1.0 for each
   device against Net-SNMP per column and against FusionInventory.
2. snmpd over SNMPv3 authPriv: a full device inventory, whole process, median of RUNS (target
   <= 0.2 s).
3. 200 targets polled concurrently (`cmdb-agent snmp poll`, concurrency 200) against the
   snmpd instances: wall time and the agent's peak RSS (/usr/bin/time) (target <= 30 MB).

--smoke (for CI): snmpd over v2c and v3 only, parts 2 and 3 left out. Not snmpsim: there the
agent and Net-SNMP per column are within run-to-run noise of each other (see the README), so
a smoke run would pass or fail by chance.
Exits 1 when a target is missed.

Usage: bench_snmp.py AGENT SNMPSIM_PORT SNMPD_PORT [SNMPD_PORT...]
       bench_snmp.py --smoke AGENT SNMPD_PORT
"""
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# 9: on snmpsim the agent's lead over Net-SNMP per column (5-17 %) is about one run's noise.
RUNS = int(os.environ.get("RUNS", "9"))
FAST_RUNS = 9
REPS = 25
TIMEOUT = 5
RECORDINGS = [
    ("cisco-c3560", "Cisco C3560"),
    ("cisco-n5000", "Cisco Nexus 5000"),
    ("hpe-procurve-516733-b21", "HPE ProCurve 6120XG"),
    ("bdcom-s5612", "BDCOM S5612 (out of order)"),
    ("juniper-mx960-12-3r6-6", "Juniper MX960 12.3"),
    ("juniper-mx960-13-3r9-13", "Juniper MX960 13.3"),
    ("juniper-mx960-16-1r6-7-a", "Juniper MX960 16.1 a"),
    ("juniper-mx960-16-1r6-7-b", "Juniper MX960 16.1 b"),
    ("linux-unknown-006", "Linux (HOST-RESOURCES)"),
]
V3_USER, V3_AUTH, V3_PRIV = "cmdb-v3", "cmdb-auth-pass", "cmdb-priv-pass"
V3_AGENT = ["--v3-user", V3_USER, "--auth-protocol", "sha", "--priv-protocol", "aes"]
# The agent takes no secret on its command line: the keys and communities go through the
# environment.
V3_AGENT_ENV = {"CMDB_SNMP_AUTH_KEY": V3_AUTH, "CMDB_SNMP_PRIV_KEY": V3_PRIV}
V3_NETSNMP_ENV = {"BENCH_V3_USER": V3_USER, "BENCH_V3_AUTH_PROTO": "SHA", "BENCH_V3_AUTH": V3_AUTH,
                  "BENCH_V3_PRIV_PROTO": "AES", "BENCH_V3_PRIV": V3_PRIV}
V3_FUSION = (f"version:3,username:{V3_USER},authprotocol:sha,authpassword:{V3_AUTH},"
             f"privprotocol:aes,privpassword:{V3_PRIV}")
TOOLS = ["cmdb-agent", "Net-SNMP per column", "Net-SNMP side by side", "FusionInventory"]
# Net-SNMP side by side sends the agent's own requests: a control (the time is then the
# responder's, plus each client's own work per answer), reported without a target.
GATED = {"Net-SNMP per column", "FusionInventory"}

# FusionInventory opens the session of a Cisco VLAN context (community@vlan) without the port
# it was given, so on a device that is not on port 161 it would ask port 161. This module,
# loaded into it with PERL5OPT, only supplies the port it was given to such sessions.
KEEP_PORT_PM = """package CmdbBenchKeepPort;
use strict;
use warnings;
use Net::SNMP ();
my $session = \\&Net::SNMP::session;
no warnings 'redefine';
*Net::SNMP::session = sub {
    my ($class, %o) = @_;
    $o{-port} = $ENV{CMDB_BENCH_SNMP_PORT} unless grep { /^-?port$/i } keys %o;
    return $session->($class, %o);
};
1;
"""


# ---- BER, just enough to count what an SNMP message carries ------------------------------

def tlv(data, i):
    """(tag, start of value, end of value) of the BER element at data[i]."""
    tag, n = data[i], data[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[i:i + k], "big")
        i += k
    return tag, i, i + n


def encode(tag, value):
    n = len(value)
    if n < 0x80:
        return bytes([tag, n]) + value
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + value


def community_message(data):
    """(version, community, pdu tag, pdu start, pdu end) of a v1/v2c message, else None."""
    try:
        tag, i, end = tlv(data, 0)
        if tag != 0x30:
            return None
        t, s, e = tlv(data, i)
        version = int.from_bytes(data[s:e], "big")
        if t != 0x02 or version not in (0, 1):
            return None
        t, s, e2 = tlv(data, e)
        community = bytes(data[s:e2])
        ptag, ps, pe = tlv(data, e2)
        return version, community, ptag, ps, pe
    except IndexError:
        return None


def varbinds(data, ps, pe):
    """The varbinds of a PDU's value: (raw OID element, value tag)."""
    i = ps
    for _ in range(3):  # request-id, error-status/non-repeaters, error-index/max-repetitions
        _, _, i = tlv(data, i)
    _, i, end = tlv(data, i)
    out = []
    while i < end:
        _, s, i = tlv(data, i)
        _, os_, oe = tlv(data, s)
        vtag, _, _ = tlv(data, oe)
        out.append((bytes(data[s:oe]), vtag))
    return out


def is_v3(message):
    try:
        tag, i, _ = tlv(message, 0)
        t, s, e = tlv(message, i)
        return tag == 0x30 and t == 0x02 and int.from_bytes(message[s:e], "big") == 3
    except IndexError:
        return False


def values_in(answer):
    """Values (not exceptions) in an answer; None for SNMPv3 (encrypted)."""
    m = community_message(answer)
    if m is None:
        return None
    try:
        return sum(1 for _, vtag in varbinds(answer, m[3], m[4]) if vtag not in (0x80, 0x81, 0x82))
    except IndexError:
        return None


def vlan_context_answer(request):
    """A Cisco VLAN context request (community@vlan) answered with no data: snmpsim has no
    such contexts, so without this each would wait for a timeout. Asked of a GETNEXT/GETBULK,
    every OID is at endOfMibView (v2c; v1: noSuchName); of a GET, noSuchInstance."""
    m = community_message(request)
    if m is None or b"@" not in m[1]:
        return None
    version, community, ptag, ps, pe = m
    request_id = request[ps:tlv(request, ps)[2]]
    oids = [o for o, _ in varbinds(request, ps, pe)]
    if version == 0:
        status, index, exc = 2, 1, b"\x05\x00"
    else:
        status, index, exc = 0, 0, (b"\x81\x00" if ptag == 0xA0 else b"\x82\x00")
    vbs = b"".join(encode(0x30, o + exc) for o in oids)
    pdu = encode(0xA2, request_id + encode(0x02, bytes([status])) + encode(0x02, bytes([index]))
                 + encode(0x30, vbs))
    return encode(0x30, encode(0x02, bytes([version])) + encode(0x04, community) + pdu)


# ---- the proxy ------------------------------------------------------------------------------

class Proxy:
    """UDP proxy on 127.0.0.1 to one SNMP agent; records every datagram of a run."""

    def __init__(self, backend_port):
        self.backend = ("127.0.0.1", backend_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ, None)
        self.upstream = {}
        # (time, kind, client, datagram); kind q=request, r=answer, a=answered here.
        self.events = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            ready = self.sel.select(0.1)
            with self.lock:
                for key, _ in ready:
                    try:
                        self.forward(key)
                    except OSError:
                        pass  # e.g. nothing on the backend port (ICMP refused): like a loss

    def forward(self, key):
        if key.data is None:
            data, client = self.sock.recvfrom(65535)
            self.events.append((time.perf_counter(), "q", client, data))
            answer = vlan_context_answer(data)
            if answer is not None:
                self.sock.sendto(answer, client)
                self.events.append((time.perf_counter(), "a", client, answer))
                return
            up = self.upstream.get(client)
            if up is None:
                up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                up.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                up.connect(self.backend)
                up.setblocking(False)
                self.sel.register(up, selectors.EVENT_READ, client)
                self.upstream[client] = up
            up.send(data)
        else:
            data = key.fileobj.recv(65535)
            self.events.append((time.perf_counter(), "r", key.data, data))
            self.sock.sendto(data, key.data)

    def reset(self):
        with self.lock:
            for up in self.upstream.values():
                self.sel.unregister(up)
                up.close()
            self.upstream.clear()
            self.events = []

    def take(self):
        with self.lock:
            events, self.events = self.events, []
        return events

    def close(self):
        self.stopping = True
        self.thread.join()
        self.reset()
        self.sock.close()


def tally(events):
    """What a run sent and received, from the proxy's record."""
    requests = [e for e in events if e[1] == "q"]
    answers = [e for e in events if e[1] in "ra"]
    # A round-trip: requests sent, then an answer waited for before the next request.
    round_trips, waiting = 0, {}
    for _, kind, client, _ in events:
        if kind == "q":
            waiting[client] = True
        elif waiting.get(client):
            round_trips += 1
            waiting[client] = False
    # The timed window: from the first request to the last answer; for SNMPv3 from the
    # first request after the engine discovery exchange (every tool has one), so that the
    # derivation of keys from the pass phrases is outside it for every tool: Net-SNMP and
    # FusionInventory derive them before their first request, cmdb-agent after the
    # discovery answer.
    start = 0
    if requests and is_v3(requests[0][3]):
        start = events.index(requests[1]) if len(requests) > 1 else len(events)
    window = events[start:]
    # The tool's own time on the path: from an answer to its next request.
    own = sum(b[0] - a[0] for a, b in zip(window, window[1:]) if a[1] in "ra" and b[1] == "q")
    last = [e for e in window if e[1] in "ra"]
    values = [values_in(e[3]) for e in answers]
    return {
        "requests": len(requests),
        "answers": len(answers),
        "round_trips": round_trips,
        "bytes": sum(len(e[3]) for e in events),
        "values": None if any(v is None for v in values) else sum(values),
        "here": sum(1 for e in answers if e[1] == "a"),
        "wire": (last[-1][0] - window[0][0]) if last else float("nan"),
        "own": own,
    }


# ---- the tools ------------------------------------------------------------------------------

def run_tool(proxy, cmd, env=None, stdin=None, check=None):
    proxy.reset()
    t = time.perf_counter()
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t
    stats = tally(proxy.take())
    problem = None
    if p.returncode != 0:
        problem = f"exit status {p.returncode}"
    elif check is not None:
        problem = check(p.stdout)
    if problem:
        sys.exit(f"{' '.join(cmd)}: {problem}\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}")
    stats["wall"] = wall
    stats["out"] = p.stdout
    return stats


def netsnmp_ok(out):
    return None if out.startswith("oids=") else "no oids=N secs=S line"


def fusion_ok(out):
    if "<DEVICE>" not in out:
        return "no <DEVICE> in its output"
    if "<ERROR>" in out:
        return "an <ERROR> in its output"
    return None


class Device:
    def __init__(self, name, label, proxy, v3=False):
        self.name, self.label, self.proxy, self.v3 = name, label, proxy, v3

    def command(self, tool, agent, shim_dir):
        addr = f"127.0.0.1:{self.proxy.port}"
        if tool == "cmdb-agent":
            env = V3_AGENT_ENV if self.v3 else {"CMDB_SNMP_COMMUNITY": self.name}
            return ([agent, "snmp", "inventory", addr, *(V3_AGENT if self.v3 else []),
                     "--max-repetitions", str(REPS), "--timeout", str(TIMEOUT), "--retries", "1"],
                    env, None)
        if tool.startswith("Net-SNMP"):
            env = V3_NETSNMP_ENV if self.v3 else {"BENCH_COMMUNITY": self.name}
            side = ["--side-by-side"] if tool.endswith("side by side") else []
            return (["perl", os.path.join(HERE, "bench_snmp_netsnmp.pl"), *side, "--reps",
                     str(REPS), "--timeout", str(TIMEOUT), "--retries", "1", f"udp:{addr}"],
                    env, netsnmp_ok)
        credentials = V3_FUSION if self.v3 else f"version:2c,community:{self.name}"
        return (["fusioninventory-netinventory", "--host", "127.0.0.1", "--port",
                 str(self.proxy.port), "--credentials", credentials, "--timeout", str(TIMEOUT)],
                {"PERL5OPT": "-MCmdbBenchKeepPort", "PERL5LIB": shim_dir,
                 "CMDB_BENCH_SNMP_PORT": str(self.proxy.port)}, fusion_ok)


def measure(device, agent, walks, shim_dir, runs):
    """Every tool RUNS times in turn (the order rotates each run); a device whose first round
    took under a second in all is run at least FAST_RUNS times (RUNS may be set lower): its
    times are a few milliseconds, where one scheduling delay on this 2-core machine
    (simulator, proxy and tool share it) would decide a median of a few runs."""
    results = {t: [] for t in TOOLS}
    r = 0
    while r < runs:
        if r == 1 and all(rs[0]["wall"] < 1.0 for rs in results.values()):
            runs = max(runs, FAST_RUNS)
        order = TOOLS[r % len(TOOLS):] + TOOLS[:r % len(TOOLS)]
        for tool in order:
            cmd, env, check = device.command(tool, agent, shim_dir)
            stdin = walks if tool.startswith("Net-SNMP") else None
            results[tool].append(run_tool(device.proxy, cmd, env, stdin, check))
        r += 1
    return results


def med(runs, key):
    return statistics.median(r[key] for r in runs)


def fmt_time(s):
    return f"{s:.3f} s" if s < 10 else f"{s:.1f} s"


def main():
    args = sys.argv[1:]
    smoke = "--smoke" in args
    args = [a for a in args if a != "--smoke"]
    if smoke:
        agent, sim_port, snmpd_ports = args[0], None, [int(p) for p in args[1:]]
    else:
        agent, sim_port, snmpd_ports = args[0], int(args[1]), [int(p) for p in args[2:]]
    runs = RUNS
    walks = subprocess.run([agent, "snmp", "subtrees", "--columns"], check=True,
                           stdout=subprocess.PIPE, text=True).stdout
    n_walks = len(walks.split("\n")) - 1
    n_oids = len(walks.split())
    snmpd = Proxy(snmpd_ports[0])
    proxies = [snmpd]
    devices = []
    if not smoke:
        sim = Proxy(sim_port)
        proxies.append(sim)
        devices = [Device(n, label, sim) for n, label in RECORDINGS]
    devices.append(Device("cmdb-bench", "snmpd, v2c", snmpd))
    devices.append(Device("cmdb-bench", "snmpd, v3 authPriv SHA/AES", snmpd, v3=True))

    print(f"## One device's inventory: cmdb-agent, Net-SNMP walking the same {n_oids} OIDs "
          f"({n_walks} walks, `cmdb-agent snmp subtrees --columns`), FusionInventory "
          f"netinventory\n")
    print(f"GETBULK max-repetitions {REPS} (cmdb-agent, Net-SNMP; FusionInventory asks 1), "
          f"timeout {TIMEOUT} s; {runs} runs per device (at least {FAST_RUNS} for a device "
          f"every tool inventories in under a second), the tools in turn; every tool through "
          f"the same counting UDP proxy. time = first request to last answer, median; ratio = median "
          f"of cmdb-agent's time / the tool's in the same run (target <= 1.0; Net-SNMP side "
          f"by side sends the agent's own requests: a control, no target).\n")
    print("| device | tool | values received | requests | round-trips | kB (both ways) "
          "| time (whole process) | tool's own time | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    misses, notes, worst, rt_equal = [], [], {}, True
    with tempfile.TemporaryDirectory() as shim_dir:
        with open(os.path.join(shim_dir, "CmdbBenchKeepPort.pm"), "w") as f:
            f.write(KEEP_PORT_PM)
        for d in devices:
            res = measure(d, agent, walks, shim_dir, runs)
            for tool in TOOLS:
                rs = res[tool]
                values = rs[0]["values"]
                wire = med(rs, "wire")
                cell = f"{fmt_time(wire)} ({fmt_time(med(rs, 'wall'))})"
                own = f"{med(rs, 'own') * 1000:,.1f} ms"
                shown = "–"
                if tool != "cmdb-agent":
                    ratio = statistics.median(a["wire"] / t["wire"]
                                              for a, t in zip(res["cmdb-agent"], rs))
                    worst[tool] = max(worst.get(tool, 0.0), ratio)
                    if ratio > 1.0 and tool in GATED:
                        misses.append(f"{d.label}: {ratio:.3f} against {tool}")
                    shown = f"{ratio:.2f}" + ("" if tool in GATED else " (control)")
                rt_equal &= rs[0]["round_trips"] == rs[0]["requests"]
                followed = sum(int(w.split("=")[1]) for w in rs[0]["out"].split()
                               if w.startswith("followed="))
                if followed:
                    notes.append(f"{d.label}, {tool}: SNMP.pm's bulkwalk cannot follow an agent "
                                 f"that answers out of order (it asks again from the last "
                                 f"increasing OID, for ever): {followed} walk(s) stopped there "
                                 f"and were walked again by getbulk in the agent's order "
                                 f"(bench_snmp_netsnmp.pl follow()), the requests of both "
                                 f"counted")
                here = rs[0]["here"]
                if here:
                    notes.append(f"{d.label}, {tool}: {here} of the {rs[0]['requests']} "
                                 f"requests were to Cisco VLAN contexts (community@vlan), "
                                 f"answered by the proxy with no data (snmpsim has none)")
                first = f"{d.label} ({len(rs)} runs)" if tool == "cmdb-agent" else ""
                print(f"| {first} | {tool} | "
                      f"{'–' if values is None else f'{values:,}'} | {rs[0]['requests']:,} | "
                      f"{rs[0]['round_trips']:,} | {rs[0]['bytes'] / 1000:,.1f} | {cell} | "
                      f"{own} | {shown} |", flush=True)
    for p in proxies:
        p.close()
    print()
    for n in notes:
        print(f"- {n}")
    if rt_equal:
        print("- round-trips = requests for every tool: each waits for an answer before its "
              "next request (counted, not assumed).")
    print("- values received: varbinds in the answers that carry a value (overshoot past the "
          "end of a column included; exceptions not), counted by the proxy; SNMPv3 answers "
          "are encrypted: –. Requests, round-trips and kB are those of the first run.")
    print("- time: first request to last answer, the ratio's measure. It leaves out, for "
          "every tool alike, process start-up, library loading, and the work after the last "
          "answer (building the inventory, printing); the whole process time is in brackets "
          "(the difference is mostly start-up: perl and its modules for Net-SNMP and "
          "FusionInventory). SNMPv3: from the first request after the engine discovery "
          "exchange (one round-trip for every tool, still counted in requests), which also "
          "leaves out the derivation of keys from the pass phrases for every tool (Net-SNMP "
          "does it before its first request, cmdb-agent after the discovery answer: about 2 "
          "ms, in its whole process time).")
    print("- tool's own time: the sum of the gaps from an answer to the tool's next request, "
          "what the tool itself adds to the path (Net-SNMP's includes SNMP.pm making a Perl "
          "object of each value); the rest of the time is the responder's and the proxy's.")
    print("- the proxy (Python, in this process) adds the same delay to every datagram of "
          "every tool: on loopback it stands for a network, so a tool that needs more "
          "round-trips pays for them, as it would on a LAN (where each costs 0.2 ms or more).")
    print("- responders: snmpsim answers at most 64 values per GETBULK (--max-var-binds) and "
          "snmpd about 100, whatever max-repetitions asks, so requests walking many columns "
          "side by side get fewer rows than a device with a larger message size would give.")
    print("- what is read: cmdb-agent and Net-SNMP the same OIDs; FusionInventory what its own "
          "inventory needs, so its ratio compares inventories, not identical work. One device "
          "at a time: concurrency is in the 200-target figure only, for the agent alone.")

    if not smoke:
        times = [timed([agent, "snmp", "inventory", f"127.0.0.1:{snmpd_ports[0]}", *V3_AGENT],
                       V3_AGENT_ENV) for _ in range(max(RUNS, 5))]
        med_v3 = statistics.median(times)
        print(f"\n## Full inventory of snmpd over SNMPv3 authPriv, whole process: median "
              f"{med_v3:.3f} s, max {max(times):.3f} s (target <= 0.2 s)")
        if med_v3 > 0.2:
            misses.append(f"SNMPv3 inventory of snmpd: {med_v3:.3f} s")
        ok, rss = many_targets(agent, snmpd_ports)
        if ok < 200 or rss > 30:
            misses.append(f"200 targets: {ok} answered, peak RSS {rss:.1f} MB")

    print("\nworst ratio: " + ", ".join(f"{w:.3f} against {t}" for t, w in worst.items()))
    print()
    if misses:
        print("FAIL: " + "; ".join(misses))
        sys.exit(1)
    print("PASS: every ratio against Net-SNMP per column and FusionInventory <= 1.0"
          + ("" if smoke else "; the SNMPv3 time, the 200 targets and their RSS targets met"))


def timed(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env={**os.environ, **(env or {})})
    took = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return took


def many_targets(agent, snmpd_ports):
    n = 200
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "agent.toml")
        with open(cfg, "w") as f:
            f.write(f'state_dir = "{d}"\n[snmp]\nconcurrency = {n}\ntimeout_secs = 5.0\n'
                    '[snmp.credentials.bench]\nversion = "2c"\ncommunity = "cmdb-bench"\n')
            for i in range(n):
                port = snmpd_ports[i % len(snmpd_ports)]
                f.write(f'[[snmp.targets]]\naddress = "127.0.0.1:{port}"\ncredential = "bench"\n')
        p = subprocess.run(["/usr/bin/time", "-f", "%e %M", agent, "--config", cfg, "snmp", "poll"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.exit(f"snmp poll failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        wall, rss_kb = p.stderr.strip().splitlines()[-1].split()
        ok = sum(1 for line in p.stdout.splitlines() if line.startswith("ok "))
        rss = int(rss_kb) / 1024
        print(f"\n## {n} targets polled concurrently ({len(snmpd_ports)} snmpd instances): "
              f"{ok}/{n} ok, wall {float(wall):.2f} s, peak RSS {rss:.1f} MB (target: all ok, "
              f"<= 30 MB)")
        return ok, rss


if __name__ == "__main__":
    main()
