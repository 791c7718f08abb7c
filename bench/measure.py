#!/usr/bin/python3
"""measure.py - tapir's throughput and memory against its two yardsticks,
all measured in one run on the same machine:

  tapir   `tapir read --keylog K CAP -o /dev/null`, best of N runs
          (capture bytes / CPU seconds, user + sys), peak RSS from
          /usr/bin/time; again with --hash-bodies; on the full capture and
          on one half as long
  tshark  the same capture with the key log and HTTP dissection:
          `tshark -r CAP -o tls.keylog_file:K -Y http -T fields
           -e http.response.code > /dev/null`
  openssl `openssl speed -evp aes-128-gcm -bytes 16384 -seconds 3`: the
          machine's AES-128-GCM limit on one core

Time is CPU time on every side: openssl speed divides by the CPU user time
it spent (its default; -elapsed would use wall time), so tapir and tshark
are divided by their user + sys CPU time (sys included: reading the
capture is tapir's work too).  A ratio of CPU times stays meaningful on a
machine that is busy with other work, where wall times are not; the wall
time figures are printed next to them.
MB = 10^6 bytes.  Targets: tapir/openssl >= 0.40, tapir/tshark >= 15, and
peak RSS on the full capture <= 1.25 x RSS on the half one (memory must not
grow with capture length).  Exit 1 if tapir fails; with --check also when
a target is missed.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile


def timed(cmd, stdout=subprocess.DEVNULL):
    """Run cmd under /usr/bin/time; return (CPU seconds, max RSS in KB,
    wall seconds)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        r = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf.name]
                           + cmd, stdout=stdout, stderr=subprocess.PIPE)
        if r.returncode != 0:
            sys.stderr.write(r.stderr.decode(errors="replace")[-2000:])
            raise RuntimeError(f"exit {r.returncode}: {' '.join(cmd)}")
        last = tf.read().strip().splitlines()[-1].split()
        cpu = max(float(last[1]) + float(last[2]), 0.01)
        return cpu, int(last[3]), float(last[0])


def best(cmd, runs):
    res = [timed(cmd) for _ in range(runs)]
    return (min(t for t, _, _ in res), max(m for _, m, _ in res),
            min(w for _, _, w in res))


def warm(path):
    with open(path, "rb") as f:
        while f.read(1 << 22):
            pass


def openssl_mbs(seconds):
    r = subprocess.run(["openssl", "speed", "-evp", "aes-128-gcm", "-bytes",
                        "16384", "-seconds", str(seconds)],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       text=True, check=True)
    for line in r.stdout.splitlines():
        m = re.match(r"(?i)aes-128-gcm\s+([\d.]+)k\s*$", line.strip())
        if m:
            return float(m.group(1)) * 1000 / 1e6
    raise RuntimeError("cannot parse openssl speed output")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tapir", default="build/tapir")
    ap.add_argument("--full", required=True, help="CAP,KEYS")
    ap.add_argument("--half", required=True, help="CAP,KEYS")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tshark-runs", type=int, default=1)
    ap.add_argument("--openssl-seconds", type=int, default=3)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()

    full_cap, full_keys = a.full.split(",")
    half_cap, half_keys = a.half.split(",")
    full_mb = os.path.getsize(full_cap) / 1e6
    half_mb = os.path.getsize(half_cap) / 1e6
    warm(full_cap)
    warm(half_cap)

    rows = {}
    try:
        for hashing in (False, True):
            extra = ["--hash-bodies"] if hashing else []
            for name, cap, keys in (("full", full_cap, full_keys),
                                    ("half", half_cap, half_keys)):
                cmd = [a.tapir, "read"] + extra + ["--keylog", keys, cap,
                                                   "-o", "/dev/null"]
                rows[(name, hashing)] = best(cmd, a.runs)
        # one run with real output: how many calls, how many with errors
        with tempfile.TemporaryFile("w+") as out:
            subprocess.run([a.tapir, "read", "--keylog", half_keys, half_cap],
                           stdout=out, stderr=subprocess.DEVNULL, check=True)
            out.seek(0)
            lines = out.read().splitlines()
            calls = len(lines)
            errs = sum(1 for l in lines if l.strip()
                       and json.loads(l).get("errors"))
    except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
        print(f"bench: tapir failed: {e}")
        return 1

    tshark_cmd = ["tshark", "-n", "-r", full_cap, "-o",
                  "tls.keylog_file:" + full_keys, "-Y", "http", "-T",
                  "fields", "-e", "http.response.code"]
    ts_t, ts_rss, ts_wall = best(tshark_cmd, a.tshark_runs)
    ossl = openssl_mbs(a.openssl_seconds)

    t_full = full_mb / rows[("full", False)][0]
    t_hash = full_mb / rows[("full", True)][0]
    ts = full_mb / ts_t
    print(f"\ncapture: {full_cap} ({full_mb:.0f} MB), half: {half_mb:.0f} MB; "
          f"TLS 1.3 AES-128-GCM, HTTP/1.1; best of {a.runs}")
    print(f"{'':34}{'MB/s CPU':>10}{'MB/s wall':>11}{'peak RSS MB':>14}")
    for hashing in (False, True):
        for name, mb in (("full", full_mb), ("half", half_mb)):
            t, rss, wall = rows[(name, hashing)]
            label = f"tapir read {name}{' --hash-bodies' if hashing else ''}"
            print(f"{label:34}{mb / t:10.1f}{mb / wall:11.1f}{rss / 1024:14.1f}")
    print(f"{'tshark -Y http (full)':34}{ts:10.1f}{full_mb / ts_wall:11.1f}{ts_rss / 1024:14.1f}")
    print(f"{'openssl speed aes-128-gcm 16 KB':34}{ossl:10.1f}{'(CPU user time)':>26}")
    print(f"tapir output on half: {calls} calls, {errs} with errors")

    checks = []
    r1 = t_full / ossl
    checks.append(("tapir/openssl", r1, 0.40, r1 >= 0.40))
    r2 = t_full / ts
    checks.append(("tapir/tshark", r2, 15, r2 >= 15))
    for hashing in (False, True):
        g = rows[("full", hashing)][1] / rows[("half", hashing)][1]
        checks.append((f"RSS full/half{' (hash)' if hashing else ''}",
                       g, 1.25, g <= 1.25))
    print(f"{'tapir --hash-bodies/openssl':34}{t_hash / ossl:10.2f}   "
          "(no target: SHA-256 of every body on top)")
    print()
    missed = 0
    for name, v, target, ok in checks:
        op = "<=" if name.startswith("RSS") else ">="
        print(f"{name:34}{v:10.2f}   target {op} {target}   "
              f"{'ok' if ok else 'MISSED'}")
        missed += not ok
    return 1 if (a.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
