"""Issue 10 (item 3, item 7): a composition reads only files of its project.

References that resolve outside the project (`../` in src/href/url()/@import, iframes, sub-compositions,
symlinks to outside files or folders) are refused with OUTSIDE_PROJECT_REFERENCE unless their folder is
admitted with --allow-outside; a dangling symlink is BROKEN_SYMLINK; the plan cache key never follows a
link out of the project. Real plans, no mocks (the autouse fixture of this folder only switches off the
remote resolver and font embedding in-process; the CLI tests run everything)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hyperdesk.errors import HyperdeskError
from hyperdesk.plan.cache import source_key
from hyperdesk.plan.config import RenderConfig
from hyperdesk.models import WorkerEnv
from hyperdesk.plan.planner import plan

SECRET = b"root:x:0:0:TOP-SECRET-OUTSIDE-CONTENT:/root:/bin/bash\n"


def page(body: str = "", head: str = "") -> str:
    return ("<!doctype html><html><head>" + head + "</head><body style=\"margin:0\">"
            '<div data-composition-id="main" data-width="160" data-height="90" data-duration="1" '
            'data-no-timeline>' + body + "</div></body></html>")


def write(root: Path, rel: str, content: str | bytes) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


@pytest.fixture()
def layout(tmp_path: Path):
    """<tmp>/project (the composition), <tmp>/outside (files that are not part of it), <tmp>/out."""
    project = tmp_path / "project"
    outside = tmp_path / "outside"
    out = tmp_path / "out"
    for d in (project, outside, out):
        d.mkdir()
    write(outside, "secret.png", SECRET)
    write(outside, "x.png", SECRET)
    write(outside, "other.html", "<p>" + SECRET.decode() + "</p>")
    write(outside, "etc/passwd", SECRET)
    write(outside, "etc/group", SECRET)
    return project, outside, out


def run_plan(project: Path, out: Path, **config) -> Path:
    target = out / "plan"
    plan(project, RenderConfig(**config), target)
    return target


def refused(project: Path, out: Path, code: str = "OUTSIDE_PROJECT_REFERENCE", **config) -> HyperdeskError:
    with pytest.raises(HyperdeskError) as exc:
        run_plan(project, out, **config)
    err = exc.value
    assert err.code == code, (err.code, err.message)
    assert err.hint
    no_secret_under(out)
    assert not (out / "plan").exists()
    return err


def no_secret_under(root: Path) -> None:
    """Nothing below root is or contains the outside content (no partial plan dir either)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            assert ".partial." not in name, f"partial plan dir left: {dirpath}/{name}"
        for name in filenames:
            data = (Path(dirpath) / name).read_bytes()
            assert b"TOP-SECRET-OUTSIDE-CONTENT" not in data, f"{dirpath}/{name} holds outside content"


def assert_outside_error(err: HyperdeskError, reference: str, file: str, resolved: Path) -> None:
    assert err.details["reference"] == reference
    assert err.details["file"] == file
    assert err.details["resolved"] == os.path.realpath(resolved)
    assert reference in err.message and file in err.message


# ------------------------------------------------------------------ references with ../


def test_img_parent_reference_is_refused(layout):
    project, outside, out = layout
    write(project, "index.html", page('<img src="../outside/secret.png">'))
    err = refused(project, out)
    assert_outside_error(err, "../outside/secret.png", "index.html", outside / "secret.png")


def test_css_url_in_linked_stylesheet_is_refused(layout):
    project, outside, out = layout
    write(project, "index.html", page('<div class="a"></div>', head='<link rel="stylesheet" href="css/s.css">'))
    write(project, "css/s.css", ".a{width:10px;height:10px;background:url(../../outside/x.png)}")
    err = refused(project, out)
    assert_outside_error(err, "../../outside/x.png", "css/s.css", outside / "x.png")


def test_iframe_parent_reference_is_refused(layout):
    project, outside, out = layout
    write(project, "index.html", page('<iframe id="f" src="../outside/other.html"></iframe>'))
    err = refused(project, out)
    assert_outside_error(err, "../outside/other.html", "index.html", outside / "other.html")


@pytest.mark.parametrize("markup,head,reference", [
    ('<div style="background:url(../outside/x.png)"></div>', "", "../outside/x.png"),
    ("", "<style>.b{background:url('../outside/x.png')}</style>", "../outside/x.png"),
    ("", '<style>@import "../outside/s.css";</style>', "../outside/s.css"),
    ("", '<link rel="stylesheet" href="../outside/s.css">', "../outside/s.css"),
    ('<video src="../outside/v.mp4"></video>', "", "../outside/v.mp4"),
    ('<img srcset="../outside/x.png 2x">', "", "../outside/x.png"),
    ('<video poster="../outside/x.png"></video>', "", "../outside/x.png"),
    ("", '<script src="../outside/lib.js"></script>', "../outside/lib.js"),
    ("", "<style>@font-face{font-family:X;src:url(../outside/f.woff2) format('woff2')}</style>",
     "../outside/f.woff2"),
    ('<iframe src="../outside/other.html#x"></iframe>', "", "../outside/other.html#x"),
])
def test_other_reference_kinds_are_refused(layout, markup, head, reference):
    project, outside, out = layout
    write(outside, "s.css", ".s{}/*" + SECRET.decode() + "*/")
    write(outside, "v.mp4", SECRET)
    write(outside, "lib.js", "//" + SECRET.decode())
    write(outside, "f.woff2", SECRET)
    write(project, "index.html", page(markup, head=head))
    err = refused(project, out)
    assert err.details["reference"] == reference and err.details["file"] == "index.html"


def test_reference_from_a_sub_composition_names_its_file(layout):
    project, outside, out = layout
    write(project, "index.html", page('<div data-composition-id="s" data-composition-src="scenes/s.html"></div>'))
    write(project, "scenes/s.html", '<template><div data-composition-id="s">'
                                    '<img src="../../outside/secret.png"></div></template>')
    err = refused(project, out)
    assert err.details["file"] == "scenes/s.html"
    assert err.details["resolved"] == os.path.realpath(outside / "secret.png")


def test_script_and_stylesheet_of_a_sub_composition_name_its_file(layout):
    project, outside, out = layout
    write(outside, "lib.js", "//" + SECRET.decode())
    write(outside, "s.css", ".s{}/*" + SECRET.decode() + "*/")
    write(project, "index.html", page('<div data-composition-id="s" data-composition-src="scenes/s.html"></div>'))
    write(project, "scenes/s.html", '<template><div data-composition-id="s"></div>'
                                    '<script src="../../outside/lib.js"></script></template>')
    err = refused(project, out)
    assert err.details["file"] == "scenes/s.html"
    assert err.details["resolved"] == os.path.realpath(outside / "lib.js")
    write(project, "scenes/s.html", '<template><link rel="stylesheet" href="../../outside/s.css">'
                                    '<div data-composition-id="s"></div></template>')
    err = refused(project, out)
    assert err.details["file"] == "scenes/s.html"
    assert err.details["resolved"] == os.path.realpath(outside / "s.css")


def test_sub_composition_file_outside_is_refused(layout):
    project, outside, out = layout
    write(outside, "scene.html", '<template><div data-composition-id="o"><p>'
                                 + SECRET.decode() + "</p></div></template>")
    write(project, "index.html", page('<div data-composition-id="o" data-composition-src="../outside/scene.html">'
                                      "</div>"))
    err = refused(project, out)
    assert_outside_error(err, "../outside/scene.html", "index.html", outside / "scene.html")


# ------------------------------------------------------------------ symlinks


def test_symlinked_file_to_outside_is_refused(layout):
    project, outside, out = layout
    write(project, "index.html", page('<img src="logo.png">'))
    os.symlink(outside / "secret.png", project / "logo.png")
    err = refused(project, out)
    assert err.details["reference"] == "logo.png"
    assert err.details["resolved"] == os.path.realpath(outside / "secret.png")
    assert "logo.png" in err.message


def test_symlinked_folder_to_outside_is_refused(layout):
    project, outside, out = layout
    write(project, "index.html", page('<img src="assets/sys/passwd">'))
    (project / "assets").mkdir()
    os.symlink(outside / "etc", project / "assets" / "sys", target_is_directory=True)
    err = refused(project, out)
    assert err.details["reference"] == "assets/sys"
    assert err.details["resolved"] == os.path.realpath(outside / "etc")
    assert err.details["target"] == str(outside / "etc")


def test_unreferenced_link_to_real_etc_is_refused(layout):
    project, _outside, out = layout
    write(project, "index.html", page())
    os.symlink("/etc", project / "etc", target_is_directory=True)
    err = refused(project, out)
    assert err.details["reference"] == "etc" and err.details["resolved"] == os.path.realpath("/etc")


def test_link_hidden_from_the_copy_is_refused_when_referenced(layout):
    """node_modules is never copied; a reference into it that leaves the project is still refused."""
    project, outside, out = layout
    (project / "node_modules").mkdir()
    os.symlink(outside / "etc", project / "node_modules" / "pkg", target_is_directory=True)
    write(project, "index.html", page(head='<script src="node_modules/pkg/passwd"></script>'))
    err = refused(project, out)
    assert err.details["reference"] == "node_modules/pkg/passwd"
    assert err.details["resolved"] == os.path.realpath(outside / "etc" / "passwd")


def test_symlinks_inside_the_project_keep_working(layout):
    project, _outside, out = layout
    write(project, "img/a.png", b"inside-bytes")
    os.symlink(project / "img" / "a.png", project / "alias.png")
    os.symlink("img", project / "pics", target_is_directory=True)
    write(project, "index.html", page('<img id="a" src="alias.png"><img id="b" src="pics/a.png">'))
    target = run_plan(project, out)
    compiled = target / "compiled"
    assert (compiled / "alias.png").read_bytes() == b"inside-bytes"
    assert (compiled / "pics" / "a.png").read_bytes() == b"inside-bytes"
    assert not (compiled / "alias.png").is_symlink() and not (compiled / "pics").is_symlink()
    assert not (compiled / "__hd" / "external").exists()


# ------------------------------------------------------------------ --allow-outside


def test_allow_outside_admits_a_folder(layout):
    project, outside, out = layout
    shared = outside / "shared"
    write(shared, "logo.png", b"shared-logo")
    write(shared, "lib/pic.png", b"shared-pic")
    (project / "linked").mkdir()
    os.symlink(shared / "lib", project / "linked" / "lib", target_is_directory=True)
    write(project, "index.html", page('<img id="i" src="../outside/shared/logo.png"><img src="linked/lib/pic.png">'))
    refused(project, out)  # not without --allow-outside
    target = run_plan(project, out, allow_outside=[str(shared)])
    compiled = target / "compiled"
    digest = hashlib.sha256(b"shared-logo").hexdigest()
    assert (compiled / "__hd" / "external" / digest / "logo.png").read_bytes() == b"shared-logo"
    assert f"/__hd/external/{digest}/logo.png" in (compiled / "index.html").read_text()
    assert (compiled / "linked" / "lib" / "pic.png").read_bytes() == b"shared-pic"
    no_secret_under(out)


def test_allow_outside_admits_only_that_folder(layout):
    project, outside, out = layout
    write(outside, "shared/logo.png", b"shared-logo")
    write(project, "index.html", page('<img src="../outside/shared/logo.png"><img src="../outside/secret.png">'))
    err = refused(project, out, allow_outside=[str(outside / "shared")])
    assert err.details["reference"] == "../outside/secret.png"


def test_allow_outside_does_not_follow_a_link_out_of_the_allowed_folder(layout):
    project, outside, out = layout
    write(outside, "shared/ok.png", b"ok")
    os.symlink(outside / "secret.png", outside / "shared" / "sneaky.png")
    write(project, "index.html", page('<img src="../outside/shared/sneaky.png">'))
    err = refused(project, out, allow_outside=[str(outside / "shared")])
    assert err.details["resolved"] == os.path.realpath(outside / "secret.png")


def test_allow_outside_admits_a_sub_composition(layout):
    project, outside, out = layout
    write(outside, "shared/scene.html", '<template><div data-composition-id="o"><img id="oi" src="pic.png">'
                                        "</div></template>")
    write(outside, "shared/pic.png", b"scene-pic")
    write(project, "index.html", page('<div data-composition-id="o" '
                                      'data-composition-src="../outside/shared/scene.html"></div>'))
    target = run_plan(project, out, allow_outside=[str(outside / "shared")])
    digest = hashlib.sha256(b"scene-pic").hexdigest()
    assert (target / "compiled" / "__hd" / "external" / digest / "pic.png").read_bytes() == b"scene-pic"


# ------------------------------------------------------------------ dangling links


def test_dangling_symlink_is_broken_symlink(layout):
    project, _outside, out = layout
    write(project, "index.html", page())
    os.symlink(project / "missing.png", project / "img.png")
    err = refused(project, out, code="BROKEN_SYMLINK")
    assert err.details["link"] == "img.png"
    assert err.details["target"] == str(project / "missing.png")
    assert "img.png" in err.message


def test_referenced_dangling_link_the_copy_skips_is_broken_symlink(layout):
    project, _outside, out = layout
    (project / "node_modules").mkdir()
    os.symlink(project / "gone", project / "node_modules" / "pkg", target_is_directory=True)
    write(project, "index.html", page(head='<script src="node_modules/pkg/lib.js"></script>'))
    err = refused(project, out, code="BROKEN_SYMLINK")
    assert err.details["link"] == "node_modules/pkg" and err.details["file"] == "index.html"


# ------------------------------------------------------------------ the plan cache key


def _env() -> WorkerEnv:
    from hyperdesk.plan.env import local_worker_env

    return local_worker_env()


def test_source_key_does_not_follow_links_out_of_the_project(layout):
    project, outside, _out = layout
    write(project, "index.html", page())
    os.symlink(outside / "etc", project / "sys", target_is_directory=True)
    os.symlink(outside / "secret.png", project / "s.png")
    os.symlink(project / "nothing", project / "dangling")
    env, cfg = _env(), RenderConfig()
    before = source_key(project, cfg, env)  # no error: planning raises the typed error
    write(outside, "etc/passwd", b"changed")
    write(outside, "secret.png", b"changed")
    assert source_key(project, cfg, env) == before


def test_source_key_follows_links_into_allowed_folders(layout):
    project, outside, _out = layout
    write(project, "index.html", page())
    os.symlink(outside / "etc", project / "sys", target_is_directory=True)
    os.symlink(outside / "secret.png", project / "s.png")
    env, cfg = _env(), RenderConfig(allow_outside=[str(outside / "etc")])
    before = source_key(project, cfg, env)
    write(outside, "secret.png", b"changed")  # not allowed: not followed
    assert source_key(project, cfg, env) == before
    write(outside, "etc/passwd", b"changed")  # allowed: copied by the plan, so part of the key
    assert source_key(project, cfg, env) != before


def test_source_key_sees_a_changed_file_read_through_dotdot_from_an_allowed_folder(layout):
    """`<img src="../outside/x.png">` with the folder allowed: the plan copies that file, so a new
    version of it must not reuse the cached plan."""
    project, outside, _out = layout
    write(project, "index.html", page('<img src="../outside/x.png">'))
    env, cfg = _env(), RenderConfig(allow_outside=[str(outside)])
    before = source_key(project, cfg, env)
    assert source_key(project, cfg, env) == before
    write(outside, "x.png", SECRET + b"a new version")
    assert source_key(project, cfg, env) != before


def test_source_key_stops_at_a_link_cycle_and_marks_bad_links(layout):
    project, outside, _out = layout
    write(project, "index.html", page())
    write(project, "sub/a.txt", "a")
    env, cfg = _env(), RenderConfig()
    plain = source_key(project, cfg, env)
    os.symlink(project, project / "sub" / "loop", target_is_directory=True)
    assert source_key(project, cfg, env) == plain  # copy_project skips the cycle too
    os.symlink(project / "nothing", project / "dangling")
    dangling = source_key(project, cfg, env)
    assert dangling != plain  # a cached plan is never reused for a project that cannot be planned
    os.unlink(project / "dangling")
    os.symlink(outside / "secret.png", project / "dangling")
    assert source_key(project, cfg, env) not in (plain, dangling)


# ------------------------------------------------------------------ the command line


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hyperdesk", *args], capture_output=True, text=True, timeout=600)


def assert_cli_error(proc: subprocess.CompletedProcess, code: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert f"error {code}:" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "INTERNAL_ERROR" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("command", ["plan", "render"])
def test_dangling_symlink_on_the_command_line(layout, command):
    project, _outside, out = layout
    write(project, "index.html", page())
    os.symlink(project / "gone.png", project / "img.png")
    target = out / ("plan" if command == "plan" else "out.mp4")
    proc = cli(command, str(project), "-o", str(target), "--json")
    assert_cli_error(proc, "BROKEN_SYMLINK")
    assert "img.png" in proc.stderr
    assert not target.exists()


def test_outside_link_on_the_render_command_line(layout):
    project, outside, out = layout
    write(project, "index.html", page())
    os.symlink(outside / "etc", project / "sys", target_is_directory=True)
    proc = cli("render", str(project), "-o", str(out / "out.mp4"), "--json")
    assert_cli_error(proc, "OUTSIDE_PROJECT_REFERENCE")
    no_secret_under(out)


def test_outside_reference_and_allow_outside_on_the_plan_command_line(layout):
    project, outside, out = layout
    write(outside, "shared/logo.png", b"shared-logo")
    write(project, "index.html", page('<img src="../outside/shared/logo.png">'))
    proc = cli("plan", str(project), "-o", str(out / "refused"), "--json")
    assert_cli_error(proc, "OUTSIDE_PROJECT_REFERENCE")
    assert "../outside/shared/logo.png" in proc.stderr and "index.html" in proc.stderr
    assert not (out / "refused").exists()
    proc = cli("plan", str(project), "-o", str(out / "allowed"), "--json",
               "--allow-outside", str(outside / "shared"))
    assert proc.returncode == 0, proc.stderr
    digest = hashlib.sha256(b"shared-logo").hexdigest()
    assert (out / "allowed" / "compiled" / "__hd" / "external" / digest / "logo.png").read_bytes() == b"shared-logo"


def without_file_permission_bypass() -> list[str]:
    """A command prefix under which mode bits apply: root reads any file, so drop its two capabilities."""
    if os.geteuid() != 0:
        return []
    if not Path("/usr/bin/setpriv").exists():
        pytest.skip("setpriv (util-linux) is needed to drop root's read-anything capabilities")
    drop = "-dac_override,-dac_read_search"
    return ["/usr/bin/setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}"]


def test_unreadable_project_file_is_a_user_error(layout):
    project, _outside, out = layout
    write(project, "index.html", page('<img src="logo.png">'))
    locked = write(project, "logo.png", b"not-for-you")
    locked.chmod(0)
    proc = subprocess.run([*without_file_permission_bypass(), sys.executable, "-m", "hyperdesk", "plan",
                           str(project), "-o", str(out / "plan"), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert_cli_error(proc, "PROJECT_FILE_UNREADABLE")
    assert "logo.png: cannot be read (Permission denied)" in proc.stderr
    assert "hint: Make the file readable" in proc.stderr
    assert not (out / "plan").exists() and not list(out.iterdir())
