"""The wheel on its own: built from this checkout with `pip wheel --no-deps`, installed into a fresh
venv (no system site-packages, the pinned dependencies from the wheelhouse), it runs
`hyperdesk --version`, `hyperdesk doctor --json` and a one-second render of the bundled sample."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from mediautil import audio_duration, count_frames, decode_frames, pixel

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
APP_ID = "io.hyperdesk.Hyperdesk"


def run(venv: Path, *args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """A command of the fresh venv, started away from the checkout so nothing imports it by accident."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def test_the_wheel_carries_every_module_the_runtime_and_the_desktop_files(hyperdesk_wheel: Path) -> None:
    names = set(zipfile.ZipFile(hyperdesk_wheel).namelist())
    source = {p.relative_to(REPO).as_posix() for p in (REPO / "hyperdesk").rglob("*.py") if "__pycache__" not in p.parts}
    assert source - names == set()
    assert "hyperdesk/runtime/hf-runtime.js" in names
    data = "hyperdesk-0.1.0.data/data/share/"
    assert {data + f"applications/{APP_ID}.desktop", data + f"metainfo/{APP_ID}.metainfo.xml",
            data + f"icons/hicolor/scalable/apps/{APP_ID}.svg"} <= names, sorted(n for n in names if ".data/" in n)
    entry_points = zipfile.ZipFile(hyperdesk_wheel).read("hyperdesk-0.1.0.dist-info/entry_points.txt").decode()
    assert "hyperdesk = hyperdesk.cli:main" in entry_points


def test_fresh_venv_version_doctor_and_a_one_second_render(installed_venv: Path, tmp_path: Path) -> None:
    venv = installed_venv
    r = run(venv, "python", "-c", "import hyperdesk, imageio_ffmpeg; print(hyperdesk.__file__); "
                                  "print(imageio_ffmpeg.get_ffmpeg_exe())", cwd=tmp_path)
    module, ffmpeg = r.stdout.split()
    assert Path(module).is_relative_to(venv) and Path(ffmpeg).is_relative_to(venv), r.stdout + r.stderr

    t0 = time.monotonic()
    r = run(venv, "hyperdesk", "--version", cwd=tmp_path)
    version_s = time.monotonic() - t0
    assert r.returncode == 0 and r.stdout.strip() == "hyperdesk 0.1.0", r.stdout + r.stderr

    t0 = time.monotonic()
    r = run(venv, "hyperdesk", "doctor", "--json", cwd=tmp_path)
    doctor_s = time.monotonic() - t0
    report = json.loads(r.stdout)
    assert r.returncode == 0 and report["ok"] is True, report.get("problems")
    assert Path(report["ffmpeg_path"]).is_relative_to(venv)  # the pinned ffmpeg came with the wheel's pins
    from hyperdesk.plan.env import local_worker_env

    assert report["worker_env"] == local_worker_env().model_dump()  # a node like this renders our plans
    assert "SwiftShader" in (report.get("gl_renderer") or "")

    # The sample cut to its first second (30 frames at 1920x1080), its chime moved to 0 s so the
    # one second has audio too.
    if not (REPO / "resources/sample/assets/gradient.png").exists():
        subprocess.run([sys.executable, str(REPO / "scripts/make_sample_media.py")], check=True)
    sample = tmp_path / "sample"
    shutil.copytree(REPO / "resources" / "sample", sample)
    html = (sample / "index.html").read_text()
    html, n = re.subn(r'(id="stage"[^>]*data-duration=")10(")', r"\g<1>1\2", html)
    html, m = re.subn(r'(<audio src="audio/chime.wav" data-start=")1(")', r"\g<1>0\2", html)
    assert n == 1 and m == 1
    (sample / "index.html").write_text(html)
    out = tmp_path / "sample-1s.mp4"
    t0 = time.monotonic()
    r = run(venv, "hyperdesk", "render", str(sample), "-o", str(out), "--json", cwd=tmp_path)
    render_s = time.monotonic() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    done = [json.loads(line) for line in r.stdout.splitlines() if line.startswith('{"event": "assembled"')]
    assert done and done[0]["result"]["frames"] == 30
    assert count_frames(out) == 30
    assert abs(audio_duration(out) - 1.0) < 0.05
    first = decode_frames(out)[0]
    assert first.shape[:2] == (1080, 1920)
    r_, g_, b_ = pixel(first, 1550, 290)[:3]  # the middle of the warm orb (CSS radial gradient)
    assert r_ > 200 and r_ > b_, (r_, g_, b_)
    print(f"[timing] --version {version_s:.2f} s, doctor --json {doctor_s:.1f} s, one-second render {render_s:.1f} s")


def test_install_desktop_from_the_installed_wheel(installed_venv: Path, tmp_path: Path) -> None:
    """The desktop entry of a wheel install starts that venv's hyperdesk; its files come from the wheel."""
    share = tmp_path / "share"
    r = run(installed_venv, "python", "-m", "hyperdesk.cli.desktop", "--data-home", str(share), "--json",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["exec"] == [str(installed_venv / "bin" / "hyperdesk")]
    assert len(result["files"]) == 10  # entry, metainfo, SVG and 7 PNG sizes (the venv has Qt)
    entry = (share / "applications" / f"{APP_ID}.desktop").read_text()
    assert f"Exec={installed_venv / 'bin' / 'hyperdesk'} gui %f" in entry
    assert (share / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg").read_bytes() == \
        (installed_venv / "share/icons/hicolor/scalable/apps" / f"{APP_ID}.svg").read_bytes()


def test_an_installed_controller_repacks_its_own_wheel(installed_venv: Path, hyperdesk_wheel: Path,
                                                       tmp_path: Path) -> None:
    """A controller installed from the wheel (no source tree) provisions nodes with a wheel rebuilt
    from its installed files: the same build, by content digest."""
    code = ("import sys; from pathlib import Path; from hyperdesk.farm.provision.build import controller_build; "
            "b = controller_build(cache_dir=Path(sys.argv[1])); print(b.source, b.wheel_digest, b.wheel)")
    r = run(installed_venv, "python", "-c", code, str(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    source, digest, wheel = r.stdout.split()
    from hyperdesk.farm.provision.wheel import wheel_content_digest

    assert source == "repacked" and digest == wheel_content_digest(hyperdesk_wheel)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not any("__pycache__" in n or n.endswith(("/INSTALLER", "/direct_url.json")) for n in names)
