"""URL -> npm mapping, Google Fonts URL parsing, semver ranges."""
from __future__ import annotations

import pytest

from hyperdesk.composition.cdn import (
    CDNJS_LIBRARIES,
    fontsource_package,
    google_fonts_families,
    google_fonts_url,
    is_google_fonts_css,
    npm_target_for_url,
    tarball_file_name,
)
from hyperdesk.composition.npm import find_tarball, integrity_matches, max_satisfying, satisfies


def test_jsdelivr_and_unpkg():
    t = npm_target_for_url("https://cdn.jsdelivr.net/npm/gsap@3.12.5/dist/gsap.min.js")
    assert (t.package, t.spec, t.candidates[0], t.source) == ("gsap", "3.12.5", "dist/gsap.min.js", "jsdelivr")
    assert t.candidates[-1] == "dist/gsap.js"  # jsDelivr's on-the-fly minification
    t = npm_target_for_url("//cdn.jsdelivr.net/npm/@lottiefiles/lottie-player@2/dist/lottie-player.js")
    assert (t.package, t.spec) == ("@lottiefiles/lottie-player", "2")
    t = npm_target_for_url("https://unpkg.com/three")
    assert (t.package, t.spec, t.candidates) == ("three", "latest", ())
    assert t.entry_fields[0] == "unpkg"
    t = npm_target_for_url("https://unpkg.com/@scope/pkg@^1.2.0/lib/x")
    assert (t.package, t.spec) == ("@scope/pkg", "^1.2.0")
    assert t.candidates == ("lib/x", "lib/x.js", "lib/x/index.js")
    assert npm_target_for_url("https://cdn.jsdelivr.net/gh/user/repo@1/x.js") is None
    assert npm_target_for_url("https://cdn.jsdelivr.net/npm/gsap@3/+esm") is None
    assert npm_target_for_url("https://example.com/npm/gsap@3/x.js") is None


def test_cdnjs_table():
    for lib in ("gsap", "animejs", "lottie-web", "three.js", "d3", "topojson-client"):
        assert lib in CDNJS_LIBRARIES
    t = npm_target_for_url("https://cdnjs.cloudflare.com/ajax/libs/gsap/3.12.5/ScrollTrigger.min.js")
    assert (t.package, t.spec) == ("gsap", "3.12.5")
    assert t.candidates[0] == "dist/ScrollTrigger.min.js"
    t = npm_target_for_url("https://cdnjs.cloudflare.com/ajax/libs/three.js/r128/three.min.js")
    assert (t.package, t.spec) == ("three", "0.128.0") and "build/three.min.js" in t.candidates
    t = npm_target_for_url("https://cdnjs.cloudflare.com/ajax/libs/lottie-web/5.12.2/lottie.min.js")
    assert t.candidates[0] == "build/player/lottie.min.js"
    t = npm_target_for_url("https://cdnjs.cloudflare.com/ajax/libs/animejs/3.2.1/anime.min.js")
    assert t.package == "animejs" and "lib/anime.min.js" in t.candidates
    t = npm_target_for_url("https://cdnjs.cloudflare.com/ajax/libs/d3/7.8.5/d3.min.js")
    assert "dist/d3.min.js" in t.candidates
    t = npm_target_for_url("https://cdnjs.cloudflare.com/ajax/libs/topojson-client/3.1.0/topojson-client.min.js")
    assert t.package == "topojson-client" and "dist/topojson-client.min.js" in t.candidates
    assert npm_target_for_url("https://cdnjs.cloudflare.com/ajax/libs/not-in-table/1.0.0/x.js") is None


def test_tarball_names():
    assert tarball_file_name("gsap", "3.12.5") == "gsap-3.12.5.tgz"
    assert tarball_file_name("@fontsource/inter", "5.3.0") == "fontsource-inter-5.3.0.tgz"


def test_google_fonts_urls():
    assert is_google_fonts_css("//fonts.googleapis.com/css2?family=Inter")
    assert not is_google_fonts_css("https://fonts.gstatic.com/s/inter/v1/x.woff2")
    [f] = google_fonts_families("https://fonts.googleapis.com/css2?family=Roboto:ital,wght@0,400;1,700&display=swap")
    assert f.name == "Roboto" and f.variants == (("italic", 700, 700), ("normal", 400, 400))
    fs = google_fonts_families("https://fonts.googleapis.com/css2?family=Open+Sans:wght@300..800&family=Lobster")
    assert [(x.name, x.variants) for x in fs] == [("Open Sans", (("normal", 300, 800),)),
                                                 ("Lobster", (("normal", 400, 400),))]
    fs = google_fonts_families("https://fonts.googleapis.com/css?family=Roboto:400,700italic|Noto+Sans+JP")
    assert [(x.name, x.variants) for x in fs] == [
        ("Roboto", (("italic", 700, 700), ("normal", 400, 400))),
        ("Noto Sans JP", (("normal", 400, 400),)),
    ]
    assert fontsource_package("Noto Sans JP") == "@fontsource/noto-sans-jp"
    assert google_fonts_url("EB Garamond", [700, 400], italic=True).endswith(
        "family=EB+Garamond:ital,wght@0,400;0,700;1,400;1,700")


@pytest.mark.parametrize("version,spec,ok", [
    ("3.12.5", "3.12.5", True), ("3.12.5", "3.12", True), ("3.12.5", "3", True),
    ("3.13.0", "3.12", False), ("3.12.5", "^3.1.0", True), ("4.0.0", "^3.1.0", False),
    ("0.2.5", "^0.2.3", True), ("0.3.0", "^0.2.3", False), ("0.0.4", "^0.0.3", False),
    ("1.2.9", "~1.2.3", True), ("1.3.0", "~1.2.3", False), ("2.0.0", ">=1.0.0 <2.0.0", False),
    ("1.5.0", "1.2.0 - 1.6.0", True), ("1.7.0", "1.2.0 - 1.6.0", False),
    ("2.1.0", "1.x || 2.x", True), ("3.0.0-beta.1", "^3.0.0", False),
    ("3.0.0-beta.2", "^3.0.0-beta.1", True), ("5.0.0", "latest", True), ("5.0.0", "*", True),
    ("5.0.0-rc.1", "latest", False),
])
def test_semver(version, spec, ok):
    assert satisfies(version, spec) is ok


def test_max_satisfying_and_find_tarball(tmp_path):
    assert max_satisfying(["3.12.1", "3.12.10", "3.12.2", "3.13.0"], "3.12") == "3.12.10"
    for v in ("1.0.0", "1.4.0", "2.0.0", "1.5.0-rc.1"):
        (tmp_path / f"mylib-{v}.tgz").write_bytes(b"x")
    (tmp_path / "mylib-extra-9.0.0.tgz").write_bytes(b"x")
    assert find_tarball([tmp_path], "mylib", "1")[1] == "1.4.0"
    assert find_tarball([tmp_path], "mylib", "latest")[1] == "2.0.0"
    assert find_tarball([tmp_path], "mylib", "1.0.0")[1] == "1.0.0"
    assert find_tarball([tmp_path], "mylib", "3") is None


def test_integrity_formats():
    import base64
    import hashlib

    data = b"hello"
    sri = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert integrity_matches(data, sri)
    assert integrity_matches(data, "sha1-xxxx " + sri)
    assert not integrity_matches(b"other", sri)
    assert integrity_matches(data, None, hashlib.sha1(data).hexdigest())
    assert not integrity_matches(data, None, None)
