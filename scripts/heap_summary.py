#!/usr/bin/env python3
"""Summarises heaptrack_print's peak consumers (scripts/heap_profile.sh): for one trace, the
process's command, its peak heap, and each large consumer at that peak with the code that
allocated it and the part of the server (or of SurrealKV) it was allocated for."""
import re
import sys

OURS = re.compile(r"(surrealkv|surrealdb|cmdb_|hashbrown|tokio|axum|hyper|rustls)")


def clean(frame: str) -> str:
    f = re.sub(r"::h[0-9a-f]{16}$", "", frame.strip())
    for a, b in (("$LT$", "<"), ("$GT$", ">"), ("$u20$", " "), ("..", "::"), ("$C$", ","),
                 ("$u7b$$u7b$closure$u7d$$u7d$", "{closure}"), ("$RF$", "&")):
        f = f.replace(a, b)
    return f.lstrip("_")


def main(path: str) -> None:
    lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    command = next((l.split("was: ", 1)[1] for l in lines if l.startswith("Debuggee command")), "?")
    peak = next((l.split(": ", 1)[1] for l in lines if l.startswith("peak heap memory")), "?")
    args = command.split()
    print(f"\n{' '.join(a.rsplit('/', 1)[-1] for a in args[:2])}: peak heap {peak}")
    i = 0
    while i < len(lines):
        top = re.match(r"^([0-9.]+[KMGT]?) peak memory consumed over (\d+) calls from", lines[i])
        if top:
            print(f"  {top.group(1):>8}  {clean(lines[i + 1])}  ({top.group(2)} calls)")
            i += 2
            continue
        sub = re.match(r"^([0-9.]+[KMGT]?) consumed over (\d+) calls from:", lines[i])
        if sub:
            frames = []
            j = i + 1
            while j < len(lines) and lines[j].startswith("    "):
                if not lines[j].startswith("      "):
                    frames.append(clean(lines[j]))
                j += 1
            named = [f for f in frames if OURS.search(f) and not f.startswith("tokio")]
            ours = [f for f in named if "cmdb_" in f]
            where = named[0] if named else (frames[0] if frames else "?")
            via = ours[0] if ours and ours[0] != where else (named[min(len(named) - 1, 6)] if len(named) > 1 else "")
            print(f"      {sub.group(1):>8}  {where[:110]}" + (f"\n                via {via[:110]}" if via else ""))
            i = j
            continue
        i += 1


if __name__ == "__main__":
    for p in sys.argv[1:]:
        main(p)
