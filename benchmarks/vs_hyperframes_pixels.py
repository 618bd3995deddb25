"""Pixel comparison with the HyperFrames CLI (issue 16): renders small compositions of our own with
both tools as png-sequence, composites each frame over black and prints the PSNR per composition
(over all frames, and of the worst frame).

    source ~/.cache/hyperframes-baseline/env.sh      # puts `hyperframes` on PATH
    .venv/bin/python benchmarks/vs_hyperframes_pixels.py [--keep DIR] [--only NAME ...]

The compositions: text in every generic family (font-family lists, the font shorthand, unstyled,
an unsupplied family), Inter in weights 300-900, canvas text, a fully tagged BT.709 video, and a
sub-composition host that starts at 1 s. docs/fonts.md explains what still differs.
"""
from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
import mediautil as mu  # noqa: E402  (the tests' media helpers: pinned ffmpeg decode)

LINE = "Hamburgefonstiv Qy 0123"
GENERICS = ["sans-serif", "serif", "monospace", "system-ui", "cursive", "fantasy", "ui-sans-serif"]


def page(body: str, *, width: int, height: int, duration: float, fps: int = 10, css: str = "",
         script: str = "", timeline: bool = False) -> str:
    attrs = "" if timeline else " data-no-timeline"
    return ("<!doctype html><html><head><style>html,body{margin:0;background:#fff}"
            "p{position:absolute;left:8px;margin:0;font-size:20px;line-height:24px;height:24px;white-space:nowrap;"
            f"color:#000}}{css}</style></head><body>"
            f'<div id="root" data-composition-id="cmp" data-width="{width}" data-height="{height}" '
            f'data-duration="{duration}" data-fps="{fps}"{attrs} '
            f'style="position:relative;width:{width}px;height:{height}px;background:#fff">{body}</div>'
            f"<script>{script}</script></body></html>")


def text_lines(styles: list[str]) -> str:
    return "".join(f'<p style="top:{2 + i * 26}px;{s}">{LINE}</p>' for i, s in enumerate(styles))


def generic_families(project: Path) -> None:
    styles = [f"font-family:{g}" for g in GENERICS] + [f"font:20px/24px {g}" for g in GENERICS]
    styles += ["", "font-family:Impact", "font-family:Georgia", "font-family:Arial"]
    (project / "index.html").write_text(page(text_lines(styles), width=640, height=480, duration=0.1))


def weights(project: Path) -> None:
    styles = [f"font-family:Inter;font-weight:{w}" for w in range(300, 1000, 100)]
    (project / "index.html").write_text(page(text_lines(styles), width=640, height=180, duration=0.1))


def canvas_text(project: Path) -> None:
    fonts = ["24px sans-serif", "24px serif", "24px monospace", "24px system-ui", "bold 24px Inter", "24px Inter"]
    draw = "".join(f"c.font={f!r};c.fillText({LINE!r},8,{4 + i * 30});" for i, f in enumerate(fonts))
    script = ("const c=document.getElementById('c').getContext('2d');c.fillStyle='#000';c.textBaseline='top';"
              + draw)
    body = '<canvas id="c" width="640" height="180"></canvas><p style="top:-40px;font-family:Inter">x</p>'
    (project / "index.html").write_text(page(body, width=640, height=180, duration=0.1, script=script))


def tagged_video(project: Path) -> None:
    # SMPTE bars tagged BT.709 in matrix, transfer and primaries (the tags that made Chromium
    # colour-manage extracted PNG frames).
    mu.ffmpeg("-f", "lavfi", "-i", "smptehdbars=s=320x180:r=10:d=1", "-vf",
              "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
              "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv",
              "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-colorspace", "bt709",
              "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv", "-y", project / "bars.mp4")
    body = ('<video src="bars.mp4" muted data-start="0" data-duration="1" '
            'style="position:absolute;left:0;top:0;width:320px;height:180px"></video>')
    (project / "index.html").write_text(page(body, width=320, height=180, duration=1))


def subcomposition_timing(project: Path) -> None:
    (project / "compositions").mkdir()
    (project / "compositions" / "inner.html").write_text(
        '<template id="inner-template"><div data-composition-id="inner" data-width="320" data-height="180">'
        '<div style="position:absolute;left:40px;top:40px;width:100px;height:100px;background:#e0301e"></div>'
        '<script>window.__timelines=window.__timelines||{};'
        'window.__timelines.inner=gsap.timeline({paused:true});</script></div></template>')
    body = ('<div data-composition-id="inner" data-composition-src="compositions/inner.html" '
            'data-start="1" data-duration="1" data-track-index="1"></div>'
            '<div style="position:absolute;left:200px;top:40px;width:60px;height:60px;background:#1e60e0"></div>')
    script = "window.__timelines=window.__timelines||{};window.__timelines.cmp=gsap.timeline({paused:true});"
    html = page(body, width=320, height=180, duration=2, script=script, timeline=True)
    # GSAP from the npm registry into the project: HyperFrames cannot fetch a CDN offline.
    subprocess.run(["npm", "pack", "--silent", "gsap@3.12.5"], cwd=project, check=True, capture_output=True)
    with tarfile.open(project / "gsap-3.12.5.tgz") as tgz:
        member = tgz.extractfile("package/dist/gsap.min.js")
        assert member is not None
        (project / "gsap.min.js").write_bytes(member.read())
    (project / "gsap-3.12.5.tgz").unlink()
    (project / "index.html").write_text(html.replace("<head>", '<head><script src="gsap.min.js"></script>'))


COMPOSITIONS = {
    "generic-families": generic_families,
    "inter-weights": weights,
    "canvas-text": canvas_text,
    "tagged-video": tagged_video,
    "subcomposition-timing": subcomposition_timing,
}


def frames_over_black(folder: Path) -> list[np.ndarray]:
    names = sorted(folder.glob("*.png"))
    out = []
    for name in names:
        (rgba,) = mu.decode_frames(name, alpha=True)
        a = rgba[..., 3:4].astype(float) / 255
        out.append(rgba[..., :3].astype(float) * a)
    return out


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a - b) ** 2).mean())


def psnr(err: float) -> float:
    return math.inf if err == 0 else 10 * math.log10(255 ** 2 / err)


def render_both(name: str, work: Path) -> tuple[list[float], float, float]:
    project = work / name / "project"
    project.mkdir(parents=True)
    COMPOSITIONS[name](project)
    hf_out, hd_out = work / name / "hf", work / name / "hd"
    t0 = time.monotonic()
    subprocess.run(["hyperframes", "render", str(project), "--format", "png-sequence", "-o", str(hf_out),
                    "--quiet", "--workers", "1"], check=True, capture_output=True)
    t1 = time.monotonic()
    subprocess.run([sys.executable, "-m", "hyperdesk", "render", str(project), "-o", str(hd_out),
                    "--format", "png-sequence", "--workers", "1"], check=True, capture_output=True)
    t2 = time.monotonic()
    hf, hd = frames_over_black(hf_out), frames_over_black(hd_out)
    if len(hf) != len(hd):
        raise SystemExit(f"{name}: HyperFrames wrote {len(hf)} frames, hyperdesk {len(hd)}")
    return [mse(a, b) for a, b in zip(hf, hd, strict=True)], t1 - t0, t2 - t1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", type=Path, help="render into this folder and keep it")
    ap.add_argument("--only", nargs="*", choices=list(COMPOSITIONS), help="compositions to render")
    args = ap.parse_args()
    if shutil.which("hyperframes") is None:
        print("hyperframes is not on PATH: source ~/.cache/hyperframes-baseline/env.sh", file=sys.stderr)
        return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="vs-hf-"))
    print(f"{'composition':24s} {'frames':>6s} {'all dB':>8s} {'worst dB':>9s} {'hf s':>6s} {'hd s':>6s}")
    for name in args.only or list(COMPOSITIONS):
        errors, hf_s, hd_s = render_both(name, work)
        overall, worst = psnr(sum(errors) / len(errors)), psnr(max(errors))
        print(f"{name:24s} {len(errors):6d} {overall:8.2f} {worst:9.2f} {hf_s:6.1f} {hd_s:6.1f}", flush=True)
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
