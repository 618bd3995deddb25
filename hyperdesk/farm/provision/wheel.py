"""The hyperdesk wheel a node installs: built from a source tree, or repacked from an installed
distribution, and identified by its content (not its zip timestamps)."""
from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import hyperdesk
from hyperdesk.farm.provision import provision_error
from hyperdesk.farm.provision.pins import normalize_name

# Files of a source tree that reach the wheel: the package, the metadata inputs and the data files
# (see pyproject's data-files). A clean copy is built, so stale build/ output never leaks in.
_TREE_FILES = ("pyproject.toml", "README.md", "LICENSE", "LICENSE.txt", "MANIFEST.in", "setup.py", "setup.cfg")
_TREE_DIRS = ("hyperdesk", "resources/icons", "packaging")


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


def _metadata_text(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        meta = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1), None)
        if meta is None:
            raise provision_error(f"{wheel} is not a wheel (no METADATA)", "Pass a wheel built from hyperdesk.")
        return zf.read(meta).decode("utf-8", "replace")


def wheel_version(wheel: Path) -> tuple[str, str]:
    """(distribution name, version) from a wheel's METADATA."""
    fields = dict(re.findall(r"^(Name|Version): (.+)$", _metadata_text(wheel), re.M))
    return fields.get("Name", ""), fields.get("Version", "")


def wheel_requirements(wheel: Path) -> list[str]:
    """The normalized names of the wheel's direct runtime requirements (extras left out)."""
    names = []
    for req in re.findall(r"^Requires-Dist: (.+)$", _metadata_text(wheel), re.M):
        if "extra ==" in req:
            continue
        m = re.match(r"\s*([A-Za-z0-9._-]+)", req)
        if m:
            names.append(normalize_name(m.group(1)))
    return names


def source_tree() -> Path | None:
    """The checkout hyperdesk runs from (a plain source tree or an editable install), else None."""
    root = Path(hyperdesk.__file__).resolve().parents[1]
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
    except (OSError, ValueError):
        return None
    return root if name == "hyperdesk" else None


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
            raise provision_error("building the hyperdesk wheel failed: " + " | ".join(tail),
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
        path = Path(str(dist.locate_file(f)))
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
        raise provision_error("the installed hyperdesk has no WHEEL metadata to repack",
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
