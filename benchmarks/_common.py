"""Shared benchmark helpers: process-tree memory sampling and the render commands."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from hyperdesk.plan.chunk import tree_rss


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                out += [int(x) for x in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def tree_pids(root: int) -> list[int]:
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack += _children(pid)
    return out


def proc_cpu_seconds(pid: int) -> tuple[str, float] | None:
    """(command name, user + system CPU seconds) of one live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1: text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by the live processes of a tree."""
    return sum(c[1] for c in (proc_cpu_seconds(p) for p in tree_pids(root)) if c)


class PeakMemory:
    """Samples the RSS of a process tree every 50 ms while the block runs, and the CPU time of each
    descendant (the last sample of a process that exits is at most 50 ms old)."""

    def __init__(self, root: int | None = None) -> None:
        self.root = root or os.getpid()
        self.peak = 0
        self.cpu: dict[int, tuple[str, float]] = {}
        self.own_cpu = 0.0
        self._base: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample_cpu(self, first: bool = False) -> None:
        for pid in tree_pids(self.root):
            if pid == self.root:
                continue
            c = proc_cpu_seconds(pid)
            if c is None:
                continue
            if first:
                self._base[pid] = c[1]
            self.cpu[pid] = (c[0], c[1] - self._base.get(pid, 0.0))

    def cpu_by_name(self) -> dict[str, float]:
        """CPU seconds of the descendants during the block, summed by command name."""
        out: dict[str, float] = {}
        for name, sec in self.cpu.values():
            out[name] = out.get(name, 0.0) + sec
        return out

    def _run(self) -> None:
        self._sample_cpu(first=True)
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, tree_rss(self.root))
            self._sample_cpu()
        self.own_cpu = time.thread_time()  # the sampler's own CPU, to leave out of the Python share

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def mib(n: float) -> str:
    return f"{n / 1024 ** 2:.0f} MiB"


class Timer:
    def __enter__(self) -> "Timer":
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.monotonic() - self.t0
