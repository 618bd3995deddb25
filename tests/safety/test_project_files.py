"""Issue 19, item 3: the files of a composition's project are chosen deliberately. A folder given as
the composition, or the folder of an HTML file holding a project marker, is the project; a single
HTML file in an ordinary folder takes only the files it references (and --include globs); the plan
says what it took; a project over the caps is refused with a hint; dot-folders are never copied."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pipeline import run_cli

pytestmark = pytest.mark.slow

SECRET = b"TAXES-2026-account-4711-do-not-leak"

PROMO = """
<!doctype html>
<html><head><link rel="stylesheet" href="css/promo.css"><script src="promo.js"></script></head>
<body style="margin:0;background:#000">
<div data-composition-id="promo" data-width="320" data-height="180" data-duration="1" data-no-timeline>
  <img src="pics/logo.png" style="position:absolute;left:10px;top:10px;width:40px;height:40px">
  <div class="box"></div>
</div>
</body></html>
"""


def png(path: Path, colour: str = "red") -> None:
    import mediautil as mu

    path.parent.mkdir(parents=True, exist_ok=True)
    mu.ffmpeg("-y", "-f", "lavfi", "-i", f"color={colour}:s=16x16", "-frames:v", "1", str(path))


def home(tmp_path: Path) -> Path:
    """An ordinary folder (a home directory, Downloads) holding promo.html among the user's files."""
    root = tmp_path / "home"
    root.mkdir()
    (root / "promo.html").write_text(PROMO)
    (root / "css").mkdir()
    (root / "css" / "promo.css").write_text(".box { position:absolute; left:60px; top:60px; width:30px; "
                                            "height:30px; background:url(../pics/bg.png); }\n")
    (root / "promo.js").write_text("fetch('data/values.json');\n")
    png(root / "pics" / "logo.png")
    png(root / "pics" / "bg.png", "blue")
    png(root / "pics" / "holiday.png", "green")  # not referenced
    (root / "taxes.txt").write_bytes(SECRET)
    (root / "Documents").mkdir()
    (root / "Documents" / "letter.txt").write_bytes(SECRET)
    (root / "data").mkdir()
    (root / "data" / "values.json").write_text('{"a": 1}\n')
    (root / ".ssh").mkdir()
    (root / ".ssh" / "id_ed25519").write_bytes(SECRET)
    return root


def plan_files(plan_dir: Path) -> list[str]:
    return sorted(p.relative_to(plan_dir / "compiled").as_posix() for p in (plan_dir / "compiled").rglob("*")
                  if p.is_file())


def leaks(root: Path) -> list[str]:
    return [p.as_posix() for p in root.rglob("*") if p.is_file() and SECRET in p.read_bytes()]


def refused(proc, code: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert f"error {code}:" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "INTERNAL_ERROR" not in proc.stderr
    return proc.stderr


def test_a_single_file_in_an_ordinary_folder_takes_only_what_it_references(tmp_path):
    root = home(tmp_path)
    plan_dir = tmp_path / "plan"
    proc = run_cli("plan", str(root / "promo.html"), "-o", str(plan_dir))
    assert proc.returncode == 0, proc.stderr
    taken = ["css/promo.css", "pics/bg.png", "pics/logo.png", "promo.html", "promo.js"]
    assert [f for f in plan_files(plan_dir) if not f.startswith("__hd/") and f != "index.html"] == taken
    assert leaks(plan_dir) == []
    size = sum((root / f).stat().st_size for f in taken)
    sources = json.loads((plan_dir / "meta" / "sources.json").read_text())
    assert (sources["scope"], sources["files"], sources["bytes"]) == ("referenced", 5, size)
    # the plan says how many files and bytes it took, and from where
    line = next(line for line in proc.stdout.splitlines() if line.startswith("project "))
    assert str(root.resolve()) in line and "5 files" in line and "references" in line


def test_include_adds_what_scripts_fetch_and_never_a_dot_folder(tmp_path):
    root = home(tmp_path)
    plan_dir = tmp_path / "plan"
    proc = run_cli("plan", str(root / "promo.html"), "-o", str(plan_dir), "--include", "data/*.json",
                   "--include", "**/id_*", "--json")
    assert proc.returncode == 0, proc.stderr
    files = plan_files(plan_dir)
    assert "data/values.json" in files
    assert not any(f.startswith(".ssh") or "id_ed25519" in f for f in files)
    assert leaks(plan_dir) == []
    manifest = json.loads(proc.stdout)["manifest"]
    assert manifest["project_scope"] == "referenced" and manifest["project_files"] == 6
    bad = refused(run_cli("plan", str(root / "promo.html"), "-o", str(tmp_path / "p2"), "--include", "../*"),
                  "INVALID_RENDER_CONFIG")
    assert "--include" in bad
    assert not (tmp_path / "p2").exists()


def test_render_of_a_single_file_reports_what_it_took_and_never_uploads_the_rest(tmp_path):
    root = home(tmp_path)
    out = tmp_path / "promo.mp4"
    proc = run_cli("render", str(root / "promo.html"), "-o", str(out), "--local", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    planned = next(json.loads(line) for line in proc.stdout.splitlines() if '"planned"' in line)
    assert planned["project_scope"] == "referenced" and planned["project_files"] == 5
    assert planned["project_dir"] == str(root.resolve()) and planned["project_bytes"] > 0
    assert leaks(Path(planned["plan_dir"])) == []
    assert out.is_file()
    text = run_cli("render", str(root / "promo.html"), "-o", str(tmp_path / "again.mp4"), "--local", "1")
    assert text.returncode == 0, text.stderr
    line = next(line for line in text.stderr.splitlines() if line.startswith("project "))  # progress: stderr
    assert "5 files" in line and str(root.resolve()) in line


@pytest.mark.parametrize("marker", ["hyperframes.json", "package.json"])
def test_a_project_marker_or_a_folder_makes_the_whole_folder_the_project(tmp_path, marker):
    root = home(tmp_path)
    (root / marker).write_text("{}\n")
    plan_dir = tmp_path / "plan"
    proc = run_cli("plan", str(root / "promo.html"), "-o", str(plan_dir))
    assert proc.returncode == 0, proc.stderr
    files = plan_files(plan_dir)
    assert {"taxes.txt", "Documents/letter.txt", "pics/holiday.png", "data/values.json", marker} <= set(files)
    assert not any(f.startswith(".ssh") for f in files)
    assert "the whole folder" in proc.stdout
    (root / marker).unlink()
    folder = run_cli("plan", str(root), "--entry", "promo.html", "-o", str(tmp_path / "plan2"))
    assert folder.returncode == 0, folder.stderr
    assert "taxes.txt" in plan_files(tmp_path / "plan2")
    assert not any(f.startswith(".ssh") for f in plan_files(tmp_path / "plan2"))


def test_a_project_over_the_caps_is_refused_with_a_hint_before_anything_is_copied(tmp_path):
    root = home(tmp_path)
    (root / "package.json").write_text("{}\n")
    (root / "Documents" / "video.bin").write_bytes(bytes(300_000))
    cache = tmp_path / "cache"
    cache.mkdir()
    env = {**__import__("os").environ, "HYPERDESK_CACHE_DIR": str(cache)}
    out = tmp_path / "out.mp4"
    for flags, what in ((["--max-project-files", "5"], "5 files"), (["--max-project-bytes", "200000"], "200000")):
        t0 = time.monotonic()
        err = refused(run_cli("render", str(root / "promo.html"), "-o", str(out), "--local", "1", *flags, env=env),
                      "PROJECT_TOO_LARGE")
        assert time.monotonic() - t0 < 30
        assert what in err and "hint:" in err and "--max-project" in err
        assert "planning" not in err
        err = refused(run_cli("plan", str(root / "promo.html"), "-o", str(tmp_path / "plan"), *flags, env=env),
                      "PROJECT_TOO_LARGE")
    assert not out.exists() and not (tmp_path / "plan").exists()
    assert not (cache / "plans").exists() or not any((cache / "plans").iterdir())
    # the same project under the caps plans
    ok = run_cli("plan", str(root / "promo.html"), "-o", str(tmp_path / "plan"), "--max-project-files", "50", env=env)
    assert ok.returncode == 0, ok.stderr


def test_the_default_caps(tmp_path):
    from hyperdesk.plan.config import RenderConfig

    limits = RenderConfig().project_limits()
    assert (limits.max_files, limits.max_bytes) == (20_000, 2 * 1024 ** 3)
    root = tmp_path / "big"
    root.mkdir()
    (root / "package.json").write_text("{}\n")
    (root / "index.html").write_text(PROMO)
    many = root / "many"
    many.mkdir()
    for i in range(20_001):
        (many / f"{i}.txt").touch()
    err = refused(run_cli("plan", str(root), "-o", str(tmp_path / "plan")), "PROJECT_TOO_LARGE")
    assert "20000 files" in err
    assert not (tmp_path / "plan").exists()
