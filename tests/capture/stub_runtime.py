"""A minimal stand-in for hyperdesk's page runtime, enough to exercise the capture layer alone.

It implements only what capture reads: ``__hf.ready/duration/seek``, ``__hd.state/errors/
activeVideos/setVideoFrame/afterVideoInjection``. Seeking pauses every animation of the document
(CSS and WAAPI alike) at the quantised time. ``<html data-never-ready>`` keeps it from ever
becoming ready; ``data-missing-timelines="a b"`` lists missing timeline ids in ``state()``.
"""
from __future__ import annotations

import json

_JS = r"""
((CFG) => {
  if (window.top !== window) return;
  const FPS = CFG.num / CFG.den;
  const errors = [];
  let ready = false, duration = 0;
  window.__hfVariables = CFG.variables;
  window.addEventListener('error', (e) => {
    errors.push({message: String(e.message), source: (e.filename || '') + ':' + (e.lineno || 0)});
  });
  const quant = (t) => Math.floor(t * FPS + 1e-9) / FPS;
  const hf = {
    get ready() { return ready; },
    get duration() { return duration; },
    async seek(t) {
      const tq = quant(t);
      for (const a of document.getAnimations()) { a.pause(); a.currentTime = tq * 1000; }
      if (window.__stubSeekHook) await window.__stubSeekHook(tq);
    },
  };
  const videoState = {};
  window.__hf = hf;
  window.__hd = {
    errors,
    state() {
      const el = document.documentElement;
      const missing = ((el && el.getAttribute('data-missing-timelines')) || '').split(/\s+/).filter(Boolean);
      return {ready, conditions: {initialised: true, timelines: missing.length === 0, assets: !(el && el.hasAttribute('data-never-ready'))},
              missingTimelines: missing, errors: errors.slice()};
    },
    activeVideos(t) {
      return Array.from(document.querySelectorAll('video[data-media-id]')).map((v) => {
        const s = parseFloat(v.dataset.start || '0'), d = parseFloat(v.dataset.duration || '1e9');
        return {mediaId: v.dataset.mediaId, active: t >= s && t < s + d};
      });
    },
    async setVideoFrame(mediaId, uri) {
      videoState[mediaId] = uri;
      const img = document.querySelector('img[data-video-for="' + mediaId + '"]');
      if (!img) return;
      if (uri) { img.src = uri; img.style.visibility = 'visible'; await img.decode(); }
      else { img.style.visibility = 'hidden'; }
    },
    afterVideoInjection(t) { window.__stubInjected = (window.__stubInjected || 0) + 1; },
    videoState,
  };
  document.addEventListener('DOMContentLoaded', async () => {
    const el = document.documentElement;
    if (el.hasAttribute('data-never-ready')) return;
    await document.fonts.ready;
    duration = parseFloat(el.getAttribute('data-duration') || '1');
    ready = true;
  });
})
"""


def stub_init_script(fps, variables) -> str:
    cfg = {"num": fps.num, "den": fps.den, "variables": dict(variables or {})}
    return _JS.strip() + "(" + json.dumps(cfg) + ");\n"
