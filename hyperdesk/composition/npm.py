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

from .cdn import tarball_file_name, tarball_prefix

VIEW_TIMEOUT_S = 60
PACK_TIMEOUT_S = 300

# ---------------------------------------------------------------------------------------------
# semver: enough of npm's range grammar to pick a tarball from an --asset-dir offline.

_VERSION = re.compile(
    r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)


@dataclass(frozen=True, order=False)
class Version:
    major: int
    minor: int
    patch: int
    pre: tuple = ()

    @classmethod
    def parse(cls, text: str) -> Version | None:
        m = _VERSION.match(text.strip())
        if not m:
            return None
        pre: tuple = ()
        if m.group(4):
            pre = tuple(int(p) if p.isdigit() else p for p in m.group(4).split("."))
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre)

    def key(self) -> tuple:
        # A release sorts after its prereleases; numeric identifiers sort before alphanumeric ones.
        pre_key = (1,) if not self.pre else (0,) + tuple(
            (0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.pre
        )
        return (self.major, self.minor, self.patch, pre_key)

    def __lt__(self, other: Version) -> bool:
        return self.key() < other.key()

    def __str__(self) -> str:
        s = f"{self.major}.{self.minor}.{self.patch}"
        return s + ("-" + ".".join(str(p) for p in self.pre) if self.pre else "")


def is_exact_version(spec: str) -> bool:
    return Version.parse(spec) is not None and not spec.strip().startswith("v")


_PARTIAL = re.compile(r"^v?(\d+|[xX*])?(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def _partial(text: str) -> tuple[int | None, int | None, int | None, tuple] | None:
    m = _PARTIAL.match(text)
    if not m:
        return None

    def num(g: str | None) -> int | None:
        return None if g is None or g in ("x", "X", "*") else int(g)

    ma, mi, pa = num(m.group(1)), num(m.group(2)), num(m.group(3))
    if ma is None:
        mi = pa = None
    elif mi is None:
        pa = None
    pre: tuple = ()
    if m.group(4) and pa is not None:
        pre = tuple(int(p) if p.isdigit() else p for p in m.group(4).split("."))
    return ma, mi, pa, pre


def _V(a: int, b: int, c: int, pre: tuple = ()) -> Version:
    return Version(a, b, c, pre)


_LOWEST_PRE = (0,)  # "-0": below every prerelease of that version


def _comparators(op: str, text: str) -> list[tuple[str, Version]] | None:
    p = _partial(text)
    if p is None:
        return None
    ma, mi, pa, pre = p
    if ma is None:
        return [(">=", _V(0, 0, 0))]
    if op in ("", "="):
        if mi is None:
            return [(">=", _V(ma, 0, 0)), ("<", _V(ma + 1, 0, 0, _LOWEST_PRE))]
        if pa is None:
            return [(">=", _V(ma, mi, 0)), ("<", _V(ma, mi + 1, 0, _LOWEST_PRE))]
        return [("=", _V(ma, mi, pa, pre))]
    if op == "~":
        lo = _V(ma, mi or 0, pa or 0, pre)
        hi = _V(ma + 1, 0, 0, _LOWEST_PRE) if mi is None else _V(ma, mi + 1, 0, _LOWEST_PRE)
        return [(">=", lo), ("<", hi)]
    if op == "^":
        lo = _V(ma, mi or 0, pa or 0, pre)
        if ma > 0 or mi is None:
            hi = _V(ma + 1, 0, 0, _LOWEST_PRE)
        elif mi > 0 or pa is None:
            hi = _V(0, mi + 1, 0, _LOWEST_PRE)
        else:
            hi = _V(0, 0, pa + 1, _LOWEST_PRE)
        return [(">=", lo), ("<", hi)]
    if op == ">":
        if mi is None:
            return [(">=", _V(ma + 1, 0, 0))]
        if pa is None:
            return [(">=", _V(ma, mi + 1, 0))]
        return [(">", _V(ma, mi, pa, pre))]
    if op == ">=":
        return [(">=", _V(ma, mi or 0, pa or 0, pre))]
    if op == "<":
        return [("<", _V(ma, mi or 0, pa or 0, pre or (_LOWEST_PRE if pa is None else ())))]
    if op == "<=":
        if mi is None:
            return [("<", _V(ma + 1, 0, 0, _LOWEST_PRE))]
        if pa is None:
            return [("<", _V(ma, mi + 1, 0, _LOWEST_PRE))]
        return [("<=", _V(ma, mi, pa, pre))]
    return None


def _parse_range(spec: str) -> list[list[tuple[str, Version]]] | None:
    sets: list[list[tuple[str, Version]]] = []
    for alt in spec.split("||"):
        alt = alt.strip()
        hy = re.fullmatch(r"(\S+)\s+-\s+(\S+)", alt)
        if hy:
            lo = _comparators(">=", hy.group(1))
            hi = _comparators("<=", hy.group(2))
            if lo is None or hi is None:
                return None
            sets.append(lo + hi)
            continue
        alt = re.sub(r"(>=|<=|>|<|=|~>?|\^)\s+", r"\1", alt)
        comps: list[tuple[str, Version]] = []
        for part in alt.split() or ["*"]:
            m = re.match(r"^(>=|<=|>|<|=|~>?|\^)?(.*)$", part)
            op = (m.group(1) or "").replace("~>", "~")
            c = _comparators(op, m.group(2))
            if c is None:
                return None
            comps += c
        sets.append(comps)
    return sets


def _test(v: Version, op: str, w: Version) -> bool:
    a, b = v.key(), w.key()
    return {"=": a == b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def satisfies(version: str, spec: str) -> bool:
    """npm's ``semver.satisfies`` for the common range forms (tags other than latest: False)."""
    v = Version.parse(version)
    if v is None:
        return False
    spec = spec.strip()
    if spec in ("", "*", "x", "X", "latest"):
        return not v.pre
    sets = _parse_range(spec)
    if sets is None:
        return False
    for comps in sets:
        if not all(_test(v, op, w) for op, w in comps):
            continue
        if v.pre and not any(w.pre and (w.major, w.minor, w.patch) == (v.major, v.minor, v.patch)
                             and w.pre != _LOWEST_PRE for _, w in comps):
            continue  # prereleases match only a comparator on the same version
        return True
    return False


def max_satisfying(versions: Iterable[str], spec: str) -> str | None:
    best: Version | None = None
    best_text = None
    for text in versions:
        v = Version.parse(text)
        if v is not None and satisfies(text, spec) and (best is None or best < v):
            best, best_text = v, text
    return best_text


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
        best_v: Version | None = None
        for row in rows:
            if isinstance(row, str):
                row = {"version": row}
            v = Version.parse(str(row.get("version", "")))
            if v is not None and (best_v is None or best_v < v):
                best, best_v = row, v
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
        try:
            os.unlink(tmp)
        except OSError:
            pass
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
                if Version.parse(ver) is not None:
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
