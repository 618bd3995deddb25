"""Render-node provisioning: put this controller's hyperdesk on a Debian/Ubuntu node over SSH.

`hyperdesk nodes provision user@host` makes a node able to render this controller's plans:

* It connects with the farm's strict host-key pinning (`connect_node`): an unknown key is refused
  until its fingerprint is confirmed, a changed key is refused outright.
* One probe (a Python script run by the node's own python3) reports the node's state: OS, sudo,
  system packages, the browser, the hyperdesk venv and what is installed in it, the default font.
* hyperdesk goes into the user's own prefix, `~/.local/share/hyperdesk/venv`, as the very wheel of
  the controller (built from its source tree, taken from its app bundle, or repacked from its
  installed files), installed by the node's own pip under the controller's exact dependency pins
  (`-c constraints.txt`: every package of hyperdesk's dependency closure at the controller's version).
  The node needs only its package index (or --find-links/--no-index). The pinned ffmpeg arrives with
  imageio-ffmpeg.
* System packages (chromium-headless-shell, python3-venv) only through `apt-get`, as root or with
  passwordless `sudo -n`; otherwise the exact commands an administrator must run are reported.
* Idempotent: a node whose venv holds the same wheel (content digest), the same pins and an intact
  hyperdesk, with a browser and the font present, is left untouched ("already current").
* It ends with the node's preflight (`hyperdesk doctor --json` on the node, compared with this
  machine's worker environment) and registers or updates the node with the path of its hyperdesk.

The wheel's identity is a digest of its entries' names and contents, so two builds of the same
source (different zip timestamps) are the same wheel.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from collections.abc import Callable

import asyncssh

from hyperdesk import __version__
from hyperdesk.errors import HyperdeskError
from hyperdesk.store.db import JobStore
from hyperdesk.store.models import NodeConfig

PREFIX_REL = ".local/share/hyperdesk"  # under the node user's home
STAMP_NAME = "hyperdesk-provision.json"  # inside the venv: what the last provisioning installed
BROWSER_PACKAGE = "chromium-headless-shell"
VENV_PACKAGE = "python3-venv"
PYTHON_PACKAGE = "python3"
MIN_PYTHON = (3, 11)
PIP_TIMEOUT_S = 3600.0

Say = Callable[[str], None]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _provision_error(message: str, hint: str, **details: Any) -> HyperdeskError:
    return HyperdeskError("NODE_PROVISION_FAILED", message, hint=hint, details=details)


# ---------------------------------------------------------------- what the controller installs


def dependency_pins(dist: str = "hyperdesk") -> list[str]:
    """`name==version` for every installed package of dist's runtime dependency closure.

    Used as pip constraints, so listing a package a node does not need is harmless; leaving one
    out would let a node resolve a different version.
    """
    seen: dict[str, str] = {}

    def walk(name: str, extras: set[str]) -> None:
        for req in metadata.requires(name) or []:
            spec, _, marker = req.partition(";")
            m = re.match(r"\s*([A-Za-z0-9._-]+)\s*(\[[^\]]*\])?", spec)
            if not m:
                continue
            wanted = {e.strip() for e in (m.group(2) or "[]")[1:-1].split(",") if e.strip()}
            needs_extra = set(re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker))
            if needs_extra and not needs_extra & extras:
                continue
            try:
                version = metadata.version(m.group(1))
            except metadata.PackageNotFoundError:
                continue  # excluded by a marker here; the node resolves it unpinned if it needs it
            key = _norm(m.group(1))
            if key in seen:
                continue
            seen[key] = version
            walk(m.group(1), wanted)

    walk(dist, set())
    return [f"{k}=={v}" for k, v in sorted(seen.items())]


def constraints_digest(pins: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(pins)).encode()).hexdigest()


def wheel_content_digest(wheel: Path) -> str:
    """sha256 over the wheel's entry names and contents. Zip timestamps do not count, nor does RECORD
    (it only lists the other entries' hashes), so a wheel repacked from an install matches its original."""
    h = hashlib.sha256()
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            if name.endswith("/") or re.search(r"\.dist-info/RECORD(\.jws|\.p7s)?$", name):
                continue
            h.update(name.encode() + b"\0" + hashlib.sha256(zf.read(name)).digest())
    return h.hexdigest()


def wheel_version(wheel: Path) -> tuple[str, str]:
    """(distribution name, version) from a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1), None)
        if meta is None:
            raise _provision_error(f"{wheel} is not a wheel (no METADATA)", "Pass a wheel built from hyperdesk.")
        text = zf.read(meta).decode("utf-8", "replace")
    fields = dict(re.findall(r"^(Name|Version): (.+)$", text, re.M))
    return fields.get("Name", ""), fields.get("Version", "")


def source_tree() -> Path | None:
    """The checkout hyperdesk runs from (a plain source tree or an editable install), else None."""
    import hyperdesk

    root = Path(hyperdesk.__file__).resolve().parents[1]
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return None
    import tomllib

    try:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
    except (OSError, ValueError):
        return None
    return root if name == "hyperdesk" else None


# Files of a source tree that reach the wheel: the package, the metadata inputs and the data files
# (see pyproject's data-files). A clean copy is built, so stale build/ output never leaks in.
_TREE_FILES = ("pyproject.toml", "README.md", "LICENSE", "LICENSE.txt", "MANIFEST.in", "setup.py", "setup.cfg")
_TREE_DIRS = ("hyperdesk", "resources/icons", "packaging")


def _tree_paths(root: Path) -> list[Path]:
    out = [root / f for f in _TREE_FILES if (root / f).is_file()]
    for d in _TREE_DIRS:
        base = root / d
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(n for n in dirnames if n != "__pycache__" and not n.startswith("."))
            for f in sorted(filenames):
                if f.endswith((".pyc", ".pyo")) or f.startswith("."):
                    continue
                out.append(Path(dirpath) / f)
    return out


def source_fingerprint(root: Path) -> str:
    h = hashlib.sha256()
    for p in _tree_paths(root):
        st = p.stat()
        h.update(f"{p.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()


def build_wheel_from_source(root: Path, out_dir: Path, *, python: str | None = None) -> Path:
    """`pip wheel --no-deps` of a clean copy of the source tree; returns the wheel's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hyperdesk-wheel-") as tmp:
        copy = Path(tmp) / "src"
        for p in _tree_paths(root):
            dest = copy / p.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dest)
        built = Path(tmp) / "dist"
        cmd = [python or sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
               "-q", "-w", str(built), str(copy)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(built.glob("hyperdesk-*.whl"))
        if res.returncode != 0 or not wheels:
            tail = (res.stderr or res.stdout).strip().splitlines()[-8:]
            raise _provision_error("building the hyperdesk wheel failed: " + " | ".join(tail),
                                   "Run `pip wheel --no-deps .` in the source tree to see the error.",
                                   command=cmd)
        target = out_dir / wheels[0].name
        shutil.move(str(wheels[0]), target)
        return target


def repack_installed(out_dir: Path, dist_name: str = "hyperdesk") -> Path:
    """A wheel of the installed (non-editable) distribution, from the files its RECORD lists."""
    dist = metadata.distribution(dist_name)
    version = dist.version
    info_dir = f"{dist_name}-{version}.dist-info"
    data_dir = f"{dist_name}-{version}.data/data/"
    entries: list[tuple[str, bytes]] = []
    skip = {f"{info_dir}/{n}" for n in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")}
    for f in dist.files or []:
        rel = f.as_posix()
        if "__pycache__/" in rel or rel.endswith(".pyc") or rel in skip:
            continue
        path = Path(dist.locate_file(f))
        if rel.startswith("../"):
            parts = Path(rel).parts
            # ../../../share/... (relative to site-packages) is a data file; bin/ scripts are regenerated
            # from entry_points.txt by the installer.
            if "share" not in parts:
                continue
            rel = data_dir + "/".join(parts[parts.index("share"):])
        if path.is_file():
            entries.append((rel, path.read_bytes()))
    if not any(r.startswith(f"{info_dir}/WHEEL") for r, _ in entries):
        raise _provision_error("the installed hyperdesk has no WHEEL metadata to repack",
                               "Pass --wheel with the wheel hyperdesk was installed from.")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{dist_name}-{version}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in sorted(entries):
            info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{rel},sha256={digest},{len(data)}")
        record.append(f"{info_dir}/RECORD,,")
        info = zipfile.ZipInfo(f"{info_dir}/RECORD", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        zf.writestr(info, "\n".join(record) + "\n")
    return target


@dataclass
class ControllerBuild:
    """What a node gets: this controller's wheel, its dependency pins and its default font."""

    wheel: Path
    wheel_digest: str
    version: str
    pins: list[str]
    source: str  # how the wheel was obtained: given, bundled, built, repacked
    font_file: Path | None = None
    font_integrity: str | None = None

    @property
    def pins_digest(self) -> str:
        return constraints_digest(self.pins)

    @property
    def direct_requirements(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as zf:
            meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
            text = zf.read(meta).decode("utf-8", "replace")
        names = []
        for req in re.findall(r"^Requires-Dist: (.+)$", text, re.M):
            if "extra ==" in req:
                continue
            m = re.match(r"\s*([A-Za-z0-9._-]+)", req)
            if m:
                names.append(_norm(m.group(1)))
        return names


def _bundle_dir() -> Path | None:
    base = getattr(sys, "_MEIPASS", None)
    d = Path(base) / "provision" if base else None
    return d if d is not None and d.is_dir() else None


def _default_font() -> tuple[Path | None, str | None]:
    """The controller's verified default-font tarball, to give nodes that lack it."""
    try:
        from hyperdesk.composition.cdn import tarball_file_name
        from hyperdesk.composition.fonts import DEFAULT_PACKAGE, FONTSOURCE_PINS
        from hyperdesk.composition.npm import integrity_matches
        from hyperdesk.dirs import cache_root
    except ImportError:
        return None, None
    version, integrity = FONTSOURCE_PINS[DEFAULT_PACKAGE]
    path = cache_root() / "assets" / "npm" / tarball_file_name(DEFAULT_PACKAGE, version)
    if path.is_file() and integrity_matches(path, integrity):
        return path, integrity
    return None, integrity


def _prune(cache: Path, keep: Path, count: int = 3) -> None:
    """Keep the wheels of the last few source states only."""
    slots = sorted((d for d in cache.iterdir() if d.is_dir() and d != keep), key=lambda d: d.stat().st_mtime)
    for old in slots[:max(0, len(slots) - (count - 1))]:
        shutil.rmtree(old, ignore_errors=True)


def controller_build(wheel: Path | None = None, *, cache_dir: Path | None = None,
                     say: Say | None = None) -> ControllerBuild:
    """This controller's wheel and pins: --wheel, else the app bundle's, else built from the source
    tree (cached per source state), else repacked from the installed distribution."""
    from hyperdesk.dirs import cache_root

    say = say or (lambda _m: None)
    cache = (cache_dir or cache_root()) / "provision" / "wheels"
    bundle = _bundle_dir()
    pins: list[str] | None = None
    if bundle is not None and (bundle / "constraints.txt").is_file():
        pins = [ln.strip() for ln in (bundle / "constraints.txt").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    if pins is None:
        pins = dependency_pins()
    source = "given"
    if wheel is None and os.environ.get("HYPERDESK_PROVISION_WHEEL"):
        wheel = Path(os.environ["HYPERDESK_PROVISION_WHEEL"])
    if wheel is None and bundle is not None:
        found = sorted(bundle.glob("hyperdesk-*.whl"))
        if found:
            wheel, source = found[-1], "bundled"
    if wheel is None:
        root = source_tree()
        if root is not None:  # imported from a checkout (plain or editable): build what runs here
            slot = cache / source_fingerprint(root)[:20]
            found = sorted(slot.glob("hyperdesk-*.whl"))
            if found:
                wheel, source = found[-1], "built (cached)"
            else:
                say(f"building the hyperdesk wheel from {root} …")
                wheel, source = build_wheel_from_source(root, slot), "built"
                _prune(cache, keep=slot)
        else:
            tmp = Path(tempfile.mkdtemp(prefix="hyperdesk-repack-"))
            wheel, source = repack_installed(tmp), "repacked"
    wheel = Path(wheel)
    if not wheel.is_file():
        raise _provision_error(f"no wheel at {wheel}", "Pass --wheel with a hyperdesk wheel (pip wheel --no-deps .).")
    name, version = wheel_version(wheel)
    if _norm(name) != "hyperdesk" or version != __version__:
        raise _provision_error(
            f"{wheel.name} is {name} {version}, this controller runs hyperdesk {__version__}",
            "A node must run the controller's own hyperdesk: pass the wheel of this version (or none).",
            wheel=str(wheel))
    font, integrity = _default_font()
    return ControllerBuild(wheel=wheel, wheel_digest=wheel_content_digest(wheel), version=version, pins=pins,
                           source=source, font_file=font, font_integrity=integrity)


# ---------------------------------------------------------------- the probe (runs on the node)

# Runs under the node's python3 (any 3.6+, so an old one can still say it is too old). PAYLOAD is
# replaced by a JSON literal. It prints one JSON object.
_PROBE = r'''
import base64, hashlib, json, os, shutil, subprocess, sys
P = json.loads(PAYLOAD)
home = os.path.expanduser("~")
prefix = os.path.join(home, P["prefix_rel"])
venv = os.path.join(prefix, "venv")
out = {"home": home, "python": os.path.realpath(sys.executable), "python_version": list(sys.version_info[:3]),
       "prefix": prefix, "venv": venv, "is_root": os.geteuid() == 0}
osr = {}
try:
    with open("/etc/os-release") as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k:
                osr[k] = v.strip().strip('"')
except OSError:
    pass
out["os"] = {"id": osr.get("ID"), "id_like": osr.get("ID_LIKE"), "version_id": osr.get("VERSION_ID"),
             "pretty": osr.get("PRETTY_NAME")}
out["apt"] = bool(shutil.which("apt-get"))
out["sudo"] = False
if not out["is_root"] and shutil.which("sudo"):
    out["sudo"] = subprocess.call(["sudo", "-n", "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) == 0
pk = {}
if shutil.which("dpkg-query"):
    for name in P["packages"]:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        pk[name] = b"install ok installed" in r.stdout
out["packages"] = pk
try:
    import venv as _v, ensurepip as _e
    out["venv_module"] = True
except ImportError:
    out["venv_module"] = False
configured = os.environ.get("HYPERDESK_BROWSER")
out["browser"] = None
for cand in ([configured] if configured else P["browser_paths"]):
    if os.path.isfile(cand) and os.access(cand, os.X_OK):
        out["browser"] = cand
        break
cache = os.environ.get("HYPERDESK_CACHE_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache"), "hyperdesk")
out["font"] = None
if P.get("font_file"):
    fp = os.path.join(cache, "assets", "npm", P["font_file"])
    ok = False
    if os.path.isfile(fp) and P.get("font_integrity"):
        algo, _, want = P["font_integrity"].partition("-")
        h = hashlib.new(algo)
        with open(fp, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        ok = base64.b64encode(h.digest()).decode() == want
    out["font"] = {"path": fp, "ok": ok}
link = os.path.join(home, ".local", "bin", "hyperdesk")
out["link"] = {"path": link, "exists": os.path.lexists(link),
               "target": os.readlink(link) if os.path.islink(link) else None}
vpy = os.path.join(venv, "bin", "python")
out["venv_state"] = None
if os.path.exists(vpy):
    r = subprocess.run([vpy, "-c", VENV_SCRIPT, json.dumps(P["names"])], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    try:
        out["venv_state"] = json.loads(r.stdout.decode())
    except ValueError:
        out["venv_state"] = {"broken": r.stderr.decode("utf-8", "replace")[-400:]}
stamp = os.path.join(venv, P["stamp"])
out["stamp"] = None
if os.path.isfile(stamp):
    try:
        with open(stamp) as f:
            out["stamp"] = json.load(f)
    except (OSError, ValueError):
        pass
print(json.dumps(out))
'''

# Runs under the venv's python: installed versions and whether hyperdesk's files match its RECORD.
_VENV_SCRIPT = r'''
import base64, hashlib, json, sys
from importlib import metadata
names = json.loads(sys.argv[1])
out = {"python_version": list(sys.version_info[:3]), "installed": {}}
for n in names:
    try:
        out["installed"][n] = metadata.version(n)
    except metadata.PackageNotFoundError:
        out["installed"][n] = None
intact = False
try:
    d = metadata.distribution("hyperdesk")
    intact = True
    for f in d.files or []:
        if not f.hash:
            continue
        try:
            data = f.read_binary()
        except OSError:
            intact = False
            break
        got = base64.urlsafe_b64encode(hashlib.new(f.hash.mode, data).digest()).rstrip(b"=").decode()
        if got != f.hash.value:
            intact = False
            break
except metadata.PackageNotFoundError:
    pass
out["hyperdesk_intact"] = intact
print(json.dumps(out))
'''


def probe_script(build: ControllerBuild, browser_paths: list[str]) -> str:
    payload = {
        "prefix_rel": PREFIX_REL,
        "stamp": STAMP_NAME,
        "packages": [PYTHON_PACKAGE, VENV_PACKAGE, BROWSER_PACKAGE],
        "browser_paths": browser_paths,
        "names": ["hyperdesk"] + [p.split("==")[0] for p in build.pins],
        "font_file": build.font_file.name if build.font_file else None,
        "font_integrity": build.font_integrity,
    }
    return (f"PAYLOAD = {json.dumps(json.dumps(payload))}\nVENV_SCRIPT = {json.dumps(_VENV_SCRIPT)}\n"
            + _PROBE)


def _browser_paths() -> list[str]:
    from hyperdesk.capture.browser import system_paths

    # A node is always Linux; the controller may not be.
    if sys.platform.startswith("linux"):
        return system_paths()
    return ["/usr/lib/chromium/chromium-headless-shell", "/usr/lib/chromium/chromium",
            "/usr/bin/chromium-headless-shell", "/usr/bin/chromium", "/usr/bin/chromium-browser"]


# ---------------------------------------------------------------- the node's state


@dataclass
class NodeState:
    probe: dict[str, Any]

    @property
    def venv(self) -> str:
        return self.probe["venv"]

    @property
    def prefix(self) -> str:
        return self.probe["prefix"]

    @property
    def hyperdesk_exe(self) -> str:
        return f"{self.venv}/bin/hyperdesk"

    @property
    def venv_state(self) -> dict[str, Any] | None:
        vs = self.probe.get("venv_state")
        return vs if vs and "broken" not in vs else None

    def venv_matches_python(self) -> bool:
        vs = self.venv_state
        return bool(vs) and vs["python_version"][:2] == self.probe["python_version"][:2]

    def venv_problems(self, build: ControllerBuild, *, stamp: bool = True) -> list[str]:
        """Why the venv is not the controller's install; empty when it is current. stamp=False
        checks only what is installed (right after pip, before the stamp is written)."""
        vs = self.venv_state
        if self.probe.get("venv_state") is None:
            return ["no hyperdesk venv yet"]
        if vs is None:
            return ["the venv is broken"]
        problems = []
        if not self.venv_matches_python():
            problems.append(f"the venv was made for Python {'.'.join(map(str, vs['python_version'][:2]))}")
        installed = vs["installed"]
        if installed.get("hyperdesk") is None:
            problems.append("hyperdesk is not installed")
        elif installed["hyperdesk"] != build.version:
            problems.append(f"hyperdesk {installed['hyperdesk']} is installed, this controller runs {build.version}")
        elif not vs.get("hyperdesk_intact"):
            problems.append("hyperdesk's installed files do not match its RECORD")
        else:
            recorded = self.probe.get("stamp") or {}
            if stamp and recorded.get("wheel_digest") != build.wheel_digest:
                problems.append("another build of hyperdesk is installed")
            if stamp and recorded.get("pins_digest") != build.pins_digest:
                problems.append("it was installed under other dependency pins")
            if stamp and recorded.get("installed") not in (None, installed):
                problems.append("packages changed since the last provisioning")
        for pin in build.pins:
            name, _, version = pin.partition("==")
            have = installed.get(name)
            if have is not None and have != version:
                problems.append(f"{name} {have}, pinned {version}")
        missing = [n for n in build.direct_requirements if installed.get(n) is None]
        if missing:
            problems.append(f"{len(missing)} of hyperdesk's {len(build.direct_requirements)} dependencies missing")
        return problems


@dataclass
class ProvisionResult:
    node: str
    address: str
    outcome: str  # already-current | installed | updated | incomplete | checked
    actions: list[str] = field(default_factory=list)
    admin_commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    remote_command: list[str] = field(default_factory=list)
    compatible: bool | None = None
    reason: str | None = None
    preflight: dict[str, Any] | None = None
    hyperdesk_version: str = ""
    wheel_digest: str = ""
    pins: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class ProvisionOptions:
    python: str = "python3"
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    pip_args: list[str] = field(default_factory=list)
    system_packages: bool = True  # install missing system packages when root or sudo -n allows
    check_only: bool = False
    name: str | None = None
    slots: int | None = None
    register: bool = True


def _q(words: list[Any]) -> str:
    return " ".join(shlex.quote(str(w)) for w in words)


def _env_words(node: NodeConfig) -> list[str]:
    if not node.remote_env:
        return []
    return ["env"] + [f"{k}={v}" for k, v in sorted(node.remote_env.items())]


class Provisioner:
    """One provisioning run over one SSH connection."""

    def __init__(self, node: NodeConfig, store: JobStore, build: ControllerBuild, opts: ProvisionOptions, *,
                 accept_fingerprint: Any = None, say: Say | None = None) -> None:
        self.node = node
        self.store = store
        self.build = build
        self.opts = opts
        self.accept_fingerprint = accept_fingerprint
        self.say = say or (lambda _m: None)
        self.conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self.result = ProvisionResult(node=node.name, address=node.address, outcome="checked",
                                      hyperdesk_version=build.version, wheel_digest=build.wheel_digest,
                                      pins=len(build.pins))

    # ---- remote helpers ---------------------------------------------------------------------

    async def _run(self, command: str, *, input: str | None = None, timeout: float = 600.0,
                   check: bool = True, what: str = "") -> asyncssh.SSHCompletedProcess:
        assert self.conn is not None
        try:
            res = await asyncio.wait_for(self.conn.run(command, input=input, check=False), timeout)
        except (TimeoutError, asyncssh.Error, OSError) as exc:
            raise _provision_error(f"node {self.node.name}: {what or command[:60]} failed: {exc or type(exc).__name__}",
                                   "Check the connection to the node and run provision again.") from None
        if check and res.exit_status != 0:
            tail = (str(res.stderr or "") + str(res.stdout or "")).strip().splitlines()[-8:]
            raise _provision_error(f"node {self.node.name}: {what or command[:60]} exited {res.exit_status}: "
                                   + " | ".join(tail),
                                   "Fix the problem shown on the node, then run provision again "
                                   "(it picks up where it stopped).", command=command, output_tail=tail)
        return res

    async def _stream(self, command: str, *, timeout: float, what: str) -> None:
        """Run a long command, showing its output lines as they come."""
        assert self.conn is not None
        tail: list[str] = []
        try:
            proc = await self.conn.create_process(command, stderr=asyncssh.STDOUT, encoding="utf-8", errors="replace")
        except (asyncssh.Error, OSError) as exc:
            raise _provision_error(f"node {self.node.name}: cannot start {what}: {exc}",
                                   "Check the connection to the node and run provision again.") from None

        async def read() -> None:
            async for line in proc.stdout:
                line = line.rstrip()
                if line:
                    tail.append(line)
                    del tail[:-20]
                    self.say(f"  {line}")

        try:
            await asyncio.wait_for(read(), timeout)
            await asyncio.wait_for(proc.wait_closed(), 30)
        except TimeoutError:
            proc.close()
            raise _provision_error(f"node {self.node.name}: {what} took longer than {timeout:.0f} s",
                                   "Check the node's network access to its package index.") from None
        if proc.exit_status != 0:
            raise _provision_error(f"node {self.node.name}: {what} exited {proc.exit_status}: " + " | ".join(tail[-6:]),
                                   "Read the output above; fix the node's package index access (or pass "
                                   "--find-links/--no-index), then run provision again.",
                                   command=command, output_tail=tail)

    async def _sftp_client(self) -> asyncssh.SFTPClient:
        if self._sftp is None:
            assert self.conn is not None
            self._sftp = await self.conn.start_sftp_client()
        return self._sftp

    async def _put_atomic(self, local: Path | None, remote: str, data: bytes | None = None) -> None:
        sftp = await self._sftp_client()
        tmp = f"{remote}.tmp-{os.getpid()}"
        if local is not None:
            await sftp.put(str(local), tmp)
        else:
            async with sftp.open(tmp, "wb") as f:
                await f.write(data or b"")
        await sftp.posix_rename(tmp, remote)

    async def probe(self) -> NodeState:
        script = probe_script(self.build, _browser_paths())
        cmd = _q(_env_words(self.node) + [self.opts.python, "-"])
        res = await self._run(cmd, input=script, check=False, what="the node probe", timeout=120)
        if res.exit_status != 0:
            err = str(res.stderr or "").strip().splitlines()[-3:]
            if res.exit_status == 127:
                raise _provision_error(f"node {self.node.name}: {self.opts.python} not found",
                                       "Install Python 3.11 or newer on the node (sudo apt-get install -y python3 "
                                       "python3-venv) or pass --python with its path.", missing="python")
            raise _provision_error(f"node {self.node.name}: the probe failed: {' | '.join(err)}",
                                   "Check that --python names a working Python 3 on the node.")
        try:
            return NodeState(json.loads(str(res.stdout).strip().splitlines()[-1]))
        except (ValueError, IndexError):
            raise _provision_error(f"node {self.node.name}: the probe printed no state",
                                   "Check that --python names a working Python 3 on the node.") from None

    # ---- steps ------------------------------------------------------------------------------

    async def _python_missing(self) -> NodeState:
        """No Python on the node: install it when allowed, else say what an administrator must run."""
        res = await self._run("id -u; command -v apt-get || true; sudo -n true >/dev/null 2>&1 && echo sudo-ok || true",
                              check=False, what="checking the node")
        lines = str(res.stdout or "").split()
        root = bool(lines) and lines[0] == "0"
        apt = any(x.endswith("apt-get") for x in lines)
        sudo = "sudo-ok" in lines
        pkgs = [PYTHON_PACKAGE, VENV_PACKAGE]
        if apt and self.opts.system_packages and (root or sudo) and not self.opts.check_only:
            await self._apt(pkgs, root=root)
            return await self.probe()
        self._admin(pkgs, apt)
        raise _provision_error(f"node {self.node.name}: {self.opts.python} is not installed",
                               "An administrator must run: " + " && ".join(self.result.admin_commands),
                               admin_commands=self.result.admin_commands)

    def _admin(self, pkgs: list[str], apt: bool) -> None:
        if apt:
            cmds = ["sudo apt-get update", "sudo apt-get install -y --no-install-recommends " + " ".join(pkgs)]
        else:
            cmds = ["install with the system's package manager: " + ", ".join(pkgs)]
        for c in cmds:
            if c not in self.result.admin_commands:
                self.result.admin_commands.append(c)

    async def _apt(self, pkgs: list[str], *, root: bool) -> None:
        prefix = [] if root else ["sudo", "-n"]
        self.say(f"node {self.node.name}: installing system packages: {' '.join(pkgs)}")
        await self._stream(_q(prefix + ["apt-get", "update", "-qq"]), timeout=900, what="apt-get update")
        await self._stream(_q(prefix + ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq",
                                        "--no-install-recommends"] + pkgs), timeout=1800, what="apt-get install")
        self.result.actions.append("installed system packages: " + " ".join(pkgs))

    async def system_packages(self, state: NodeState) -> NodeState:
        p = state.probe
        missing = []
        if not p["venv_module"]:
            missing.append(VENV_PACKAGE)
        if not p["browser"]:
            missing.append(BROWSER_PACKAGE)
        if not missing:
            return state
        can = p["apt"] and self.opts.system_packages and (p["is_root"] or p["sudo"])
        if can and not self.opts.check_only:
            await self._apt(missing, root=p["is_root"])
            return await self.probe()
        self._admin(missing, p["apt"])
        if BROWSER_PACKAGE in missing and p["os"].get("id") == "ubuntu":
            self.result.notes.append("Ubuntu has no chromium-headless-shell package: install Chrome for Testing's "
                                     "headless shell and set HYPERDESK_BROWSER on the node (nodes add --env).")
        return state

    async def install_venv(self, state: NodeState) -> NodeState:
        p = state.probe
        venv = state.venv
        py = tuple(p["python_version"][:2])
        if py < MIN_PYTHON:
            raise _provision_error(
                f"node {self.node.name}: {p['python']} is Python {'.'.join(map(str, py))}; hyperdesk needs "
                f"{'.'.join(map(str, MIN_PYTHON))} or newer",
                "Install a newer Python on the node (Debian 12 and Ubuntu 24.04 have one) and pass --python.")
        prov = f"{state.prefix}/provision"
        await self._run(_q(["mkdir", "-p", prov]), what="creating the prefix")
        fresh = p.get("venv_state") is None
        if not fresh and not state.venv_matches_python():
            self.say(f"node {self.node.name}: recreating {venv} for Python {'.'.join(map(str, py))}")
            await self._run(_q(["rm", "-rf", venv]), what="removing the old venv")
            fresh = True
        if fresh:
            self.say(f"node {self.node.name}: creating {venv}")
            await self._run(_q([self.opts.python, "-m", "venv", venv]), what="python -m venv", timeout=300)
            self.result.actions.append(f"created {venv}")
        remote_wheel = f"{prov}/{self.build.wheel.name}"
        remote_pins = f"{prov}/constraints.txt"
        self.say(f"node {self.node.name}: uploading {self.build.wheel.name} and {len(self.build.pins)} dependency pins")
        await self._put_atomic(self.build.wheel, remote_wheel)
        pins_text = ("# hyperdesk " + self.build.version + ": the controller's dependency closure\n"
                     + "\n".join(self.build.pins) + "\n")
        await self._put_atomic(None, remote_pins, pins_text.encode())
        vpy = f"{venv}/bin/python"
        vs = state.venv_state or {}
        if (vs.get("installed") or {}).get("hyperdesk"):
            # Same version number, other build: pip would call it satisfied, so remove it first.
            await self._run(_q([vpy, "-m", "pip", "uninstall", "-y", "-q", "hyperdesk"]), what="pip uninstall",
                            timeout=300)
        pip = [vpy, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
        if self.opts.no_index:
            pip.append("--no-index")
        for fl in self.opts.find_links:
            pip += ["--find-links", fl]
        pip += list(self.opts.pip_args)
        pip += ["-c", remote_pins, remote_wheel]
        self.say(f"node {self.node.name}: pip install (the node's own pip, pinned) …")
        await self._stream(_q(pip), timeout=PIP_TIMEOUT_S, what="pip install")
        self.result.actions.append(f"installed hyperdesk {self.build.version} ({self.build.wheel_digest[:12]}) "
                                   f"with {len(self.build.pins)} pinned dependencies")
        state = await self.probe()
        problems = state.venv_problems(self.build, stamp=False)
        if problems:
            raise _provision_error(f"node {self.node.name}: after pip install: {'; '.join(problems)}",
                                   "Check the node's package index: it must offer the pinned versions.",
                                   problems=problems)
        stamp = {"schema": 1, "hyperdesk_version": self.build.version, "wheel": self.build.wheel.name,
                 "wheel_digest": self.build.wheel_digest, "pins_digest": self.build.pins_digest,
                 "pins": self.build.pins, "installed": state.venv_state["installed"],  # type: ignore[index]
                 "python": ".".join(map(str, state.probe["python_version"])),
                 "provisioned_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "controller": platform.node()}
        await self._put_atomic(None, f"{venv}/{STAMP_NAME}", (json.dumps(stamp, indent=2, sort_keys=True) + "\n").encode())
        return await self.probe()

    async def font(self, state: NodeState) -> None:
        f = state.probe.get("font")
        if self.build.font_file is None:
            if f is None:
                self.result.notes.append("this controller has no default font to give; run `hyperdesk setup` "
                                         "on the node (it needs npm) or here first")
            return
        if f and f["ok"]:
            return
        remote = f["path"]
        await self._run(_q(["mkdir", "-p", remote.rsplit("/", 1)[0]]), what="creating the font cache")
        await self._put_atomic(self.build.font_file, remote)
        self.result.actions.append(f"copied the default font {self.build.font_file.name}")

    async def link(self, state: NodeState) -> None:
        """~/.local/bin/hyperdesk for people logging into the node, unless something else is there."""
        ln = state.probe["link"]
        if ln["exists"]:
            if ln["target"] != state.hyperdesk_exe:
                self.result.notes.append(f"{ln['path']} exists and is not ours; left alone")
            return
        await self._run(_q(["mkdir", "-p", ln["path"].rsplit("/", 1)[0]]) + " && "
                        + _q(["ln", "-s", state.hyperdesk_exe, ln["path"]]), what="linking ~/.local/bin/hyperdesk")
        self.result.actions.append(f"linked {ln['path']}")

    async def preflight(self, state: NodeState) -> None:
        cmd = _q(_env_words(self.node) + [state.hyperdesk_exe, "doctor", "--json", "--no-gl"])
        res = await self._run(cmd, check=False, timeout=300, what="hyperdesk doctor")
        out = str(res.stdout or "").strip()
        try:
            report = json.loads(out)
        except ValueError:
            tail = str(res.stderr or "").strip().splitlines()[-5:]
            self.result.compatible = False
            self.result.reason = f"doctor did not answer JSON (exit {res.exit_status}): {' | '.join(tail)}"
            return
        from hyperdesk.farm.ssh import compare_env

        self.result.preflight = report
        try:
            from hyperdesk.plan.env import local_worker_env

            want = local_worker_env()
        except HyperdeskError as err:  # a controller without a browser still compares what it can
            self.result.notes.append(f"this machine's worker environment is incomplete ({err.code}); "
                                     "only the hyperdesk version was compared")
            theirs = (report.get("worker_env") or {}).get("hyperdesk_version")
            reason = None if theirs == __version__ else f"hyperdesk differs: node has {theirs!r}"
        else:
            reason = compare_env(report, want)
        problems = [f"{p.get('code')}: {p.get('message')}" for p in report.get("problems") or []]
        self.result.compatible = reason is None
        self.result.reason = reason
        if problems:
            self.result.notes.append("node doctor problems: " + "; ".join(problems))

    def register(self, state: NodeState) -> None:
        name = self.opts.name or self.node.name
        existing = self.store.get_node(name)
        remote = [state.hyperdesk_exe]
        if existing is not None:
            cfg = NodeConfig.model_validate(existing.model_dump())
            cfg.host, cfg.port, cfg.user = self.node.host, self.node.port, self.node.user
            cfg.remote_command = remote
            if self.node.key_path:
                cfg.key_path = self.node.key_path
            if self.opts.slots:
                cfg.slots = self.opts.slots
            for k, v in self.node.remote_env.items():
                cfg.remote_env[k] = v
        else:
            platform_info = (self.result.preflight or {}).get("platform") or {}
            from hyperdesk.farm.local import default_local_slots

            slots = self.opts.slots or default_local_slots(platform_info.get("cpu_count") or 2,
                                                           platform_info.get("memory_bytes") or 4 << 30)
            cfg = self.node.model_copy(update={"name": name, "remote_command": remote,
                                               "slots": slots})
        self.store.upsert_node(cfg)
        if self.result.preflight is not None:
            self.store.set_node_preflight(cfg.name, self.result.preflight,
                                          None if self.result.compatible else self.result.reason)
        self.result.node = cfg.name
        self.result.remote_command = remote

    # ---- the whole run ----------------------------------------------------------------------

    async def run(self) -> ProvisionResult:
        from hyperdesk.farm.ssh import connect_node

        t0 = time.monotonic()
        self.conn, _lost = await connect_node(self.node, self.store, accept_fingerprint=self.accept_fingerprint)
        try:
            try:
                state = await self.probe()
            except HyperdeskError as err:
                if err.details.get("missing") != "python":
                    raise
                state = await self._python_missing()
            p = state.probe
            self.say(f"node {self.node.name}: {p['os'].get('pretty') or 'unknown OS'}, Python "
                     f"{'.'.join(map(str, p['python_version']))}, "
                     f"{'root' if p['is_root'] else 'sudo' if p['sudo'] else 'no sudo'}, "
                     f"browser {p['browser'] or 'missing'}")
            state = await self.system_packages(state)
            problems = state.venv_problems(self.build)
            if self.opts.check_only:
                self.result.outcome = "checked"
                self.result.notes += [f"would update: {x}" for x in problems]
                if state.venv_state:
                    await self.preflight(state)
                return self.result
            if not state.probe["venv_module"]:
                self.result.outcome = "incomplete"
                self.result.reason = "Python's venv module is missing on the node"
                return self.result
            had_venv = state.venv_state is not None
            if problems:
                self.say(f"node {self.node.name}: " + "; ".join(problems))
                state = await self.install_venv(state)
            await self.font(state)
            await self.link(state)
            await self.preflight(state)
            if self.opts.register:
                self.register(state)
            else:
                self.result.remote_command = [state.hyperdesk_exe]
            if self.result.admin_commands:
                self.result.outcome = "incomplete"
            elif not self.result.actions:
                self.result.outcome = "already-current"
            else:
                self.result.outcome = "updated" if had_venv else "installed"
            return self.result
        finally:
            self.result.seconds = round(time.monotonic() - t0, 3)
            if self._sftp is not None:
                with contextlib.suppress(Exception):
                    self._sftp.exit()
            with contextlib.suppress(Exception):
                self.conn.close()


def provision(node: NodeConfig, store: JobStore, opts: ProvisionOptions, *, wheel: Path | None = None,
              accept_fingerprint: Any = None, say: Say | None = None) -> ProvisionResult:
    """Provision one node (blocking): build or find the controller's wheel, then run the steps."""
    build = controller_build(wheel, say=say)
    if say:
        say(f"hyperdesk {build.version} wheel {build.wheel.name} ({build.source}, {build.wheel_digest[:12]}), "
            f"{len(build.pins)} pinned dependencies")
    return asyncio.run(Provisioner(node, store, build, opts, accept_fingerprint=accept_fingerprint, say=say).run())


def default_node_name(user: str | None, host: str, port: int) -> str:
    return f"{user + '@' if user else ''}{host}" + (f":{port}" if port != 22 else "")
