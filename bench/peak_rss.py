"""Runs a command and prints its stdout, then one line `peak_rss_mb: X`: the largest total
resident memory of the command and all its descendants (DataLoader workers are
processes), sampled every 50 ms from /proc. Linux only.

Usage: python peak_rss.py COMMAND [ARGS...]
"""
import os
import subprocess
import sys
import time


def tree_rss(pid):
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def main():
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.05)
    out = proc.stdout.read().decode()
    sys.stdout.write(out)
    print(f"peak_rss_mb: {peak / 2**20:.1f}")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
