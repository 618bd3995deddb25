"""Speed against the HyperFrames CLI on this machine, both tools at their defaults (issue 17).

    bash ../shared/tools/hyperframes-baseline.sh          # once: installs the HyperFrames CLI (Node 22)
    source ~/.cache/hyperframes-baseline/env.sh           # puts `hyperframes` on PATH
    .venv/bin/python benchmarks/vs_hyperframes.py [--runs 3] [--only gsap-720p sample-1080p]

Installs nothing itself. Renders the same compositions with both tools, alternating (HyperFrames,
hyperdesk, HyperFrames, ...), `--runs` times each, to mp4 at each tool's defaults, and prints per run
the wall and CPU seconds of the whole process tree (browsers, encoders) and its peak resident memory,
then the ratios hyperdesk / HyperFrames (best of the runs and median). The compositions:

- gsap-720p: a 1280x720, 10 s, 30 fps GSAP composition of our own (boxes, text, a progress bar);
- sample-1080p: resources/sample (1920x1080, 10 s, GSAP + WAAPI + an image + audio).

HyperFrames' copy of each project has GSAP vendored from the npm package (the baseline's
`vendor-gsap.sh`), since CDNs are unreachable here; hyperdesk resolves the CDN URL itself. Each
hyperdesk run uses a fresh plan cache (a new HYPERDESK_CACHE_DIR holding only the shared asset
cache's fonts and packages and the machine's browser and ffmpeg facts), so it pays its planning
(the seam audit included) as HyperFrames pays its compile.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PeakMemory, mib

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "sample"
BASELINE = Path.home() / ".cache" / "hyperframes-baseline"


def gsap_720p(project: Path) -> None:
    boxes = "".join(f'<div class="box" id="b{i}" style="left:{80 + i * 140}px;background:hsl({i * 40},70%,55%)">'
                    f"</div>" for i in range(8))
    tweens = "".join(f'tl.to("#b{i}", {{y: 420, rotation: 360, duration: 2, ease: "power2.inOut", yoyo: true, '
                     f"repeat: 3}}, {i * 0.25});" for i in range(8))
    (project / "index.html").write_text(f"""<!doctype html>
<html><head><meta charset="utf-8">
<script src="https://cdn.jsdelivr.net/npm/gsap@3.12.5/dist/gsap.min.js"></script>
<style>
html,body{{margin:0;background:#101420}}
#root{{position:relative;width:1280px;height:720px;overflow:hidden;color:#f4f6ff;font-family:Inter,sans-serif}}
.box{{position:absolute;top:100px;width:100px;height:100px;border-radius:18px}}
h1{{position:absolute;left:80px;top:560px;margin:0;font-size:72px;font-weight:800}}
#bar{{position:absolute;left:80px;top:670px;height:10px;width:0;background:#ffb347;border-radius:5px}}
</style></head><body>
<div id="root" data-composition-id="gsap720" data-width="1280" data-height="720" data-duration="10" data-fps="30">
{boxes}<h1 id="title">Faster, identical</h1><div id="bar"></div></div>
<script>
const tl = gsap.timeline({{paused: true}});
{tweens}
tl.from("#title", {{x: -300, opacity: 0, duration: 1.5, ease: "power3.out"}}, 0);
tl.to("#bar", {{width: 1120, duration: 10, ease: "none"}}, 0);
window.__timelines["gsap720"] = tl;
</script></body></html>
""")


def sample_1080p(project: Path) -> None:
    shutil.copytree(SAMPLE, project, dirs_exist_ok=True)


COMPOSITIONS = {"gsap-720p": gsap_720p, "sample-1080p": sample_1080p}


def timed(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """(wall s, CPU s of the whole tree, peak RSS bytes) of one command; exits on failure. CPU is
    the command's own and its reaped descendants' (browsers, encoders), from wait4."""
    t0 = time.monotonic()
    with open(log, "w") as err:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
        with PeakMemory(proc.pid) as mem:
            _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}):\n{log.read_text()[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, mem.peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", nargs="*", choices=list(COMPOSITIONS))
    args = ap.parse_args()
    if shutil.which("hyperframes") is None:
        print("hyperframes is not on PATH: source ~/.cache/hyperframes-baseline/env.sh", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="vs-hf-speed-"))
    sys.path.insert(0, str(ROOT))
    from hyperdesk.dirs import asset_cache_dir

    shared_assets = asset_cache_dir()
    print(f"{'composition':14s} {'run':>3s} {'tool':10s} {'wall s':>7s} {'CPU s':>7s} {'peak':>9s}", flush=True)
    summary = []
    for name in args.only or list(COMPOSITIONS):
        hd_project, hf_project = work / name / "hd", work / name / "hf"
        for p in (hd_project, hf_project):
            p.mkdir(parents=True)
            COMPOSITIONS[name](p)
        subprocess.run(["bash", str(BASELINE / "vendor-gsap.sh"), str(hf_project)], check=True,
                       capture_output=True)
        results: dict[str, list[tuple[float, float, int]]] = {"hyperframes": [], "hyperdesk": []}
        for run in range(args.runs):
            for tool in ("hyperframes", "hyperdesk"):
                out = work / name / f"{tool}-{run}.mp4"
                env = dict(os.environ)
                if tool == "hyperframes":
                    argv = ["hyperframes", "render", str(hf_project), "-o", str(out), "--quiet"]
                else:
                    cache = work / name / f"cache-{run}"
                    cache.mkdir()
                    env["HYPERDESK_CACHE_DIR"] = str(cache)
                    env["HYPERDESK_DATA_DIR"] = str(work / "data")
                    if shared_assets.is_dir():  # fonts and packages: fetched once, like HF's install
                        (cache / "assets").symlink_to(shared_assets)
                    # Facts of this machine's browser and ffmpeg, measured once per machine (a user's
                    # cache has them after the first render); the plan cache stays empty.
                    for machine in ("browser-versions.json", "env"):
                        if (shared_assets.parent / machine).exists():
                            (cache / machine).symlink_to(shared_assets.parent / machine)
                    argv = [sys.executable, "-m", "hyperdesk", "render", str(hd_project), "-o", str(out)]
                wall, cpu, peak = timed(argv, env, work / name / f"{tool}-{run}.log")
                results[tool].append((wall, cpu, peak))
                print(f"{name:14s} {run + 1:3d} {tool:10s} {wall:7.1f} {cpu:7.1f} {mib(peak):>9s}", flush=True)
        hf, hd = results["hyperframes"], results["hyperdesk"]
        best = min(w for w, _, _ in hd) / min(w for w, _, _ in hf)
        med = statistics.median(w for w, _, _ in hd) / statistics.median(w for w, _, _ in hf)
        cpu = statistics.median(c for _, c, _ in hd) / statistics.median(c for _, c, _ in hf)
        summary.append(f"{name:14s} wall ratio best {best:.2f}, median {med:.2f}; CPU ratio (median) {cpu:.2f}; "
                       f"peak {mib(max(p for _, _, p in hd))} vs {mib(max(p for _, _, p in hf))}")
    print("\nhyperdesk / HyperFrames (below 1: hyperdesk is faster)")
    print("\n".join(summary))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
