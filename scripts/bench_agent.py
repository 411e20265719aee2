#!/usr/bin/env python3
"""Agent benchmark: CPU time and peak RSS of `cmdb-agent inventory`, idle RSS of
`cmdb-agent run` between cycles (enrolled against a real cmdb-server).

CPU and peak RSS come from GNU time (the kernel's rusage of the agent process, measured by a
small launcher), idle RSS from /proc/PID/status once the first report has been delivered."""
import json, os, resource, socket, statistics, subprocess, sys, tempfile, time

agent, server = sys.argv[1], sys.argv[2]


def run_measured(args):
    out = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", *args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        sys.exit(f"{args} failed: {out.stderr}")
    user, system, max_kb = out.stderr.strip().splitlines()[-1].split()
    return (float(user) + float(system)) * 1000.0, int(max_kb) / 1024.0


runs = [run_measured([agent, "inventory", "--compact"]) for _ in range(20)]
cpu = [r[0] for r in runs]
rss = [r[1] for r in runs]
inv = json.loads(subprocess.run([agent, "inventory", "--compact"], capture_output=True, check=True).stdout)
print(f"cmdb-agent inventory ({os.path.getsize(agent) / 1e6:.1f} MB binary) on this machine "
      f"({len(inv.get('packages') or [])} packages, {len(inv.get('services') or [])} services, "
      f"{len((inv.get('sockets') or {}).get('listening', []))} listening sockets), 20 runs:")
print(f"  CPU time  median {statistics.median(cpu):6.1f} ms   max {max(cpu):6.1f} ms   (target <= 50 ms)")
print(f"  peak RSS  median {statistics.median(rss):6.1f} MB   max {max(rss):6.1f} MB   (target <= 10 MB)")

with tempfile.TemporaryDirectory() as tmp:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    init = json.loads(subprocess.run(
        [server, "init", "--json", "--listen", f"127.0.0.1:{port}", "--data-dir", f"{tmp}/data"],
        capture_output=True, check=True).stdout)
    srv = subprocess.Popen([server, "serve", "--config", init["config"]],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cfg = f"{tmp}/agent.toml"
        with open(cfg, "w") as f:
            f.write(f'state_dir = "{tmp}/agent"\n[delivery]\ninterval_secs = 300\n')
        for _ in range(100):
            # The token on standard input: the agent takes no secret on its command line.
            if subprocess.run([agent, "enroll", "--config", cfg, "--server", f"https://localhost:{port}",
                               "--token-file", "-", "--ca-cert", init["ca_cert"]],
                              input=init["enroll_token"].encode(), capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        else:
            sys.exit("enrollment failed")
        daemon = subprocess.Popen([agent, "run", "--config", cfg],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        spool = f"{tmp}/agent/spool"
        deadline = time.time() + 60
        while time.time() < deadline:
            time.sleep(0.5)
            if os.path.isdir(spool) and not [n for n in os.listdir(spool) if n.endswith(".zst")] \
                    and os.path.exists(f"{tmp}/agent/delivery.json"):
                break
        time.sleep(3)
        status = dict(line.split(":", 1) for line in open(f"/proc/{daemon.pid}/status"))
        idle = int(status["VmRSS"].split()[0]) / 1024.0
        hwm = int(status["VmHWM"].split()[0]) / 1024.0
        daemon.terminate(); daemon.wait()
        anon = int(status["RssAnon"].split()[0]) / 1024.0
        filed = int(status["RssFile"].split()[0]) / 1024.0
        print(f"cmdb-agent run, idle between cycles after delivering a full inventory:")
        print(f"  RSS {idle:6.1f} MB ({anon:.1f} MB heap and stacks, {filed:.1f} MB mapped code)"
              f"   peak during the cycle {hwm:.1f} MB   (target idle <= 8 MB)")
    finally:
        srv.terminate(); srv.wait()
