"""Issue 19, item 2: no file the compiled composition reads (media, images, fonts, scripts,
stylesheets, sub-compositions) is ever an output, whatever its hyperdesk tag says, also when the
output reaches it through a symbolic link or `../`."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import mediautil as mu
from pipeline import run_cli, write_project

pytestmark = pytest.mark.slow

PLAIN = """
<!doctype html>
<html><body style="margin:0;background:#000">
<div data-composition-id="plain" data-width="320" data-height="180" data-duration="1" data-no-timeline>
  <div style="position:absolute;left:20px;top:20px;width:40px;height:40px;background:#0f0"></div>
</div>
</body></html>
"""

USES_VIDEO = """
<!doctype html>
<html><body style="margin:0;background:#000">
<div data-composition-id="uses" data-width="320" data-height="180" data-duration="1" data-no-timeline>
  <video src="{src}" data-start="0" data-duration="1" muted style="width:320px;height:180px"></video>
</div>
</body></html>
"""

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

EVERY_KIND = """
<!doctype html>
<html><head>
<link rel="stylesheet" href="css/style.css">
<script src="js/app.js"></script>
</head>
<body style="margin:0;background:#000">
<div data-composition-id="kinds" data-width="320" data-height="180" data-duration="1" data-no-timeline>
  <video src="media/clip.mp4" data-start="0" data-duration="1" muted></video>
  <img src="img/logo.png" style="width:20px">
  <p style="font-family: Deja">Hi</p>
  <div data-composition-src="scenes/scene.html" data-start="0" data-duration="1"></div>
</div>
</body></html>
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(proc, code: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert f"error {code}:" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "INTERNAL_ERROR" not in proc.stderr
    return proc.stderr


def tagged_render(tmp_path: Path, target: Path) -> None:
    """An earlier hyperdesk render at `target` (it carries our hyperdesk_plan tag)."""
    plain = write_project(tmp_path / "plain", PLAIN)
    target.parent.mkdir(parents=True, exist_ok=True)
    proc = run_cli("render", str(plain), "-o", str(target), "--local", "1")
    assert proc.returncode == 0, proc.stderr
    from hyperdesk.encode.assembly import output_plan_tag

    assert output_plan_tag(target) is not None


def test_a_source_video_that_is_an_earlier_render_is_never_the_output(tmp_path):
    """The issue's case: media/intro.mp4 is an earlier hyperdesk render the composition plays."""
    proj = write_project(tmp_path / "proj", USES_VIDEO.format(src="media/intro.mp4"))
    intro = proj / "media" / "intro.mp4"
    tagged_render(tmp_path, intro)
    (proj / "renders").mkdir()
    link = tmp_path / "link.mp4"
    link.symlink_to(intro)
    digest = sha256(intro)
    for out in (intro, proj / "renders" / ".." / "media" / "intro.mp4", link):
        for flags in ([], ["--overwrite"]):
            err = refused(run_cli("render", str(proj), "-o", str(out), "--local", "1", *flags),
                          "OUTPUT_INSIDE_PROJECT")
            assert "media/intro.mp4" in err
            assert "planning" not in err, "refused only after planning began"
    assert sha256(intro) == digest
    assert link.is_symlink() and link.resolve() == intro.resolve()


def test_a_referenced_render_in_the_renders_folder_is_never_the_output(tmp_path):
    """renders/ is where new outputs go; a file there the composition plays is still a source."""
    proj = write_project(tmp_path / "proj", USES_VIDEO.format(src="renders/take1.mp4"))
    take1 = proj / "renders" / "take1.mp4"
    tagged_render(tmp_path, take1)
    digest = sha256(take1)
    refused(run_cli("render", str(proj), "-o", str(take1), "--local", "1"), "OUTPUT_INSIDE_PROJECT")
    assert sha256(take1) == digest
    # a render the composition does not read may still be replaced there (the documented rule)
    other = proj / "renders" / "take2.mp4"
    tagged_render(tmp_path, other)
    proc = run_cli("render", str(proj), "-o", str(other), "--local", "1")
    assert proc.returncode == 0, proc.stderr


def test_a_file_read_through_dotdot_from_an_allowed_folder_is_never_the_output(tmp_path):
    shared = tmp_path / "shared"
    clip = shared / "clip.mp4"
    tagged_render(tmp_path, clip)
    proj = write_project(tmp_path / "proj", USES_VIDEO.format(src="../shared/clip.mp4"))
    digest = sha256(clip)
    err = refused(run_cli("render", str(proj), "-o", str(clip), "--local", "1", "--allow-outside", str(shared)),
                  "OUTPUT_INSIDE_PROJECT")
    assert "clip.mp4" in err
    assert sha256(clip) == digest


def test_the_plan_records_every_kind_of_file_the_composition_reads(tmp_path):
    proj = write_project(tmp_path / "proj", EVERY_KIND, {
        "css/style.css": "@font-face { font-family: Deja; src: url(../fonts/deja.ttf); }\n"
                         ".x { background: url(../img/bg.png); }\n",
        "js/app.js": "window.appLoaded = true;\n",
        "scenes/scene.html": '<template><div data-composition-id="scene" data-width="320" data-height="180" '
                             'data-duration="1"><img src="../img/scene.png"></div></template>\n',
        "notes.txt": "not read by the composition\n",
    })
    (proj / "media").mkdir()
    mu.make_video(proj / "media" / "clip.mp4", duration=1.0, size="160x90")
    for name in ("logo.png", "bg.png", "scene.png"):
        (proj / "img").mkdir(exist_ok=True)
        mu.ffmpeg("-y", "-f", "lavfi", "-i", "color=red:s=16x16", "-frames:v", "1", str(proj / "img" / name))
    (proj / "fonts").mkdir()
    shutil.copyfile(FONT, proj / "fonts" / "deja.ttf")
    plan_dir = tmp_path / "plan"
    proc = run_cli("plan", str(proj), "-o", str(plan_dir))
    assert proc.returncode == 0, proc.stderr
    read = json.loads((plan_dir / "meta" / "sources.json").read_text())["referenced"]
    expected = {"index.html", "css/style.css", "js/app.js", "media/clip.mp4", "img/logo.png", "img/bg.png",
                "img/scene.png", "fonts/deja.ttf", "scenes/scene.html"}
    assert expected <= set(read), sorted(expected - set(read))
    assert "notes.txt" not in read
    before = {p.relative_to(proj).as_posix(): sha256(p) for p in proj.rglob("*") if p.is_file()}
    # each of them, as a render's output (a file of the output's format or not), is refused
    for rel in sorted(expected):
        refused(run_cli("render", str(proj), "-o", str(proj / rel), "--local", "1"), "OUTPUT_INSIDE_PROJECT")
    # and so is the standalone assemble onto one of them, from the plan alone
    err = refused(run_cli("assemble", str(plan_dir), "-o", str(proj / "media" / "clip.mp4"), "chunk.mp4"),
                  "OUTPUT_INSIDE_PROJECT")
    assert "media/clip.mp4" in err
    assert {p.relative_to(proj).as_posix(): sha256(p) for p in proj.rglob("*") if p.is_file()} == before
