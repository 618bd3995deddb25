"""The default local worker count, measured (issue 17): a sweep of 1..cores+1 slots.

    .venv/bin/python benchmarks/workers.py [--runs 2] [--only gsap-720p sample-1080p]

Renders each composition of benchmarks/vs_hyperframes.py with `hyperdesk render --workers N` for N in
1..cores+1 (cores+1 shows what oversubscribing costs), alternating the counts run by run, on a warm
plan cache (one untimed render first: planning costs the same for every N and is not what the sweep
measures). Prints per run the wall and CPU seconds of the whole process tree, the peak resident
memory, and the idle tail: the seconds of the render phase in which fewer chunks ran than
min(slots, chunks), from the `--json` event stream. Then the wall ratio of each N against N=1
(fastest runs), and the count `default_local_slots()` picks on this machine.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PeakMemory, mib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from vs_hyperframes import COMPOSITIONS  # noqa: E402


def run(project: Path, out: Path, slots: int, env: dict[str, str]) -> tuple[float, float, int, float, int]:
    """(wall s, CPU s, peak RSS bytes, idle tail s, chunks) of one `hyperdesk render --workers slots`."""
    argv = [sys.executable, "-m", "hyperdesk", "render", str(project), "-o", str(out), "--overwrite", "--json",
            "--workers", str(slots)]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    marks: list[tuple[float, int]] = []  # (time, +1 attempt started / -1 chunk ended)
    chunks = 0
    with PeakMemory(proc.pid) as mem:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            kind = event.get("event")
            now = time.monotonic()
            if kind == "planned":
                chunks = int(event.get("chunk_count") or event.get("chunks") or 0)
            elif kind == "attempt_started":
                marks.append((now, 1))
            elif kind in ("chunk_done", "attempt_failed"):
                marks.append((now, -1))
        _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"hyperdesk render --workers {slots} failed")
    want = min(slots, chunks) if chunks else slots
    busy, tail, last = 0, 0.0, None
    for t, step in marks:
        if last is not None and 0 < busy < want:
            tail += t - last
        busy += step
        last = t
    return wall, usage.ru_utime + usage.ru_stime, mem.peak, tail, chunks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--only", nargs="*", choices=list(COMPOSITIONS))
    ap.add_argument("--max-slots", type=int, default=(os.cpu_count() or 1) + 1)
    args = ap.parse_args()
    from hyperdesk.farm.local import default_local_slots

    work = Path(tempfile.mkdtemp(prefix="hd-workers-"))
    env = dict(os.environ, HYPERDESK_DATA_DIR=str(work / "data"))
    counts = list(range(1, args.max_slots + 1))
    print(f"{'composition':14s} {'run':>3s} {'slots':>5s} {'wall s':>7s} {'CPU s':>7s} {'peak':>9s} {'tail s':>7s}",
          flush=True)
    summary = []
    for name in args.only or list(COMPOSITIONS):
        project = work / name
        project.mkdir(parents=True)
        COMPOSITIONS[name](project)
        run(project, work / f"{name}-warmup.mp4", 1, env)  # plans (and fills the plan cache), untimed
        results: dict[int, list[tuple[float, float, int, float, int]]] = {n: [] for n in counts}
        for r in range(args.runs):
            for n in (counts if r % 2 == 0 else list(reversed(counts))):
                res = run(project, work / f"{name}-{n}.mp4", n, env)
                results[n].append(res)
                wall, cpu, peak, tail, chunks = res
                print(f"{name:14s} {r + 1:3d} {n:5d} {wall:7.1f} {cpu:7.1f} {mib(peak):>9s} {tail:7.1f}"
                      f"   ({chunks} chunks)", flush=True)
        base = min(w for w, *_ in results[1])
        line = ", ".join(f"{n} slots {min(w for w, *_ in results[n]) / base:.2f}" for n in counts)
        summary.append(f"{name:14s} wall vs 1 slot (fastest runs): {line}")
    print("\n" + "\n".join(summary))
    print(f"default_local_slots() here: {default_local_slots()} (cores {os.cpu_count()})")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
