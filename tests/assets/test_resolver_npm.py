"""Tier 3: CDN URLs served from npm tarballs through the real npm client."""
from __future__ import annotations

import hashlib
import re
import tarfile

import pytest

from hyperdesk.composition.npm import NpmClient, NpmError, PackageStore, satisfies, sri_sha512
from hyperdesk.errors import HyperdeskError

from .conftest import make_tarball, needs_npm

GSAP_JSDELIVR = "https://cdn.jsdelivr.net/npm/gsap@3.12.5/dist/gsap.min.js"
GSAP_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs/gsap/3.12.5/gsap.min.js"


def _member(tgz, path: str) -> bytes:
    with tarfile.open(tgz) as tf:
        return tf.extractfile("package/" + path).read()


@needs_npm
def test_jsdelivr_gsap_from_npm(npm_cache, make_plan):
    plan = make_plan()
    r = plan.resolver(npm_cache)
    site = r.freeze(GSAP_JSDELIVR, "index.html: <script> src", "script")
    data = plan.file(site).read_bytes()
    tgz = npm_cache / "npm" / "gsap-3.12.5.tgz"
    assert tgz.is_file()
    assert data == _member(tgz, "dist/gsap.min.js")
    [rec] = r.assets
    assert (rec.url, rec.tier, rec.package, rec.version) == (GSAP_JSDELIVR, "npm", "gsap", "3.12.5")
    assert rec.sha256 == hashlib.sha256(data).hexdigest()
    assert rec.path == f"compiled/__hd/remote/{rec.sha256}/gsap.min.js"
    assert rec.content_type == "text/javascript"


@needs_npm
def test_cdnjs_gsap_from_npm(npm_cache, make_plan):
    plan = make_plan()
    r = plan.resolver(npm_cache)
    site = r.freeze(GSAP_CDNJS, "index.html", "script")
    [rec] = r.assets
    assert (rec.tier, rec.package, rec.version) == ("npm", "gsap", "3.12.5")
    assert plan.file(site).read_bytes() == _member(npm_cache / "npm" / "gsap-3.12.5.tgz",
                                                   "dist/gsap.min.js")


@needs_npm
def test_version_range_resolves_to_exact_version(npm_cache, make_plan):
    url = "https://cdn.jsdelivr.net/npm/gsap@3.12/dist/gsap.min.js"
    r = make_plan().resolver(npm_cache)
    r.freeze(url, "index.html", "script")
    [rec] = r.assets
    assert re.fullmatch(r"3\.12\.\d+", rec.version) and satisfies(rec.version, "3.12")
    assert rec.tier == "npm"
    # The next plan reuses the same bytes and record from the cache.
    r2 = make_plan().resolver(npm_cache, npm_exe="")
    r2.freeze(url, "index.html", "script")
    assert r2.assets == r.assets


@needs_npm
def test_unknown_version_fails(npm_cache, make_plan):
    url = "https://cdn.jsdelivr.net/npm/gsap@99.0.0/dist/gsap.min.js"
    r = make_plan().resolver(npm_cache)
    with pytest.raises(HyperdeskError) as ei:
        r.freeze(url, "index.html", "script")
    e = ei.value
    assert e.code == "ASSET_FETCH_FAILED" and url in e.message and "--asset-dir" in e.message
    npm = [a for a in e.details["attempts"] if a["tier"] == "npm"][0]
    assert "E404" in npm["outcome"] or "No match" in npm["outcome"]
    assert "://" not in npm["outcome"]  # no registry address in hyperdesk's messages
    assert e.retryable is False


class FakeClient(NpmClient):
    """Packs a prepared tarball instead of calling the registry."""

    def __init__(self, tarball):
        super().__init__(exe="fake-npm")
        self.tarball = tarball
        self.packs = 0

    def pack(self, package, version, dest_dir):
        self.packs += 1
        dest_dir.mkdir(parents=True, exist_ok=True)
        out = dest_dir / self.tarball.name
        out.write_bytes(self.tarball.read_bytes())
        return out


def test_integrity_is_checked_before_extraction(tmp_path):
    tgz = make_tarball(tmp_path / "mylib-1.0.0.tgz", {"name": "mylib", "version": "1.0.0"},
                       {"index.js": b"x"})
    good = sri_sha512(tgz)
    bad = "sha512-" + "A" * 86 + "=="
    store = PackageStore(tmp_path / "cache", FakeClient(tgz))
    with pytest.raises(NpmError, match="integrity"):
        store.fetch("mylib", "1.0.0", bad)
    assert store.cached_tarball("mylib", "1.0.0") is None
    assert not (tmp_path / "cache" / "npm" / "x").exists()
    path = store.fetch("mylib", "1.0.0", good)
    root = store.unpacked(path)
    assert (root / "index.js").read_bytes() == b"x"
    # sha1 shasum (old packages) is accepted too.
    sha1 = hashlib.sha1(tgz.read_bytes()).hexdigest()
    assert store.fetch("mylib", "1.0.0", None, sha1) == path
    assert store.client.packs == 2  # the third fetch reused the verified cached tarball
