"""Scoped sub-composition scripts (contract 5.5).

Each inline script of a sub-composition runs once per instance inside a function whose
`window`, `document`, `__timelines` and `__hyperframes` are instance views:

* `document.querySelector/querySelectorAll/getElementById` search only the composition box and
  its descendants; selectors naming the authored composition id are rewritten to the runtime id;
* `window.__timelines["<authored>"]` reads and writes the runtime-id key;
* `window.__hyperframes.getVariables()` returns the instance's values;
* an exception is caught and pushed to `window.__hd.errors` as {message, source}, which the
  runtime reports as PAGE_SCRIPT_ERROR; it is not rethrown, so later instances still run.

Everything else on `document` and `window` is the real object.
"""
from __future__ import annotations

import json
from typing import Any

# The per-page helper, emitted once before the first instance script. It is plain ES5 plus
# Proxy/Reflect, which every supported Chromium has.
_PRELUDE = r"""(function(){
if (window.__hdScope) return;
function errs(){ var hd = window.__hd = window.__hd || {}; return hd.errors = hd.errors || []; }
function esc(s){ return String(s).replace(/[\\"]/g, '\\$&'); }
function rewriter(authored, runtime){
  if (authored === runtime) return function(sel){ return sel; };
  var pat = new RegExp('(data-composition-id\\s*[~|^$*]?=\\s*)(?:"' + authored.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') +
    '"|\'' + authored.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '\'|' + authored.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') +
    '(?=[\\s\\]]))', 'g');
  return function(sel){ return typeof sel === 'string' ? sel.replace(pat, '$1"' + esc(runtime) + '"') : sel; };
}
// Native methods (no own prototype: setTimeout, createElement, addEventListener) are bound to
// the real object; constructors and library functions (Date, Promise, anime, $) are returned
// as they are, so their static members keep working.
function bindAll(target){
  return function(v){
    return (typeof v === 'function' && !Object.prototype.hasOwnProperty.call(v, 'prototype')) ? v.bind(target) : v;
  };
}
window.__hdScope = function(opt){
  var box = document.querySelector('[data-hd-scope="' + opt.scope + '"]');
  var rw = rewriter(opt.authored, opt.runtime);
  var realDoc = document;
  function qs(sel){
    sel = rw(sel);
    if (!box) return null;
    if (box.matches(sel)) return box;
    return box.querySelector(sel);
  }
  function qsa(sel){
    sel = rw(sel);
    if (!box) return [];
    var out = [];
    if (box.matches(sel)) out.push(box);
    var found = box.querySelectorAll(sel);
    for (var i = 0; i < found.length; i++) out.push(found[i]);
    return out;
  }
  function byId(id){
    if (!box) return null;
    id = String(id);
    if (box.id === id) return box;
    return box.querySelector('[id="' + esc(id) + '"]');
  }
  var docBind = bindAll(realDoc);
  var doc = new Proxy(realDoc, {
    get: function(t, k){
      if (k === 'querySelector') return qs;
      if (k === 'querySelectorAll') return qsa;
      if (k === 'getElementById') return byId;
      return docBind(Reflect.get(t, k, t));
    },
    set: function(t, k, v){ t[k] = v; return true; }
  });
  function key(k){ return k === opt.authored ? opt.runtime : k; }
  function realTimelines(){ return window.__timelines = window.__timelines || {}; }
  var timelines = new Proxy({}, {
    get: function(_, k){ return realTimelines()[key(k)]; },
    set: function(_, k, v){ realTimelines()[key(k)] = v; return true; },
    has: function(_, k){ return key(k) in realTimelines(); },
    deleteProperty: function(_, k){ return delete realTimelines()[key(k)]; },
    ownKeys: function(){ return Reflect.ownKeys(realTimelines()); },
    getOwnPropertyDescriptor: function(_, k){
      var d = Object.getOwnPropertyDescriptor(realTimelines(), key(k));
      if (d) d.configurable = true;
      return d;
    }
  });
  var values = opt.variables;
  function getVariables(){ return JSON.parse(JSON.stringify(values)); }
  var hyperframes = new Proxy({}, {
    get: function(_, k){
      if (k === 'getVariables') return getVariables;
      var real = window.__hyperframes;
      if (real == null) return undefined;
      var v = real[k];
      return typeof v === 'function' ? v.bind(real) : v;
    },
    set: function(_, k, v){ (window.__hyperframes = window.__hyperframes || {})[k] = v; return true; }
  });
  var winBind = bindAll(window);
  var win = new Proxy(window, {
    get: function(t, k){
      if (k === 'document') return doc;
      if (k === '__timelines') return timelines;
      if (k === '__hyperframes') return hyperframes;
      if (k === 'window' || k === 'self' || k === 'globalThis') return win;
      return winBind(Reflect.get(t, k, t));
    },
    set: function(t, k, v){
      if (k === '__timelines') {
        if (v === timelines) return true;
        if (v && typeof v === 'object') {
          var real = realTimelines();
          Object.keys(v).forEach(function(name){ real[key(name)] = v[name]; });
        }
        return true;
      }
      if (k === '__hyperframes' && v === hyperframes) return true;
      t[k] = v;
      return true;
    },
    has: function(t, k){ return k in t; }
  });
  return {
    window: win, document: doc, timelines: timelines, hyperframes: hyperframes,
    run: function(fn){
      try { fn.call(win, win, doc, timelines, hyperframes); }
      catch (e) {
        errs().push({ message: String(e && e.message !== undefined ? e.message : e), source: opt.source });
      }
    }
  };
};
})();
"""


def _js_string(value: Any) -> str:
    """A JSON literal safe inside a <script> element."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("<!--", "<\\!--").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def prelude_script() -> str:
    return _PRELUDE


def instance_script(*, scope: str, authored_id: str, runtime_id: str, source: str,
                    variables: dict[str, Any], scripts: list[str]) -> str:
    """The one <script> of an instance: each of its inline scripts in its own function scope."""
    opt = {
        "scope": scope,
        "authored": authored_id,
        "runtime": runtime_id,
        "source": source,
        "variables": variables,
    }
    parts = [f"(function(){{var __hdI = window.__hdScope({_js_string(opt)});"]
    for text in scripts:
        # The author's text is embedded as written: it was inside a <script> element already, so
        # it cannot contain "</script". A trailing line comment is closed by the newline.
        parts.append(
            "__hdI.run(function(window, document, __timelines, __hyperframes){\n"
            + text
            + "\n});"
        )
    parts.append("})();")
    return "\n".join(parts) + "\n"
