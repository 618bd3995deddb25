"""npm packages for the asset resolver: version ranges, the user's npm client, verified tarballs.

The registry is reached only through the user's own ``npm`` executable (``npm view`` for metadata,
``npm pack`` for tarballs), so the user's registry, proxy and authentication settings apply and
hyperdesk names no registry address itself. A tarball's integrity is checked against the registry
metadata (``dist.integrity``, else ``dist.shasum``) before anything is extracted from it.

Tarballs are kept in ``<asset cache>/npm/<name>-<version>.tgz`` and unpacked once into
``<asset cache>/npm/x/<sha256 of the tarball>/``.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from collections.abc import Iterable

import nodesemver

from .cdn import tarball_file_name, tarball_prefix

VIEW_TIMEOUT_S = 60
PACK_TIMEOUT_S = 300

# ---------------------------------------------------------------------------------------------
# versions and ranges, with npm's own semantics (node-semver), strict parsing as npm does


def parse_version(text: str) -> nodesemver.SemVer | None:
    """A published version (``1.2.3``, ``1.2.3-rc.1``), or None for anything else."""
    return nodesemver.valid(text, False)


def is_exact_version(spec: str) -> bool:
    """Does ``spec`` name one version (as a tarball file name spells it, without a ``v``)?"""
    return parse_version(spec) is not None and not spec.startswith("v")


def satisfies(version: str, spec: str) -> bool:
    """npm's ``semver.satisfies``; the ``latest`` tag counts as ``*`` (any release, offline)."""
    if parse_version(version) is None:
        return False
    return nodesemver.satisfies(version, _range(spec), loose=False)


def max_satisfying(versions: Iterable[str], spec: str) -> str | None:
    """The highest of ``versions`` that satisfies ``spec`` (versions that do not parse are left out)."""
    valid = [v for v in versions if parse_version(v) is not None]
    return nodesemver.max_satisfying(valid, _range(spec), loose=False)


def _range(spec: str) -> str:
    spec = spec.strip()
    return "*" if spec == "latest" else spec


# ---------------------------------------------------------------------------------------------
# integrity


def integrity_matches(data_or_path: bytes | Path, integrity: str | None,
                      shasum: str | None = None) -> bool:
    """True when the bytes match an SRI string (any listed sha512/sha384/sha256/sha1), else the
    sha1 ``shasum``. False when neither is given."""
    def digest(algo: str) -> bytes:
        h = hashlib.new(algo)
        if isinstance(data_or_path, (bytes, bytearray)):
            h.update(data_or_path)
        else:
            with open(data_or_path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        return h.digest()

    if integrity:
        checked = False
        for item in integrity.split():
            algo, _, b64 = item.partition("-")
            algo = algo.lower()
            if algo not in ("sha512", "sha384", "sha256", "sha1"):
                continue
            checked = True
            try:
                want = base64.b64decode(b64.split("?")[0])
            except ValueError:
                continue
            if digest(algo) == want:
                return True
        if checked:
            return False
    if shasum:
        return digest("sha1").hex() == shasum.lower()
    return False


def sri_sha512(path: Path) -> str:
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha512-" + base64.b64encode(h.digest()).decode("ascii")


# ---------------------------------------------------------------------------------------------
# the npm client


class NpmError(Exception):
    """An npm call failed. ``outcome`` is one line for the error's attempts list; ``transient``
    says whether it was a timeout or a server error (worth retrying)."""

    def __init__(self, outcome: str, transient: bool = False) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.transient = transient


_TRANSIENT_CODES = {"ETIMEDOUT", "ESOCKETTIMEDOUT", "ECONNRESET", "EAI_AGAIN", "EPIPE"}


def find_npm() -> str | None:
    """The npm executable: ``HYPERDESK_NPM`` when set (empty/``none`` disables the npm tier),
    else ``npm`` on PATH."""
    env = os.environ.get("HYPERDESK_NPM")
    if env is not None:
        if env.strip().lower() in ("", "none", "0", "false", "off"):
            return None
        found = shutil.which(env)
        if found:
            return found
        return env if Path(env).is_file() else None
    return shutil.which("npm")


@dataclass(frozen=True)
class PackageVersion:
    package: str
    version: str
    integrity: str | None
    shasum: str | None


class NpmClient:
    """``npm view`` and ``npm pack`` through the user's own client."""

    def __init__(self, exe: str | None = None, work_dir: Path | None = None) -> None:
        self.exe = exe if exe is not None else find_npm()
        self.work_dir = work_dir

    @property
    def available(self) -> bool:
        return bool(self.exe)

    def _run(self, args: list[str], timeout: int, cwd: Path) -> str:
        if not self.exe:
            raise NpmError("skipped: no npm client found")
        env = dict(os.environ)
        env.update({
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
            "npm_config_loglevel": "error",
            "npm_config_progress": "false",
        })
        try:
            proc = subprocess.run(
                [self.exe, *args], cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                capture_output=True, text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise NpmError(f"npm {args[0]} timed out after {timeout} s", transient=True) from None
        except OSError as e:
            raise NpmError(f"npm could not be started: {e}") from None
        if proc.returncode != 0:
            raise self._error(args[0], proc.stdout, proc.stderr)
        return proc.stdout

    @staticmethod
    def _error(cmd: str, stdout: str, stderr: str) -> NpmError:
        code, summary = "", ""
        try:
            err = json.loads(stdout).get("error") or {}
            code, summary = str(err.get("code") or ""), str(err.get("summary") or "")
        except (ValueError, AttributeError):
            pass
        if not code:
            m = re.search(r"npm (?:ERR!|error) code (\S+)", stderr)
            code = m.group(1) if m else ""
        if not summary:
            lines = [ln for ln in stderr.splitlines() if ln.strip() and "complete log" not in ln]
            summary = lines[-1].strip() if lines else "failed"
            summary = re.sub(r"^npm (?:ERR!|error)\s*", "", summary)
        # npm quotes the registry URL it called; hyperdesk's messages name no registry address.
        summary = re.sub(r"(?:GET|PUT|POST)?\s*\b[a-z][a-z0-9+.-]*://\S+", "(registry)", summary)
        transient = code in _TRANSIENT_CODES or bool(re.fullmatch(r"E5\d\d", code))
        label = f"{code}: " if code else ""
        return NpmError(f"npm {cmd} failed: {label}{summary}"[:300], transient=transient)

    def _cwd(self) -> Path:
        d = self.work_dir or Path(tempfile.gettempdir())
        d.mkdir(parents=True, exist_ok=True)
        return d

    def view(self, package: str, spec: str) -> PackageVersion:
        """The highest published version matching ``spec`` (exact, range or dist-tag)."""
        out = self._run(["view", f"{package}@{spec}", "version", "dist.integrity", "dist.shasum",
                         "--json"], VIEW_TIMEOUT_S, self._cwd())
        out = out.strip()
        if not out:
            raise NpmError(f"npm view: no version of {package} matches {spec}")
        try:
            data = json.loads(out)
        except ValueError:
            raise NpmError("npm view printed something that is not JSON") from None
        rows = data if isinstance(data, list) else [data]
        best: dict | None = None
        for row in rows:
            if isinstance(row, str):
                row = {"version": row}
            version = str(row.get("version", ""))
            if parse_version(version) is not None and (
                    best is None or nodesemver.gt(version, str(best["version"]), False)):
                best = row
        if best is None:
            raise NpmError(f"npm view: no version of {package} matches {spec}")
        return PackageVersion(package, str(best["version"]), best.get("dist.integrity"),
                              best.get("dist.shasum"))

    def pack(self, package: str, version: str, dest_dir: Path) -> Path:
        dest_dir = Path(dest_dir).absolute()
        dest_dir.mkdir(parents=True, exist_ok=True)
        out = self._run(["pack", f"{package}@{version}", "--pack-destination", str(dest_dir),
                         "--ignore-scripts", "--json"], PACK_TIMEOUT_S, self._cwd())
        name = tarball_file_name(package, version)
        try:
            info = json.loads(out)
            if isinstance(info, list) and info and info[0].get("filename"):
                name = Path(str(info[0]["filename"])).name
        except ValueError:
            pass
        path = dest_dir / name
        if not path.is_file():
            raise NpmError(f"npm pack wrote no {name}")
        return path


# ---------------------------------------------------------------------------------------------
# verified tarballs in the asset cache


def _safe_member_path(name: str) -> str | None:
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".")]
    if len(parts) < 2 or any(p == ".." for p in parts) or parts[0].startswith("/"):
        return None
    return "/".join(parts[1:])  # drop the top directory ("package/" for npm tarballs)


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file so that readers see either nothing or all of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # the write failed already; that error is the one to see
            os.unlink(tmp)
        raise


class PackageStore:
    """npm tarballs in ``<cache_dir>/npm``: fetched with ``npm pack``, verified, unpacked once."""

    def __init__(self, cache_dir: Path, client: NpmClient | None = None) -> None:
        self.root = Path(cache_dir).absolute() / "npm"
        self.client = client if client is not None else NpmClient(work_dir=self.root / "tmp")
        if self.client.work_dir is None:
            self.client.work_dir = self.root / "tmp"
        self._verified: dict[tuple, bool] = {}  # (path, size, mtime, integrity, shasum) -> ok
        self._unpacked: dict[tuple, Path] = {}  # (path, size, mtime) -> unpacked dir

    @staticmethod
    def _stat_key(path: Path) -> tuple:
        st = os.stat(path)
        return (str(path), st.st_size, st.st_mtime_ns)

    def _matches(self, path: Path, integrity: str | None, shasum: str | None) -> bool:
        key = self._stat_key(path) + (integrity, shasum)
        if key not in self._verified:
            self._verified[key] = integrity_matches(path, integrity, shasum)
        return self._verified[key]

    def cached_tarball(self, package: str, version: str) -> Path | None:
        p = self.root / tarball_file_name(package, version)
        return p if p.is_file() else None

    def fetch(self, package: str, version: str, integrity: str | None,
              shasum: str | None = None) -> Path:
        """The verified tarball of ``package@version`` (exact) in the cache, packing it if needed."""
        cached = self.cached_tarball(package, version)
        if cached is not None and self._matches(cached, integrity, shasum):
            return cached
        if not integrity and not shasum:
            raise NpmError(f"the registry gave no integrity for {package}@{version}")
        tmp = Path(tempfile.mkdtemp(dir=str(self._mk(self.root / "tmp")), prefix="pack-"))
        try:
            path = self.client.pack(package, version, tmp)
            if not integrity_matches(path, integrity, shasum):
                raise NpmError(f"integrity check failed for {package}@{version}")
            dest = self.root / tarball_file_name(package, version)
            os.replace(path, dest)
            return dest
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def adopt(self, tarball: Path, package: str, version: str) -> Path:
        """Copy a verified tarball (e.g. one found in an --asset-dir) into the cache."""
        dest = self.root / tarball_file_name(package, version)
        if not dest.is_file() or _sha256_file(dest) != _sha256_file(tarball):
            atomic_write(dest, Path(tarball).read_bytes())
        return dest

    @staticmethod
    def _mk(d: Path) -> Path:
        d.mkdir(parents=True, exist_ok=True)
        return d

    def unpacked(self, tarball: Path) -> Path:
        """The directory holding the tarball's files (its top directory stripped)."""
        key = self._stat_key(Path(tarball))
        if key in self._unpacked and (self._unpacked[key] / ".complete").is_file():
            return self._unpacked[key]
        dest = self._unpack(Path(tarball))
        self._unpacked[key] = dest
        return dest

    def _unpack(self, tarball: Path) -> Path:
        sha = _sha256_file(tarball)
        dest = self.root / "x" / sha
        if (dest / ".complete").is_file():
            return dest
        tmp = Path(tempfile.mkdtemp(dir=str(self._mk(self.root / "x")), prefix=".tmp-"))
        try:
            with tarfile.open(tarball, "r:*") as tf:
                for member in tf:
                    rel = _safe_member_path(member.name)
                    if rel is None or not member.isfile():
                        continue
                    target = tmp / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tf.extractfile(member)
                    if src is None:
                        continue
                    with open(target, "wb") as out:
                        shutil.copyfileobj(src, out)
            (tmp / ".complete").write_text(sha + "\n")
            try:
                os.replace(tmp, dest)
            except OSError:
                # Another process unpacked it first.
                if not (dest / ".complete").is_file():
                    raise
        except (tarfile.TarError, OSError, EOFError) as e:
            raise NpmError(f"cannot unpack {Path(tarball).name}: {e}") from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return dest


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_tarball(dirs: Iterable[Path], package: str, spec: str) -> tuple[Path, str] | None:
    """A tarball for ``package`` matching ``spec`` in any of ``dirs``, named as ``npm pack`` names
    it. An exact version must match exactly; a range or ``latest`` takes the highest version
    present. Returns (path, version)."""
    prefix = tarball_prefix(package) + "-"
    exact = is_exact_version(spec)
    for d in dirs:
        d = Path(d)
        if exact:
            p = d / tarball_file_name(package, spec)
            if p.is_file():
                return p, spec
            continue
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        found: dict[str, Path] = {}
        for name in names:
            if name.startswith(prefix) and name.endswith(".tgz"):
                ver = name[len(prefix):-4]
                if parse_version(ver) is not None:
                    found[ver] = d / name
        best = max_satisfying(found, spec)
        if best is not None:
            return found[best], best
    return None


def read_package_json(root: Path) -> dict:
    try:
        data = json.loads((root / "package.json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
