"""Scoped sub-composition scripts (5.5) executed in Chromium with the injected runtime: one page load."""
from __future__ import annotations

import asyncio
import json
import os
import shutil

import pytest

from .conftest import page

pytestmark = pytest.mark.slow

CANDIDATES = [os.environ.get("HYPERDESK_BROWSER"), "/usr/lib/chromium/chromium-headless-shell",
              "/usr/lib/chromium/chromium", shutil.which("chromium")]
BROWSER = next((c for c in CANDIDATES if c and os.path.isfile(c)), None)

CARD = """<template>
<div id="card-root" data-composition-id="card" data-composition-variables='[{"id":"color","type":"color","default":"#ff0000"}]'>
  <div class="dot" id="dot"></div><span class="label"></span>
</div>
<script>
  "use strict";
  window.__timelines = window.__timelines || {};
  var found = {
    dot: document.querySelector('.dot') === document.getElementById('dot'),
    box: document.querySelector('[data-composition-id="card"]') ? document.querySelector('[data-composition-id="card"]').getAttribute('data-hd-scope') : null,
    all: document.querySelectorAll('.dot').length,
    labels: document.querySelectorAll('span').length,
    rootId: document.getElementById('card-root') ? document.getElementById('card-root').getAttribute('data-hd-scope') : null,
    title: document.title,
    vars: __hyperframes.getVariables(),
    now: typeof Date.now(),
    promise: typeof window.Promise.resolve,
    timeout: typeof window.setTimeout(function(){}, 0),
    self: window.window === window,
  };
  document.querySelector('.dot').setAttribute('data-seen', 'yes');
  window.__timelines["card"] = { found: found, duration: function(){ return 1; } };
  if (__hyperframes.getVariables().color === "#0000ff") { throw new Error("boom in " + found.box); }
</script>
</template>"""


async def _evaluate(html: str) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=BROWSER)
        try:
            from hyperdesk.runtime import init_script

            pg = await browser.new_page()
            await pg.add_init_script(init_script(30, 1, {}))
            await pg.route("http://page.test/", lambda route: route.fulfill(body=html, content_type="text/html"))
            await pg.goto("http://page.test/")
            return await pg.evaluate("""() => ({
              keys: Object.keys(window.__timelines).sort(),
              found: Object.fromEntries(Object.entries(window.__timelines).map(([k, v]) => [k, v.found || null])),
              errors: (window.__hd && window.__hd.errors) || [],
              seen: Array.from(document.querySelectorAll('.dot')).map(d => d.getAttribute('data-seen')),
              rootDot: document.querySelector('#main-dot').getAttribute('data-seen'),
            })""")
        finally:
            await browser.close()


@pytest.mark.skipif(BROWSER is None, reason="no Chromium binary")
def test_scoped_scripts_in_chromium(project):
    project.write("index.html", page(
        '<div data-composition-id="main" data-duration="2"><div class="dot" id="main-dot"></div>'
        '<div data-composition-id="card" data-composition-src="card.html"></div>'
        "<div data-composition-id=\"card\" data-composition-src=\"card.html\" data-variable-values='{\"color\":\"#0000ff\"}'></div>"
        '<div data-composition-id="card" data-composition-src="card.html"></div>'
        "</div><script>window.__timelines = window.__timelines || {}; window.__timelines.main = {};</script>",
        head="<title>T</title>"))
    project.write("card.html", CARD)
    project.compile()
    result = asyncio.run(_evaluate(project.html()))
    assert result["keys"] == ["card__hf1", "card__hf2", "card__hf3", "main"]
    for key, scope in (("card__hf1", "1"), ("card__hf2", "2"), ("card__hf3", "3")):
        found = result["found"][key]
        assert found["dot"] is True
        assert found["box"] == scope            # [data-composition-id="card"] -> runtime id
        assert found["rootId"] == scope         # getElementById searches the instance only
        assert found["all"] == 1 and found["labels"] == 1
        assert found["title"] == "T"            # other document members are the real ones
        assert found["vars"] == {"color": "#0000ff" if scope == "2" else "#ff0000"}
        assert found["now"] == "number" and found["promise"] == "function" and found["timeout"] == "number"
        assert found["self"] is True
    assert len(result["errors"]) == 1
    assert "boom in 2" in result["errors"][0]["message"]
    assert result["errors"][0]["source"].startswith("card.html")
    assert result["seen"] == [None, "yes", "yes", "yes"]
    assert result["rootDot"] is None
    assert json.dumps(result)  # plain data
