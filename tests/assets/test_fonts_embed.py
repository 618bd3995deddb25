"""embed_fonts: default face, aliases, Google Fonts via @fontsource, determinism."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import hyperdesk.composition.sfnt as sfnt_mod
from hyperdesk.composition.font_embed import embed_fonts
from hyperdesk.composition.fonts import GENERIC_FAMILIES
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import FontManifest

from .conftest import make_font, needs_npm

ROBOTO = "https://fonts.googleapis.com/css2?family=Roboto:wght@400;700&display=swap"
SFNT = (b"\x00\x01\x00\x00", b"OTTO", b"true")


def tree(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def faces_of(manifest: FontManifest, family: str):
    return [f for f in manifest.faces if f.family == family]


@needs_npm
def test_default_face_and_generic_map(npm_cache, default_font, make_plan):
    plan = make_plan()
    r = plan.resolver(npm_cache)
    res = embed_fonts(["Hello"], ["body{font-family: sans-serif}"], plan.fonts, r, [])
    assert res.families == ["Inter"] and res.warnings == []
    m = res.manifest
    assert m.default_family == "Inter"
    assert m.generic_map == {g: "Inter" for g in GENERIC_FAMILIES}
    inter = faces_of(m, "Inter")
    # 400 and 700, normal and italic, latin and latin-ext.
    assert sorted((f.weight, f.style) for f in inter) == sorted(
        [(w, s) for w in (400, 700) for s in ("normal", "italic")] * 2)
    assert {f.source for f in inter} == {"bundled"}
    for f in inter:
        data = (plan.fonts / f.file).read_bytes()
        assert data[:4] in SFNT and hashlib.sha256(data).hexdigest() == f.sha256
        assert f.file.startswith("inter/")
    assert all(a.package in ("@fontsource/arimo", "@fontsource/tinos", "@fontsource/cousine",
                             "@fontsource/dejavu-sans") for a in r.assets)  # Inter is bundled
    on_disk = json.loads((plan.fonts / "manifest.json").read_text())
    assert FontManifest.model_validate(on_disk) == m
    text = (plan.fonts / "manifest.json").read_text()
    assert text.endswith("}\n") and text == json.dumps(on_disk, sort_keys=True, indent=2,
                                                       ensure_ascii=False) + "\n"
    css = (plan.fonts / "fonts.css").read_text()
    assert css.count("@font-face") == len(m.faces)
    assert 'src: url(/__hd/fonts/inter/latin-400-normal.ttf) format("truetype")' in css
    assert "unicode-range: U+0000-00FF," in css
    assert ":where(html)" not in css  # issue 16: unstyled text is Chromium's standard face (Tinos)


@needs_npm
def test_subsets_and_weights_follow_the_document(npm_cache, default_font, make_plan):
    plan = make_plan()
    r = plan.resolver(npm_cache)
    res = embed_fonts(["Привет"], ["h1{font-weight: 300}"], plan.fonts, r, [])
    inter = faces_of(res.manifest, "Inter")
    assert {f.weight for f in inter} == {300, 400, 700}
    labels = {f.file.split("/")[1].rsplit("-", 2)[0] for f in inter}
    assert labels == {"latin", "latin-ext", "cyrillic"}


@needs_npm
def test_google_fonts_roboto_via_fontsource(npm_cache, default_font, make_plan):
    plan = make_plan()
    r = plan.resolver(npm_cache)
    res = embed_fonts(["Hello"], ["h1{font-family: Roboto, sans-serif}"], plan.fonts, r, [ROBOTO])
    assert res.warnings == []
    assert res.families == ["Inter", "Roboto"]
    roboto = faces_of(res.manifest, "Roboto")
    assert sorted((f.weight, f.style) for f in roboto) == [(400, "normal")] * 2 + [(700, "normal")] * 2
    for f in roboto:
        assert f.source == "fontsource:@fontsource/roboto@5.3.0"
        assert f.file.startswith("roboto/") and f.file.endswith(".ttf")
        assert (plan.fonts / f.file).read_bytes()[:4] in SFNT
    recs = {a.url: a for a in r.assets}
    css_rec = recs[ROBOTO]
    assert (css_rec.tier, css_rec.package, css_rec.version) == ("fontsource", "@fontsource/roboto", "5.3.0")
    assert css_rec.path.startswith("compiled/__hd/remote/") and css_rec.path.endswith("/css2.css")
    stored = (plan.root / css_rec.path).read_text()
    assert "http" not in stored and "/__hd/fonts/roboto/latin-400-normal.ttf" in stored
    face_recs = [a for a in r.assets if a.url.startswith("npm:@fontsource/roboto@5.3.0/files/")]
    assert len(face_recs) == 4 and all(a.tier == "fontsource" and a.path.startswith("fonts/roboto/")
                                       for a in face_recs)
    css = (plan.fonts / "fonts.css").read_text()
    assert 'font-family: "Roboto";' in css


@needs_npm
def test_google_fonts_link_via_freeze_and_import(npm_cache, default_font, make_plan):
    plan = make_plan()
    r = plan.resolver(npm_cache)
    assert r.freeze(ROBOTO, "index.html <link>", "stylesheet") == "/__hd/fonts/fonts.css"
    out = r.rewrite_css(f"@import url({ROBOTO});\nh1{{font-family:Roboto}}", None, "style")
    assert out == "\nh1{font-family:Roboto}"
    res = embed_fonts(["x"], [out], plan.fonts, r, [])
    assert "Roboto" in res.families and res.warnings == []


@needs_npm
def test_alias_helvetica_is_inter_under_the_requested_name(npm_cache, default_font, make_plan):
    plan = make_plan()
    r = plan.resolver(npm_cache)
    res = embed_fonts(["Hi"], ["p{font-family: Helvetica, Arial, sans-serif}"], plan.fonts, r, [])
    assert res.warnings == []
    assert res.families == ["Arial", "Helvetica", "Inter"]
    helv = faces_of(res.manifest, "Helvetica")
    inter = {(f.weight, f.style, f.unicode_range): f for f in faces_of(res.manifest, "Inter")}
    assert len(helv) == len(inter) == 8
    for f in helv:
        assert f.source == "alias:Inter" and f.file.startswith("helvetica/")
        twin = inter[(f.weight, f.style, f.unicode_range)]
        assert (plan.fonts / f.file).read_bytes() == (plan.fonts / twin.file).read_bytes()
    css = (plan.fonts / "fonts.css").read_text()
    assert 'font-family: "Helvetica";' in css and 'font-family: "Arial";' in css


@needs_npm
def test_unresolvable_family_warns_and_uses_default(npm_cache, default_font, make_plan, monkeypatch):
    monkeypatch.setenv("HYPERDESK_NPM", "none")  # no registry lookups for a made-up family
    plan = make_plan()
    r = plan.resolver(npm_cache)
    res = embed_fonts(["x"], ["p{font-family: 'Zzq Nonexistent Sans', serif}"], plan.fonts, r, [])
    [w] = res.warnings
    assert w.code == "FONT_NOT_FOUND" and "Zzq Nonexistent Sans" in w.message
    assert res.families == ["Inter"]


def test_unfetchable_google_fonts_url_fails(tmp_path, make_plan, monkeypatch):
    monkeypatch.setenv("HYPERDESK_NPM", "none")
    plan = make_plan()
    r = plan.resolver(tmp_path / "empty-cache")
    url = "https://fonts.googleapis.com/css2?family=Lobster"
    with pytest.raises(HyperdeskError) as ei:
        embed_fonts(["x"], [], plan.fonts, r, [url])
    e = ei.value
    assert e.code == "ASSET_FETCH_FAILED" and url in e.message and "--asset-dir" in e.message
    assert "No npm client" in e.hint


@needs_npm
def test_remote_font_face_goes_to_fonts_css(npm_cache, default_font, make_plan, server):
    url = server.add("/f/brand.woff", make_font("Brand Sans", flavor="woff"))
    plan = make_plan()
    r = plan.resolver(npm_cache)
    css = f"@font-face {{ font-family: 'Brand Sans'; src: url({url}) format('woff'); }}\nh1{{font-family:'Brand Sans'}}"
    out = r.rewrite_css(css, None, "index.html <style>")
    assert out == "\nh1{font-family:'Brand Sans'}"
    res = embed_fonts(["x"], [out], plan.fonts, r, [])
    assert res.warnings == [] and "Brand Sans" in res.families
    [face] = faces_of(res.manifest, "Brand Sans")
    assert face.source == f"url:{url}" and face.file.startswith("brand-sans/url-")
    fonts_css = (plan.fonts / "fonts.css").read_text()
    assert f"url(/__hd/fonts/{face.file})" in fonts_css


@needs_npm
def test_plans_are_deterministic(npm_cache, default_font, make_plan):
    texts = ["Hello Ωmega", "gsap.to('.t', {fontWeight: 600})"]
    css = ["body{font-family: system-ui}", "h1{font-family: 'Segoe UI', Helvetica}",
           "font-family: Roboto"]
    results = []
    for _ in range(2):
        sfnt_mod._SFNT_MEMO.clear()  # convert every face again
        plan = make_plan()
        r = plan.resolver(npm_cache)
        r.freeze("https://cdn.jsdelivr.net/npm/gsap@3.12.5/dist/gsap.min.js", "index.html", "script")
        res = embed_fonts(texts, css, plan.fonts, r, [ROBOTO])
        results.append((plan, r.assets, res))
    (p1, a1, r1), (p2, a2, r2) = results
    assert a1 == a2
    assert r1.manifest == r2.manifest and r1.families == r2.families
    t1, t2 = tree(p1.fonts), tree(p2.fonts)
    assert t1 == t2 and "fonts.css" in t1 and "manifest.json" in t1
    assert tree(p1.compiled) == tree(p2.compiled)
    # Weight 600 from the script, Greek from the text, the Segoe UI alias as Roboto.
    assert 600 in {f.weight for f in faces_of(r1.manifest, "Inter")}
    assert any("greek" in f.file for f in faces_of(r1.manifest, "Inter"))
    assert {f.source for f in faces_of(r1.manifest, "Segoe UI")} == {"alias:Roboto"}


@needs_npm
def test_offline_from_tarballs_in_asset_dir(npm_cache, default_font, make_plan, tmp_path,
                                            monkeypatch):
    """No npm, an empty cache: the default face and a Google Fonts family come from tarballs."""
    import shutil

    monkeypatch.setenv("HYPERDESK_NPM", "none")
    d = tmp_path / "offline"
    d.mkdir()
    shutil.copy(npm_cache / "npm" / "fontsource-inter-5.3.0.tgz", d)
    plan = make_plan()
    r = plan.resolver(tmp_path / "fresh-cache", [d])
    url = "https://fonts.googleapis.com/css2?family=Inter:wght@500"
    res = embed_fonts(["x"], [], plan.fonts, r, [url])
    assert res.warnings == []
    rec = {a.url: a for a in r.assets}[url]
    assert (rec.tier, rec.package, rec.version) == ("asset-dir", "@fontsource/inter", "5.3.0")
    # The URL's own faces (weight 500, from the tarball) plus the default 400/700 faces.
    weights = {f.weight for f in res.manifest.faces if f.family == "Inter"}
    assert weights == {400, 500, 700}
