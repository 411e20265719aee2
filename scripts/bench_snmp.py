#!/usr/bin/env python3
"""SNMP poller benchmarks (figures in the README).

1. Each recording served by snmpsim, and Debian's snmpd: time of one `cmdb-agent snmp
   inventory` against `snmpbulkwalk` of the same subtrees (`cmdb-agent snmp subtrees`), with
   the same max-repetitions, in the same run, alternating, median of RUNS. Ratio = agent / walk.
2. snmpd over SNMPv3 authPriv: a full device inventory, median of RUNS.
3. 200 targets polled concurrently (`cmdb-agent snmp poll`, concurrency 200) against snmpd
   instances: wall time and the agent's peak RSS (/usr/bin/time).

Usage: bench_snmp.py AGENT SNMPSIM_PORT SNMPD_PORT [SNMPD_PORT...]
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = int(os.environ.get("RUNS", "3"))
REPS = 25
RECORDINGS = [
    "cisco-c3560",
    "cisco-n5000",
    "hpe-procurve-516733-b21",
    "bdcom-s5612",
    "juniper-mx960-12-3r6-6",
    "juniper-mx960-13-3r9-13",
    "juniper-mx960-16-1r6-7-a",
    "juniper-mx960-16-1r6-7-b",
    "linux-unknown-006",
]
V3 = ["-v3", "-l", "authPriv", "-u", "cmdb-v3", "-a", "SHA", "-A", "cmdb-auth-pass",
      "-x", "AES", "-X", "cmdb-priv-pass"]
V3_AGENT = ["--v3-user", "cmdb-v3", "--auth-protocol", "sha", "--priv-protocol", "aes"]
# The agent takes no secret on its command line: the keys and communities go through the
# environment.
V3_AGENT_ENV = {"CMDB_SNMP_AUTH_KEY": "cmdb-auth-pass", "CMDB_SNMP_PRIV_KEY": "cmdb-priv-pass"}


def timed(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env={**os.environ, **(env or {})})
    took = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return took, p.stdout


def walk_all(subtrees, access, address):
    took, oids = 0.0, 0
    for s in subtrees:
        t, out = timed(["snmpbulkwalk", *access, "-On", "-Cc", f"-Cr{REPS}", "-t", "5", "-r", "1",
                        address, s])
        took += t
        oids += sum(1 for line in out.splitlines()
                    if line.startswith(".") and "No Such" not in line)
    return took, oids


def compare(agent, subtrees, name, address, access, agent_access, agent_env):
    a, w, oids = [], [], 0
    for _ in range(RUNS):
        t, _ = timed([agent, "snmp", "inventory", address, *agent_access, "--max-repetitions",
                      str(REPS), "--timeout", "5", "--retries", "1"], agent_env)
        a.append(t)
        t, oids = walk_all(subtrees, access, address)
        w.append(t)
    am, wm = statistics.median(a), statistics.median(w)
    print(f"| {name} | {oids:,} | {am:.3f} | {wm:.3f} | {am / wm:.2f} |", flush=True)
    return am / wm


def main():
    agent, sim_port, snmpd_ports = sys.argv[1], sys.argv[2], sys.argv[3:]
    subtrees = subprocess.run([agent, "snmp", "subtrees"], check=True, stdout=subprocess.PIPE,
                              text=True).stdout.split()
    print(f"## Inventory time against snmpbulkwalk of the same {len(subtrees)} subtrees "
          f"(max-repetitions {REPS}, median of {RUNS})\n")
    print("| device | OIDs walked | cmdb-agent s | snmpbulkwalk s | ratio |")
    print("|---|---:|---:|---:|---:|")
    ratios = []
    sim = f"127.0.0.1:{sim_port}"
    for r in RECORDINGS:
        ratios.append(compare(agent, subtrees, f"snmpsim {r}", sim, ["-v2c", "-c", r],
                              [], {"CMDB_SNMP_COMMUNITY": r}))
    snmpd = f"127.0.0.1:{snmpd_ports[0]}"
    ratios.append(compare(agent, subtrees, "snmpd v2c", snmpd, ["-v2c", "-c", "cmdb-bench"],
                          [], {"CMDB_SNMP_COMMUNITY": "cmdb-bench"}))
    ratios.append(compare(agent, subtrees, "snmpd v3 authPriv (SHA/AES)", snmpd, V3, V3_AGENT,
                          V3_AGENT_ENV))
    print(f"\nworst ratio: {max(ratios):.2f} (target <= 1.0)\n")

    times = [timed([agent, "snmp", "inventory", snmpd, *V3_AGENT], V3_AGENT_ENV)[0]
             for _ in range(max(RUNS, 5))]
    print(f"## Full inventory of snmpd over SNMPv3 authPriv: median {statistics.median(times):.3f} s, "
          f"max {max(times):.3f} s (target <= 0.2 s)\n")

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
        print(f"## {n} targets polled concurrently ({len(snmpd_ports)} snmpd instances): "
              f"{ok}/{n} ok, wall {float(wall):.2f} s, peak RSS {int(rss_kb) / 1024:.1f} MB "
              f"(target <= 30 MB)")


if __name__ == "__main__":
    main()
