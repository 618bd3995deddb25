"""Font-list normalisation, scanning, weight policy, font conversion (no network)."""
from __future__ import annotations

import pytest

from hyperdesk.composition.font_scan import normalize_font_css, scan_font_css, wanted_weights
from hyperdesk.composition.fonts import FONT_ALIASES, GENERIC_FAMILIES
from hyperdesk.composition.sfnt import _to_sfnt, to_sfnt

from .conftest import make_font


@pytest.mark.parametrize("src,out", [
    ("body{font-family: sans-serif}", 'body{font-family: "Inter", sans-serif}'),
    ("a{font-family:system-ui,-apple-system,'Segoe UI',Roboto}",
     "a{font-family:\"Inter\", system-ui,-apple-system,'Segoe UI',Roboto}"),
    ("a{font-family: BlinkMacSystemFont, sans-serif !important}",
     'a{font-family: "Inter", BlinkMacSystemFont, sans-serif !important}'),
    ("p{font: italic bold 12px/30px Georgia, serif} q{font: 12px monospace}",
     # issue 16: the font shorthand is left to Chromium (docs/fonts.md), as HyperFrames leaves it
     'p{font: italic bold 12px/30px Georgia, serif} q{font: 12px monospace}'),
    ("font-family: ui-monospace; color: red", 'font-family: "Inter", ui-monospace; color: red'),
    ("cursive", '"Inter", cursive'),
    (":root{--font-sans: ui-sans-serif, system-ui; --gap: 4px}",
     ':root{--font-sans: "Inter", ui-sans-serif, system-ui; --gap: 4px}'),
    ("a{font-family: var(--f, serif)}", 'a{font-family: var(--f, "Inter", serif)}'),
    ("@media (min-width:1px){ b{ font-family: fantasy } }",
     '@media (min-width:1px){ b{ font-family: "Inter", fantasy } }'),
])
def test_generic_lists_get_inter_first(src, out):
    assert normalize_font_css(src) == out
    assert normalize_font_css(out) == out  # idempotent


@pytest.mark.parametrize("src", [
    "a{font-family: Helvetica, sans-serif}",
    'a{font-family: "sans-serif"}',  # a quoted name is a family, not the generic
    "@font-face{font-family: serif; src: url(x.woff2)}",
    "a{font: caption}",
    "a{color: red} /* font-family: serif */",
    "a{font-family: inherit}",
])
def test_lists_left_alone(src):
    assert normalize_font_css(src) is src


def test_generic_list_matches_contract():
    assert set(GENERIC_FAMILIES) == {
        "sans-serif", "serif", "monospace", "cursive", "fantasy", "system-ui", "ui-sans-serif",
        "ui-serif", "ui-monospace", "emoji", "math", "fangsong", "-apple-system",
        "BlinkMacSystemFont"}
    assert FONT_ALIASES["helvetica neue"] == "Inter"
    assert FONT_ALIASES["segoe ui"] == "Roboto"
    assert FONT_ALIASES["arial black"] == "Montserrat"
    assert FONT_ALIASES["bebas neue"] == "League Gothic"
    assert FONT_ALIASES["consolas"] == "JetBrains Mono"
    assert FONT_ALIASES["times new roman"] == "EB Garamond"
    assert FONT_ALIASES["noto sans japanese"] == "Noto Sans JP"
    assert FONT_ALIASES["sf pro rounded"] == "Inter"


def test_scan_families_and_own_faces():
    scan = scan_font_css([
        "h1{font-family: 'Playfair Display', Georgia, serif}",
        "@font-face{font-family: 'My Face'; src: url(my.woff2)} p{font-family:'My Face'}",
        "font-family: Lobster",  # a style attribute
        "Fira Code, monospace",  # an SVG font-family attribute
        ":root{--heading-font: Oswald; --font-size: 12px; --brand: Red}",
    ])
    assert scan.named_families == ["Playfair Display", "Georgia", "My Face", "Lobster",
                                   "Fira Code", "Oswald"]
    assert scan.own_families == ["My Face"]


def test_weight_policy():
    assert wanted_weights(scan_font_css(["a{color:red}"]), []) == [400, 700]
    scan = scan_font_css(["a{font-weight:300} b{font: 600 1em/1 X} c{font-weight: 450}"])
    assert wanted_weights(scan, []) == [300, 400, 500, 600, 700]
    assert wanted_weights(scan_font_css(["a{font-weight: bolder}"]), []) == list(range(100, 1000, 100))
    scan = scan_font_css([":root{--font-weight-bold: 800} a{font-weight: var(--font-weight-bold)}"])
    assert wanted_weights(scan, []) == [400, 700, 800]
    assert wanted_weights(scan_font_css(["a{font-weight: var(--w)}"]), []) == list(range(100, 1000, 100))
    assert wanted_weights(scan_font_css([]), ["gsap.to(el, {fontWeight: 900})"]) == [400, 700, 900]
    assert wanted_weights(scan_font_css([]), ["el.style.fontWeight = w"]) == list(range(100, 1000, 100))
    assert wanted_weights(scan_font_css([]), ["ctx.font = '200 12px Inter'"]) == [200, 400, 700]


@pytest.mark.parametrize("flavor", [None, "woff", "woff2"])
def test_to_sfnt_is_deterministic(flavor):
    data = make_font(flavor=flavor)
    a, ext = to_sfnt(data)
    b, _ = _to_sfnt(data)  # bypasses the in-process memo
    assert ext == "ttf" and a == b and a[:4] == b"\x00\x01\x00\x00"
    with pytest.raises(ValueError):
        to_sfnt(b"<html>not a font</html>")


def test_to_sfnt_keeps_woff2_conversions_in_the_asset_cache(tmp_path):
    """A WOFF2 face unpacked once is read back from the cache (the same bytes); a damaged cache file
    is not used."""
    from hyperdesk.composition import sfnt

    data = make_font(flavor="woff2")
    want, ext = sfnt._to_sfnt(data)
    sfnt._SFNT_MEMO.clear()  # an earlier test converted the same font in this process
    assert sfnt.to_sfnt(data, tmp_path) == (want, ext)
    [cached] = list((tmp_path / "sfnt").iterdir())
    assert cached.read_bytes() == want and cached.name.endswith(".ttf")
    sfnt._SFNT_MEMO.clear()
    assert sfnt._load_cached(tmp_path / "sfnt", cached.name.split(".")[0]) == (want, "ttf")
    cached.write_bytes(bytes([want[0] ^ 0xFF]) + want[1:])  # damaged: its bytes no longer match the sha256 in its name
    assert sfnt._load_cached(tmp_path / "sfnt", cached.name.split(".")[0]) is None
    sfnt._SFNT_MEMO.clear()
    assert sfnt.to_sfnt(data, tmp_path) == (want, ext)  # converted again
