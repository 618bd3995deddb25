/*
 * hyperdesk page runtime (composition contract sections 3-11).
 *
 * Installed with Playwright's add_init_script, so it runs in every frame before any page script.
 * The Python side prefixes it with `window.__hdRuntimeConfig = {fps: {num, den}, variables}`.
 *
 * Every frame: the virtual time shim (Date, performance.now, requestAnimationFrame, Math.random,
 * crypto.getRandomValues / randomUUID), error recording, the Element.prototype.animate hook and
 * the per-frame seek entry point `window.__hdFrame` used by the parent's seek (7.5 step 9).
 * Top frame only: __hfVariables, __timelines, __hfLottie, __hfAnime, __hyperframes, __hf, __hd,
 * initialisation at DOMContentLoaded, readiness, the seek algorithm and video frame injection.
 */
(function () {
  'use strict';

  var W = window;
  var CFG = W.__hdRuntimeConfig || {};
  try { delete W.__hdRuntimeConfig; } catch (e) { /* ignore */ }
  if (Object.prototype.hasOwnProperty.call(W, '__hdFrame')) return; // installed twice: first wins

  var FPS_NUM = (CFG.fps && CFG.fps.num) || 30;
  var FPS_DEN = (CFG.fps && CFG.fps.den) || 1;
  var FPS = FPS_NUM / FPS_DEN;
  var OVERRIDES = (CFG.variables && typeof CFG.variables === 'object') ? CFG.variables : {};
  // 7.3 item 3: how long readiness waits for unregistered timelines (the root's included) before
  // it goes ahead without them, with a TIMELINE_NOT_REGISTERED warning. The worker passes a value
  // below its own readiness limit, so the wait ends before the page counts as never ready.
  var TIMELINE_WAIT_MS = (typeof CFG.timelineWaitMs === 'number' && isFinite(CFG.timelineWaitMs) && CFG.timelineWaitMs >= 0)
    ? CFG.timelineWaitMs : 45000;

  var IS_TOP;
  try { IS_TOP = W.top === W; } catch (e) { IS_TOP = false; }

  // ---------------------------------------------------------------------------------------------
  // Natives saved before any page script can touch them.
  var NativeDate = W.Date;
  var nativeDateNow = NativeDate.now;
  var nSetTimeout = W.setTimeout;
  var nClearTimeout = W.clearTimeout;
  var NativePromise = W.Promise;
  var nativeGetComputedStyle = W.getComputedStyle;
  var nativeAnimate = W.Element && W.Element.prototype.animate;
  var nativeDefine = Object.defineProperty;

  function wallNow() { return nativeDateNow.call(NativeDate); }
  function later(fn, ms) { return nSetTimeout.call(W, fn, ms); }
  function cancelLater(id) { nClearTimeout.call(W, id); }
  function css(el) { return nativeGetComputedStyle.call(W, el); }

  function hide(obj, name, value) {
    nativeDefine(obj, name, { value: value, writable: true, configurable: true, enumerable: false });
  }

  // ---------------------------------------------------------------------------------------------
  // Error recording (7.3). Errors of same-origin child frames go to the top frame's list.
  var localErrors = [];
  var failedScripts = [];

  function errorSink() {
    if (!IS_TOP) {
      try {
        var top = W.top;
        var hd = top && top.__hd;
        if (hd && hd.errors && typeof hd.errors.push === 'function') return hd.errors;
      } catch (e) { /* cross-origin parent */ }
    }
    return localErrors;
  }

  function messageOf(err) {
    try {
      if (err && typeof err === 'object' && 'message' in err) {
        var name = err.name ? String(err.name) + ': ' : '';
        return name + String(err.message);
      }
      return String(err);
    } catch (e) {
      return 'unprintable error';
    }
  }

  function sourceOfError(err, fallback) {
    try {
      var st = err && err.stack;
      if (typeof st === 'string') {
        var m = st.match(/((?:https?|file|blob|data|about):[^\s()]*?):(\d+):(\d+)/);
        if (m) return m[1] + ':' + m[2] + ':' + m[3];
      }
    } catch (e) { /* ignore */ }
    return fallback || '';
  }

  function recordError(message, source) {
    var entry = { message: String(message), source: String(source || '') };
    if (!IS_TOP && !/^(?:https?|file|blob|data|about):/.test(entry.source)) {
      try { entry.source = String(W.location.href) + (entry.source ? ' ' + entry.source : ''); } catch (e) { /* ignore */ }
    }
    errorSink().push(entry);
    return entry;
  }

  function recordException(err, fallbackSource) {
    return recordError(messageOf(err), sourceOfError(err, fallbackSource));
  }

  W.addEventListener('error', function (ev) {
    var tgt = ev.target;
    if (tgt && tgt !== W && tgt.nodeType === 1) {
      // A resource failed to load (bubbles only in the capture phase).
      if (tgt.tagName === 'SCRIPT') failedScripts.push(String(tgt.src || tgt.getAttribute('src') || ''));
      return;
    }
    var msg = ev.message || (ev.error ? messageOf(ev.error) : 'Script error.');
    var src = ev.filename ? ev.filename + ':' + ev.lineno + ':' + ev.colno : sourceOfError(ev.error, 'window');
    recordError(msg, src);
  }, true);

  W.addEventListener('unhandledrejection', function (ev) {
    recordError('Unhandled promise rejection: ' + messageOf(ev.reason), sourceOfError(ev.reason, 'unhandledrejection'));
  });

  // ---------------------------------------------------------------------------------------------
  // 8.1 Clocks and 8.3 seeded randomness.
  var nowMs = 0;
  var rngState = 0;

  function reseed() {
    var m = Math.floor(nowMs) >>> 0;
    rngState = Math.imul(0x9E3779B9 | 0, ((m + 1) >>> 0) | 0) >>> 0;
  }

  function nextRandom() {
    rngState = (rngState + 0x6D2B79F5) >>> 0;
    var z = rngState;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  }

  function setClock(ms) {
    nowMs = ms;
    reseed();
  }
  reseed();

  // Date
  function HDDate() {
    if (!new.target) return new NativeDate(nowMs).toString();
    if (arguments.length === 0) return Reflect.construct(NativeDate, [nowMs], new.target);
    return Reflect.construct(NativeDate, Array.prototype.slice.call(arguments), new.target);
  }
  HDDate.prototype = NativeDate.prototype;
  nativeDefine(HDDate, 'name', { value: 'Date', configurable: true });
  nativeDefine(HDDate, 'length', { value: 7, configurable: true });
  hide(HDDate, 'now', function now() { return nowMs; });
  hide(HDDate, 'parse', NativeDate.parse);
  hide(HDDate, 'UTC', NativeDate.UTC);
  hide(HDDate, 'toString', function toString() { return 'function Date() { [native code] }'; });
  hide(NativeDate.prototype, 'constructor', HDDate);
  hide(W, 'Date', HDDate);

  // Intl.DateTimeFormat#format() / formatToParts() without a date mean "now", like new Date()
  var DTF = W.Intl && W.Intl.DateTimeFormat;
  if (DTF && DTF.prototype) {
    try {
      var fmtDesc = Object.getOwnPropertyDescriptor(DTF.prototype, 'format');
      if (fmtDesc && typeof fmtDesc.get === 'function') {
        var nativeFormatGetter = fmtDesc.get;
        var wrappedFormats = new WeakMap();
        nativeDefine(DTF.prototype, 'format', {
          configurable: true,
          enumerable: fmtDesc.enumerable,
          get: function () {
            var bound = nativeFormatGetter.call(this);
            var w = wrappedFormats.get(this);
            if (!w) {
              w = function (date) { return bound(date === undefined ? nowMs : date); };
              wrappedFormats.set(this, w);
            }
            return w;
          }
        });
      }
      var nativeFormatToParts = DTF.prototype.formatToParts;
      if (typeof nativeFormatToParts === 'function') {
        hide(DTF.prototype, 'formatToParts', function formatToParts(date) {
          return nativeFormatToParts.call(this, date === undefined ? nowMs : date);
        });
      }
    } catch (e) { /* ignore */ }
  }

  // performance.now
  try {
    hide(W.performance, 'now', function now() { return nowMs; });
  } catch (e) { /* ignore */ }

  // Math.random
  hide(Math, 'random', function random() { return nextRandom(); });

  // crypto
  var INTEGER_VIEWS = {
    '[object Int8Array]': 1, '[object Uint8Array]': 1, '[object Uint8ClampedArray]': 1,
    '[object Int16Array]': 1, '[object Uint16Array]': 1, '[object Int32Array]': 1,
    '[object Uint32Array]': 1, '[object BigInt64Array]': 1, '[object BigUint64Array]': 1
  };

  function fillRandomBytes(bytes) {
    var n = bytes.length;
    var i = 0;
    for (; i + 4 <= n; i += 4) {
      var v = Math.floor(nextRandom() * 4294967296) >>> 0;
      bytes[i] = v & 255;
      bytes[i + 1] = (v >>> 8) & 255;
      bytes[i + 2] = (v >>> 16) & 255;
      bytes[i + 3] = (v >>> 24) & 255;
    }
    for (; i < n; i++) bytes[i] = Math.floor(nextRandom() * 256);
  }

  function getRandomValues(view) {
    if (!ArrayBuffer.isView(view) || !INTEGER_VIEWS[Object.prototype.toString.call(view)]) {
      throw new DOMException("Failed to execute 'getRandomValues' on 'Crypto': The provided ArrayBufferView is not an integer array type.", 'TypeMismatchError');
    }
    if (view.byteLength > 65536) {
      throw new DOMException("Failed to execute 'getRandomValues' on 'Crypto': The ArrayBufferView's byte length (" + view.byteLength + ') exceeds the number of bytes of entropy available via this API (65536).', 'QuotaExceededError');
    }
    fillRandomBytes(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    return view;
  }

  function randomUUID() {
    var b = new Uint8Array(16);
    fillRandomBytes(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = [];
    for (var i = 0; i < 16; i++) h.push((b[i] + 0x100).toString(16).slice(1));
    return h.slice(0, 4).join('') + '-' + h.slice(4, 6).join('') + '-' + h.slice(6, 8).join('') + '-' +
      h.slice(8, 10).join('') + '-' + h.slice(10, 16).join('');
  }

  if (W.crypto) {
    try {
      hide(W.crypto, 'getRandomValues', getRandomValues);
      hide(W.crypto, 'randomUUID', randomUUID);
    } catch (e) { /* ignore */ }
  }

  // 8.2 requestAnimationFrame: enqueue only, flushed once per seek.
  var rafPending = new Map();
  var rafFlushing = null;
  var rafNextId = 0;

  function requestAnimationFrame(cb) {
    if (typeof cb !== 'function') {
      throw new TypeError("Failed to execute 'requestAnimationFrame' on 'Window': The callback provided as parameter 1 is not a function.");
    }
    var id = ++rafNextId;
    rafPending.set(id, { cb: cb, cancelled: false });
    return id;
  }

  function cancelAnimationFrame(id) {
    id = Number(id);
    if (rafPending.has(id)) { rafPending.delete(id); return; }
    if (rafFlushing) {
      var e = rafFlushing.get(id);
      if (e) e.cancelled = true;
    }
  }

  function flushRaf() {
    var snap = rafPending;
    rafPending = new Map();
    rafFlushing = snap;
    try {
      snap.forEach(function (entry) {
        if (entry.cancelled) return;
        try {
          entry.cb.call(W, nowMs);
        } catch (err) {
          recordException(err, 'requestAnimationFrame');
        }
      });
    } finally {
      rafFlushing = null;
    }
  }

  hide(W, 'requestAnimationFrame', requestAnimationFrame);
  hide(W, 'cancelAnimationFrame', cancelAnimationFrame);
  if ('webkitRequestAnimationFrame' in W) hide(W, 'webkitRequestAnimationFrame', requestAnimationFrame);
  if ('webkitCancelAnimationFrame' in W) hide(W, 'webkitCancelAnimationFrame', cancelAnimationFrame);

  // ---------------------------------------------------------------------------------------------
  // WAAPI hook (7.6): pause at creation, remember the virtual creation time.
  // (hyperdesk) installed in every frame, so same-origin frames' WAAPI follows the composition.
  var hookedAnimations = new Map(); // Animation -> creation ms
  var firstSeen = new WeakMap();    // other animations -> tq at first sight

  if (nativeAnimate) {
    hide(W.Element.prototype, 'animate', function animate(keyframes, options) {
      var anim = nativeAnimate.apply(this, arguments);
      try { anim.pause(); } catch (e) { /* ignore */ }
      hookedAnimations.set(anim, nowMs);
      return anim;
    });
  }

  function setAnimationTime(anim, ms) {
    try {
      if (anim.playState !== 'paused') anim.pause();
      anim.currentTime = ms;
    } catch (e) { /* ignore */ }
  }

  function isCssAnimation(anim) {
    return typeof W.CSSAnimation === 'function' && anim instanceof W.CSSAnimation;
  }

  // CSS animations and WAAPI of this document at quantised time tq (seconds).
  function seekDocumentAnimations(tq, startOfTarget) {
    var done = new Set();
    hookedAnimations.forEach(function (created, anim) {
      if (anim.playState === 'idle') return; // cancelled by the author
      done.add(anim);
      setAnimationTime(anim, Math.max(0, tq * 1000 - created));
    });
    var list = [];
    try { list = document.getAnimations(); } catch (e) { /* ignore */ }
    for (var i = 0; i < list.length; i++) {
      var anim = list[i];
      if (done.has(anim) || hookedAnimations.has(anim)) continue;
      if (isCssAnimation(anim)) {
        var target = anim.effect && anim.effect.target;
        var s = target ? startOfTarget(target) : 0;
        setAnimationTime(anim, Math.max(0, tq - s) * 1000);
      } else {
        var t0 = firstSeen.get(anim);
        if (t0 === undefined) { t0 = tq; firstSeen.set(anim, t0); }
        setAnimationTime(anim, (tq - t0) * 1000);
      }
    }
  }

  function quantise(t) {
    return Math.floor(t * FPS + 1e-9) / FPS;
  }

  // Same-origin child frames, recursively (7.5 step 9).
  function advanceChildFrames(t, tq) {
    var n = 0;
    try { n = W.frames.length; } catch (e) { return; }
    for (var i = 0; i < n; i++) {
      var api = null;
      try { api = W.frames[i].__hdFrame; } catch (e) { api = null; } // cross-origin
      if (!api || typeof api.advance !== 'function') continue;
      try { api.advance(t, tq); } catch (err) { recordException(err, 'iframe'); }
    }
  }

  var frameApi = {
    now: function () { return nowMs; },
    setClock: setClock,
    flushRaf: flushRaf,
    advance: function (t, tq) {
      setClock(t * 1000);
      seekDocumentAnimations(tq, function () { return 0; });
      flushRaf();
      advanceChildFrames(t, tq);
    },
    errors: localErrors,
    failedScripts: failedScripts,
    random: nextRandom
  };
  nativeDefine(W, '__hdFrame', { value: frameApi, writable: false, configurable: false, enumerable: false });

  if (!IS_TOP) return;

  // =============================================================================================
  // Top frame only.
  // =============================================================================================

  var EPS = 1e-9;
  var HOST_SEL = '[data-composition-id],[data-composition-src],[data-composition-file]';
  var NEVER_VISIBLE = { SCRIPT: 1, STYLE: 1, LINK: 1, META: 1 };
  var COPIED_VIDEO_STYLES = ['width', 'height', 'top', 'left', 'right', 'bottom', 'inset', 'object-fit',
    'object-position', 'z-index', 'opacity', 'visibility', 'filter', 'mix-blend-mode', 'backdrop-filter',
    'border-radius', 'overflow', 'clip-path', 'mask', 'mask-image', 'mask-size', 'mask-position',
    'mask-repeat', 'transform', 'transform-origin', 'translate', 'rotate', 'scale', 'box-sizing'];

  var warnings = [];
  var warningKeys = new Set();

  function warn(code, message, element) {
    var key = code + '|' + message;
    if (warningKeys.has(key)) return;
    warningKeys.add(key);
    var w = { code: code, message: message };
    if (element) w.element = element;
    warnings.push(w);
  }

  function describe(el) {
    if (!el || !el.tagName) return String(el);
    var s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    var cid = el.getAttribute('data-composition-id');
    if (cid) s += '[data-composition-id="' + cid + '"]';
    return s;
  }

  function cssString(v) {
    return '"' + String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\a ') + '"';
  }

  function attrNumber(el, name) {
    var raw = el.getAttribute(name);
    if (raw == null) return NaN;
    raw = raw.trim();
    if (!NUMBER_RE.test(raw)) return NaN;
    return parseFloat(raw);
  }

  function clampRate(el) {
    var r = attrNumber(el, 'data-playback-rate');
    if (!isFinite(r)) return 1;
    return Math.min(5, Math.max(0.1, r));
  }

  function mediaStartOf(el) {
    var names = ['data-playback-start', 'data-media-start'];
    for (var i = 0; i < names.length; i++) {
      var v = attrNumber(el, names[i]);
      if (isFinite(v) && v >= 0) return v;
    }
    return 0;
  }

  // ---- root, variables ------------------------------------------------------------------------
  function findRoot() {
    var r = document.querySelector('[data-composition-id][data-root="true"]');
    if (r) return r;
    var all = document.querySelectorAll('[data-composition-id]');
    for (var i = 0; i < all.length; i++) {
      var p = all[i].parentElement;
      if (!p || !p.closest('[data-composition-id]')) return all[i];
    }
    return null;
  }

  var root = null;
  var rootId = null;

  function declaredDefaults() {
    var out = {};
    var els = [document.documentElement, root || findRoot()];
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (!el || !el.getAttribute) continue;
      var raw = el.getAttribute('data-composition-variables');
      if (!raw) continue;
      try {
        var decls = JSON.parse(raw);
        if (!Array.isArray(decls)) continue;
        decls.forEach(function (d) {
          if (d && typeof d.id === 'string' && Object.prototype.hasOwnProperty.call(d, 'default')) out[d.id] = d['default'];
        });
      } catch (e) { /* the compiler reports malformed declarations */ }
    }
    return out;
  }

  function clone(v) {
    try { return JSON.parse(JSON.stringify(v)); } catch (e) { return v; }
  }

  W.__hfVariables = clone(OVERRIDES);
  W.__timelines = {};
  W.__hfLottie = [];
  W.__hfAnime = [];
  W.__hyperframes = {
    getVariables: function getVariables() {
      var out = declaredDefaults();
      Object.keys(OVERRIDES).forEach(function (k) { out[k] = OVERRIDES[k]; });
      return clone(out);
    }
  };

  // ---- start-time grammar (4.1) and resolution (4.2) --------------------------------------------
  var NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
  var IDENT_RE = /^[A-Za-z0-9_.:-]+$/;
  var REF_OFFSET_RE = /^([A-Za-z0-9_.:-]+)\s*([+-])\s*(\d+(?:\.\d*)?|\.\d+)$/;

  function parseTimeExpr(s) {
    s = String(s).trim();
    if (s === '') return null;
    if (NUMBER_RE.test(s)) return { kind: 'num', value: parseFloat(s) };
    if (IDENT_RE.test(s)) return { kind: 'ref', ref: s, offset: 0 };
    var m = s.match(REF_OFFSET_RE);
    if (m) {
      var mag = parseFloat(m[3]);
      return { kind: 'ref', ref: m[1], offset: m[2] === '-' ? -mag : mag };
    }
    return { kind: 'invalid' };
  }

  function isHost(el) {
    return !!el && el.nodeType === 1 && (el.hasAttribute('data-composition-id') ||
      el.hasAttribute('data-composition-src') || el.hasAttribute('data-composition-file'));
  }

  // An inner root: a composition element mounted by a host (its window is the host's).
  function isInnerRoot(el) {
    var p = el.parentElement;
    if (!p || p === root || !el.hasAttribute('data-composition-id')) return false;
    return p.hasAttribute('data-composition-file') || p.hasAttribute('data-composition-src') ||
      p.getAttribute('data-composition-id') === el.getAttribute('data-composition-id');
  }

  function findReference(el, name) {
    var idSel = '[id=' + cssString(name) + ']';
    var cidSel = '[data-composition-id=' + cssString(name) + ']';
    // nearest enclosing composition first (repeated mounts), then the whole document
    var scope = el.parentElement && el.parentElement.closest('[data-composition-id]');
    while (scope) {
      var hit = scope.querySelector(idSel);
      if (hit) return hit;
      scope = scope.parentElement && scope.parentElement.closest('[data-composition-id]');
    }
    return document.getElementById(name) || document.querySelector(cidSel);
  }

  function rootTimeline() {
    var tls = W.__timelines;
    if (!tls || typeof tls !== 'object') return null;
    if (rootId != null && tls[rootId]) return tls[rootId];
    if (fallbackRootKey != null && tls[fallbackRootKey]) return tls[fallbackRootKey];
    // The fallback of 7.3 item 2 is for a root that registered under another name. A root with
    // data-no-timeline has none, and a key naming another composition element is that element's
    // timeline (seeked by the host formula of 5.6), never the root's.
    if (root && root.hasAttribute('data-no-timeline')) return null;
    var keys = Object.keys(tls).filter(function (k) { return !!tls[k]; });
    if (keys.length === 1 && rootId != null && !document.querySelector('[data-composition-id=' + cssString(keys[0]) + ']')) {
      fallbackRootKey = keys[0];
      warn('ROOT_TIMELINE_FALLBACK', 'window.__timelines has no key "' + rootId + '"; bound the only registered timeline "' + keys[0] + '" as the root timeline', describe(root));
      return tls[keys[0]];
    }
    return null;
  }
  var fallbackRootKey = null;

  function timelineForKey(key) {
    if (key === rootId) return rootTimeline();
    var tls = W.__timelines;
    return tls && typeof tls === 'object' ? tls[key] || null : null;
  }

  function timelineDuration(tl) {
    if (!tl) return NaN;
    try {
      if (typeof tl.duration === 'function') return Number(tl.duration());
    } catch (e) { /* ignore */ }
    return NaN;
  }

  // One resolver per pass: memoised starts, durations and windows.
  function makeResolver() {
    var starts = new Map();
    var durs = new Map();
    var visible = new Map();
    var startStack = new Set();
    var durStack = new Set();

    function baseStart(el) {
      var b = el.parentElement && el.parentElement.closest('[data-composition-id]');
      return b ? start(b) : 0;
    }

    function resolveRef(el, parsed, attr) {
      var target = findReference(el, parsed.ref);
      if (!target) {
        warn('START_REFERENCE_MISSING', attr + ' of ' + describe(el) + ' references "' + parsed.ref + '", which does not exist; resolved to 0', describe(el));
        return 0;
      }
      if (startStack.has(target) || durStack.has(target)) {
        warn('START_REFERENCE_CYCLE', attr + ' of ' + describe(el) + ' closes a reference cycle through "' + parsed.ref + '"; resolved to 0', describe(el));
        return null; // caller resolves the closing element to 0
      }
      var ts = start(target);
      var td = duration(target);
      var v = td == null ? ts + parsed.offset : ts + td + parsed.offset;
      return Math.max(0, v);
    }

    function computeStart(el) {
      if (el === root) return 0;
      var raw = el.getAttribute('data-start');
      var s = raw == null ? '' : raw.trim();
      if (s === '') {
        if (el.hasAttribute('data-composition-id') && isHost(el.parentElement)) return start(el.parentElement);
        return 0;
      }
      var p = parseTimeExpr(s);
      if (!p || p.kind === 'invalid') {
        warn('INVALID_START', 'data-start="' + raw + '" of ' + describe(el) + ' is not a number or reference; resolved to 0', describe(el));
        return 0;
      }
      if (p.kind === 'num') return baseStart(el) + Math.max(0, p.value);
      var v = resolveRef(el, p, 'data-start');
      return v == null ? 0 : v;
    }

    function start(el) {
      if (starts.has(el)) return starts.get(el);
      if (startStack.has(el)) return 0;
      startStack.add(el);
      var v;
      try { v = computeStart(el); } finally { startStack.delete(el); }
      if (!isFinite(v)) v = 0;
      starts.set(el, v);
      return v;
    }

    function computeDuration(el) {
      var d = attrNumber(el, 'data-duration');
      if (isFinite(d) && d > 0) return d;
      var endRaw = el.getAttribute('data-end');
      if (endRaw != null && endRaw.trim() !== '') {
        var p = parseTimeExpr(endRaw);
        var endAbs = null;
        if (p && p.kind === 'num') endAbs = baseStart(el) + p.value;
        else if (p && p.kind === 'ref') endAbs = resolveRef(el, p, 'data-end');
        if (endAbs != null) {
          var dd = endAbs - start(el);
          if (isFinite(dd) && dd > 0) return dd;
        }
      }
      var tag = el.tagName;
      if (tag === 'VIDEO' || tag === 'AUDIO') {
        var src = Number(el.duration);
        if (isFinite(src) && src > 0) {
          var nat = (src - mediaStartOf(el)) / clampRate(el);
          if (nat > 0) return nat;
        }
      }
      if (el.hasAttribute('data-composition-id') && !isInnerRoot(el)) {
        var td = timelineDuration(timelineForKey(el.getAttribute('data-composition-id')));
        if (isFinite(td) && td > 0) return td;
      }
      return null;
    }

    function duration(el) {
      if (durs.has(el)) return durs.get(el);
      if (durStack.has(el)) return null;
      durStack.add(el);
      var v;
      try { v = computeDuration(el); } finally { durStack.delete(el); }
      durs.set(el, v);
      return v;
    }

    function inWindow(el, t) {
      var key = el;
      if (visible.has(key)) return visible.get(key);
      var s = start(el);
      var d = duration(el);
      var v = t + EPS >= s && (d == null || t + EPS < s + d);
      visible.set(key, v);
      return v;
    }

    // Resolve every timed element in document order first, so that a reference cycle is
    // broken at the same element whichever element a caller asks about first.
    var primed = false;
    function prime() {
      if (primed) return;
      primed = true;
      var els = document.querySelectorAll('[data-start]');
      for (var i = 0; i < els.length; i++) start(els[i]);
    }

    return {
      start: function (el) { prime(); return start(el); },
      duration: function (el) { prime(); return duration(el); },
      inWindow: function (el, t) { prime(); return inWindow(el, t); }
    };
  }

  function hasStartAttr(el) { return el.hasAttribute('data-start'); }

  // ---- visibility pass (3.3) ------------------------------------------------------------------
  var savedDisplay = new Map(); // element -> {value, priority} of its inline display before we set one

  function forceDisplayNone(el, important) {
    if (!savedDisplay.has(el)) {
      savedDisplay.set(el, { value: el.style.getPropertyValue('display'), priority: el.style.getPropertyPriority('display') });
    }
    var prio = important ? 'important' : '';
    if (el.style.getPropertyValue('display') !== 'none' || el.style.getPropertyPriority('display') !== prio) {
      el.style.setProperty('display', 'none', prio);
    }
  }

  function releaseDisplay(el) {
    var saved = savedDisplay.get(el);
    if (!saved) return;
    savedDisplay.delete(el);
    if (saved.value) el.style.setProperty('display', saved.value, saved.priority);
    else el.style.removeProperty('display');
  }

  // (HyperFrames) Everything inside a hidden clip is hidden, not only timed descendants (3.3 rule
  // 3): content whose own CSS or script says visibility:visible (a scene's stylesheet, gsap.set)
  // would otherwise show a sub-composition host before its data-start.
  var CLIP_HIDDEN_ATTR = 'data-hd-clip-hidden';

  function installClipHiddenRule() {
    var style = document.createElement('style');
    style.setAttribute('data-hd-runtime', 'clip-hidden');
    style.textContent = '[' + CLIP_HIDDEN_ATTR + '] * { visibility: hidden !important; }';
    (document.head || document.documentElement).appendChild(style);
  }

  function markClipHidden(el, hidden) {
    if (el.hasAttribute(CLIP_HIDDEN_ATTR) !== hidden) el.toggleAttribute(CLIP_HIDDEN_ATTR, hidden);
  }

  function setVisibility(el, v) {
    if (el.style.getPropertyValue('visibility') !== v || el.style.getPropertyPriority('visibility') !== '') {
      el.style.setProperty('visibility', v);
    }
  }

  function isShown(el, t, R) {
    if (!R.inWindow(el, t)) return false;
    for (var a = el.parentElement; a && a !== root; a = a.parentElement) {
      if (hasStartAttr(a) && !R.inWindow(a, t)) return false;
    }
    return true;
  }

  function visibilityPass(t, R) {
    var els = document.querySelectorAll('[data-start]');
    var plan = [];
    var i, el;
    for (i = 0; i < els.length; i++) {
      el = els[i];
      if (el === root || NEVER_VISIBLE[el.tagName]) continue;
      if (el.hasAttribute('data-hidden')) { plan.push([el, 'attr']); continue; }
      plan.push([el, isShown(el, t, R) ? 'show' : 'hide']);
    }
    // reads first (computed position, timed descendants), then writes
    for (i = 0; i < plan.length; i++) {
      if (plan[i][1] !== 'hide') continue;
      el = plan[i][0];
      var pos = css(el).position;
      var inFlow = pos === 'static' || pos === 'relative' || pos === 'sticky';
      plan[i].push(inFlow && !el.querySelector('[data-start]'));
    }
    var attrHidden = new Set();
    for (i = 0; i < plan.length; i++) {
      el = plan[i][0];
      var what = plan[i][1];
      markClipHidden(el, what === 'hide');
      if (what === 'attr') {
        attrHidden.add(el);
        forceDisplayNone(el, true);
      } else if (what === 'show') {
        setVisibility(el, 'visible');
        releaseDisplay(el);
      } else {
        setVisibility(el, 'hidden');
        if (plan[i][2]) forceDisplayNone(el, false);
        else releaseDisplay(el);
      }
    }
    // data-hidden removed from an element that is no longer timed, or removed from the DOM
    savedDisplay.forEach(function (saved, e) {
      if (!e.isConnected) { savedDisplay.delete(e); return; }
      if (!hasStartAttr(e) && !attrHidden.has(e)) releaseDisplay(e);
    });
  }

  // ---- media ----------------------------------------------------------------------------------
  function pauseMedia() {
    var media = document.querySelectorAll('video, audio');
    for (var i = 0; i < media.length; i++) {
      try {
        if (!media[i].paused) media[i].pause(); // also clears the element's autoplay flag
      } catch (e) { /* ignore */ }
    }
  }

  var videoImages = new Map(); // media id -> img
  var videoSaved = new Map();  // video -> {value, priority} of inline visibility before our hide

  function findVideo(mediaId) {
    return document.querySelector('video[data-hd-media-id=' + cssString(mediaId) + ']');
  }

  function ensureVideoImage(video) {
    var id = video.getAttribute('data-hd-media-id');
    if (!id) return null;
    var img = videoImages.get(id);
    if (img && img.isConnected && img.previousElementSibling === video) return img;
    if (img && img.isConnected) img.remove();
    img = document.createElement('img');
    img.setAttribute('data-hd-video-frame', id);
    img.setAttribute('alt', '');
    img.setAttribute('aria-hidden', 'true');
    img.setAttribute('decoding', 'sync');
    img.draggable = false;
    img.style.cssText = 'position:absolute !important;left:0 !important;top:0 !important;' +
      'width:0 !important;height:0 !important;margin:0 !important;padding:0 !important;' +
      'border:0 !important;pointer-events:none !important;visibility:hidden !important;' +
      'transition:none !important;animation:none !important;';
    video.insertAdjacentElement('afterend', img);
    videoImages.set(id, img);
    return img;
  }

  function createVideoImages() {
    var vids = document.querySelectorAll('video[data-hd-media-id]');
    for (var i = 0; i < vids.length; i++) ensureVideoImage(vids[i]);
  }

  function pageOffset(el) {
    var x = 0, y = 0;
    for (var e = el; e; e = e.offsetParent) {
      x += e.offsetLeft;
      y += e.offsetTop;
      var op = e.offsetParent;
      if (op) { x += op.clientLeft; y += op.clientTop; }
    }
    return [x, y];
  }

  function restoreVideoVisibility(video) {
    var saved = videoSaved.get(video);
    if (!saved) return;
    videoSaved.delete(video);
    // only undo our own declaration; the visibility pass may have replaced it already
    if (video.style.getPropertyValue('visibility') === 'hidden' && video.style.getPropertyPriority('visibility') === 'important') {
      if (saved.value) video.style.setProperty('visibility', saved.value, saved.priority);
      else video.style.removeProperty('visibility');
    }
  }

  function hideVideo(video) {
    if (!videoSaved.has(video)) {
      videoSaved.set(video, { value: video.style.getPropertyValue('visibility'), priority: video.style.getPropertyPriority('visibility') });
    }
    video.style.setProperty('visibility', 'hidden', 'important');
  }

  function setVideoFrame(mediaId, uri) {
    var video = findVideo(mediaId);
    if (!video) return NativePromise.reject(new Error('no <video> with data-hd-media-id="' + mediaId + '"'));
    var img = ensureVideoImage(video);
    if (uri == null || uri === '') {
      img.style.setProperty('visibility', 'hidden', 'important');
      return NativePromise.resolve(false);
    }
    restoreVideoVisibility(video);
    var cs = css(video);
    for (var i = 0; i < COPIED_VIDEO_STYLES.length; i++) {
      var p = COPIED_VIDEO_STYLES[i];
      var v = cs.getPropertyValue(p);
      if (v) img.style.setProperty(p, v, 'important');
      else img.style.removeProperty(p);
    }
    var st = img.style;
    st.setProperty('position', 'absolute', 'important');
    st.setProperty('margin', '0', 'important');
    st.setProperty('right', 'auto', 'important');
    st.setProperty('bottom', 'auto', 'important');
    st.setProperty('left', video.offsetLeft + 'px', 'important');
    st.setProperty('top', video.offsetTop + 'px', 'important');
    st.setProperty('width', video.offsetWidth + 'px', 'important');
    st.setProperty('height', video.offsetHeight + 'px', 'important');
    st.setProperty('visibility', 'visible', 'important');
    // when the image's containing block differs from the video's offsetParent, correct the offset
    var pv = pageOffset(video), pi = pageOffset(img);
    if (pv[0] !== pi[0] || pv[1] !== pi[1]) {
      st.setProperty('left', (video.offsetLeft + pv[0] - pi[0]) + 'px', 'important');
      st.setProperty('top', (video.offsetTop + pv[1] - pi[1]) + 'px', 'important');
    }
    img.decoding = 'sync';
    if (img.getAttribute('src') !== uri) img.setAttribute('src', uri);
    hideVideo(video);
    return img.decode().then(function () { return true; }, function (err) {
      throw new Error('video frame for "' + mediaId + '" could not be decoded: ' + messageOf(err));
    });
  }

  function isVideoActive(video, t, R) {
    if (!R.inWindow(video, t)) return false;
    var belowRoot = true;
    for (var a = video; a; a = a.parentElement) {
      if (a === root) belowRoot = false;
      if (a.hasAttribute('data-hidden')) return false;
      if (css(a).display === 'none') return false;
      if (belowRoot && a !== video && hasStartAttr(a) && !R.inWindow(a, t)) return false;
    }
    return true;
  }

  // A frame image whose video is no longer active is hidden by the seek itself, so a stale frame
  // can never reach a capture (the worker also sends null for inactive videos).
  function hideStaleVideoImages(t, R) {
    videoImages.forEach(function (img, id) {
      if (img.style.getPropertyValue('visibility') === 'hidden') return;
      var video = img.isConnected ? findVideo(id) : null;
      if (!video || !isVideoActive(video, t, R)) img.style.setProperty('visibility', 'hidden', 'important');
    });
  }

  function activeVideos(t) {
    t = Number(t);
    var R = makeResolver();
    var out = [];
    var vids = document.querySelectorAll('video[data-hd-media-id]');
    for (var i = 0; i < vids.length; i++) {
      out.push({ mediaId: vids[i].getAttribute('data-hd-media-id'), active: isVideoActive(vids[i], t, R) });
    }
    return out;
  }

  // ---- adapters -------------------------------------------------------------------------------
  function lottieAnimations() {
    var out = [];
    var seen = new Set();
    function add(a) { if (a && typeof a === 'object' && !seen.has(a)) { seen.add(a); out.push(a); } }
    var list = W.__hfLottie;
    if (list && typeof list.forEach === 'function') list.forEach(add);
    var lib = W.lottie || W.bodymovin;
    if (lib && typeof lib.getRegisteredAnimations === 'function') {
      try { lib.getRegisteredAnimations().forEach(add); } catch (e) { /* ignore */ }
    }
    return out;
  }

  var discoveredAnime = new Set();

  function animeInstances() {
    var list = W.__hfAnime;
    if (list && typeof list.forEach === 'function') list.forEach(function (a) { if (a) discoveredAnime.add(a); });
    var lib = W.anime;
    if (lib && Array.isArray(lib.running)) lib.running.forEach(function (a) { if (a) discoveredAnime.add(a); });
    return Array.from(discoveredAnime);
  }

  function seekAdapters(tq) {
    lottieAnimations().forEach(function (a) {
      try {
        if (typeof a.goToAndStop === 'function') {
          a.goToAndStop(tq * 1000, false);
        } else {
          var fr = Number(a.frameRate || a.fps || 30);
          var total = Number(a.totalFrames);
          var f = tq * fr;
          if (isFinite(total) && total > 0) f = Math.min(f, total - 1);
          if (typeof a.setCurrentRawFrameValue === 'function') a.setCurrentRawFrameValue(f);
          else if (typeof a.setFrame === 'function') a.setFrame(f);
        }
      } catch (err) { recordException(err, 'lottie'); }
    });
    animeInstances().forEach(function (a) {
      try {
        if (typeof a.seek === 'function') a.seek(tq * 1000);
        if (typeof a.pause === 'function') a.pause();
      } catch (err) { recordException(err, 'anime.js'); }
    });
  }

  // ---- readiness (7.3) ------------------------------------------------------------------------
  var initDone = false;
  var initWall = 0;
  var readyLatched = false;
  var durationValue = 0;
  var fontsReadyResolved = false;
  var imageDecode = new WeakMap(); // img -> {src, done}
  var thenableState = new WeakMap();
  var threePatched = null;
  var threePending = 0;

  // Every stylesheet link has been fetched (loaded, or answered with an error), so its @font-face
  // rules are in document.fonts before readiness looks at them.
  function stylesheetsSettled() {
    var links = document.querySelectorAll('link[rel~="stylesheet"][href]');
    for (var i = 0; i < links.length; i++) {
      if (links[i].sheet) continue;
      var done = performance.getEntriesByName(links[i].href);
      if (!done || !done.length) return false;
    }
    return true;
  }

  // A face loads lazily, on first use, taking wall-clock time: text that first appears at some
  // seek would be invisible (or in a fallback face) for a machine-dependent number of frames.
  // So every declared face is loaded before the page counts as ready.
  function allFontFacesLoaded() {
    if (!document.fonts || typeof document.fonts.forEach !== 'function') return true;
    var settled = true;
    document.fonts.forEach(function (face) {
      if (face.status === 'unloaded') {
        settled = false;
        try { face.load().catch(function () {}); } catch (e) { /* counted as settled below */ }
      } else if (face.status === 'loading') {
        settled = false;
      }
    });
    return settled;
  }

  function thenableSettled(x) {
    if (!x || (typeof x !== 'object' && typeof x !== 'function')) return true;
    var then;
    try { then = x.then; } catch (e) { return true; }
    if (typeof then !== 'function') return true;
    var s = thenableState.get(x);
    if (s === undefined) {
      thenableState.set(x, false);
      try {
        then.call(x, function () { thenableState.set(x, true); }, function () { thenableState.set(x, true); });
      } catch (e) { thenableState.set(x, true); }
      return !!thenableState.get(x);
    }
    return s;
  }

  function adapterValueSettled(v) {
    if (v == null) return true;
    if (Array.isArray(v)) return v.every(thenableSettled);
    if (typeof v.then === 'function') return thenableSettled(v);
    if (typeof v === 'object') {
      return Object.keys(v).every(function (k) {
        var x = v[k];
        return !(x && typeof x.then === 'function') || thenableSettled(x);
      });
    }
    return true;
  }

  function threeDrained() {
    var THREE = W.THREE;
    var mgr = THREE && THREE.DefaultLoadingManager;
    if (!mgr) return true;
    if (threePatched !== mgr) {
      threePatched = mgr;
      threePending = 0;
      var origStart = mgr.itemStart, origEnd = mgr.itemEnd;
      if (typeof origStart === 'function' && typeof origEnd === 'function') {
        mgr.itemStart = function () { threePending++; return origStart.apply(this, arguments); };
        mgr.itemEnd = function () { threePending = Math.max(0, threePending - 1); return origEnd.apply(this, arguments); };
      }
    }
    return threePending <= 0;
  }

  function imagesReady() {
    var imgs = document.images;
    for (var i = 0; i < imgs.length; i++) {
      var img = imgs[i];
      if (img.hasAttribute('data-hd-video-frame')) continue;
      var src = img.currentSrc || img.getAttribute('src') || '';
      if (!src || /^data:/i.test(src)) continue;
      if (!img.complete) return false;
      if (img.naturalWidth === 0) continue; // broken: complete, nothing to decode
      var st = imageDecode.get(img);
      if (!st || st.src !== src) {
        st = { src: src, done: false };
        imageDecode.set(img, st);
        (function (s) {
          img.decode().then(function () { s.done = true; }, function () { s.done = true; });
        })(st);
        return false;
      }
      if (!st.done) return false;
    }
    return true;
  }

  function videosReady() {
    var vids = document.querySelectorAll('video');
    for (var i = 0; i < vids.length; i++) {
      var v = vids[i];
      if (v.readyState >= 1 || v.error) continue;
      var hasSource = !!(v.getAttribute('src') || v.querySelector('source[src]'));
      if (!hasSource) continue;
      if (v.networkState === 3 /* NETWORK_NO_SOURCE */) continue;
      return false;
    }
    return true;
  }

  function requiredTimelineKeys() {
    var els = document.querySelectorAll('[data-composition-id]');
    var keys = [];
    var optOut = new Set();
    for (var i = 0; i < els.length; i++) {
      var id = els[i].getAttribute('data-composition-id');
      if (!id) continue;
      if (els[i].hasAttribute('data-no-timeline')) optOut.add(id);
      else if (keys.indexOf(id) < 0) keys.push(id);
    }
    return keys.filter(function (k) { return !optOut.has(k); });
  }

  function missingTimelines() {
    var tls = W.__timelines;
    var ok = tls && typeof tls === 'object' ? tls : {};
    return requiredTimelineKeys().filter(function (k) {
      if (k === rootId) return !rootTimeline();
      return !ok[k];
    });
  }

  function evaluateReadiness() {
    var cond = {
      domContentLoaded: initDone,
      root: false,
      rootTimeline: false,
      timelines: false,
      fonts: false,
      images: false,
      videos: false,
      adapters: false
    };
    var missing = [];
    if (initDone) {
      if (!root) { root = findRoot(); if (root) adoptRoot(); }
      cond.root = !!root;
      if (root) {
        // The root's timeline and every other composition's timeline follow one rule: wait for
        // them up to the limit, then go ahead without the missing ones (warned at readiness).
        var waited = wallNow() - initWall >= timelineWaitLimit();
        missing = missingTimelines();
        cond.rootTimeline = root.hasAttribute('data-no-timeline') || !!rootTimeline() || waited;
        cond.timelines = missing.length === 0 || waited;
      }
      try {
        cond.fonts = fontsReadyResolved && stylesheetsSettled() && allFontFacesLoaded() &&
          (!document.fonts || document.fonts.status === 'loaded');
      } catch (e) { cond.fonts = true; }
      cond.images = imagesReady();
      cond.videos = videosReady();
      var adaptersOk = lottieAnimations().every(function (a) { return a.isLoaded !== false; });
      adaptersOk = threeDrained() && adaptersOk;
      ['__hfD3', '__hfMapbox', '__hfMaplibre', '__hfLeaflet', '__hfGoogleMaps'].forEach(function (k) {
        adaptersOk = adapterValueSettled(W[k]) && adaptersOk;
      });
      cond.adapters = adaptersOk;
    }
    var all = Object.keys(cond).every(function (k) { return cond[k]; });
    if (all && !readyLatched) becomeReady();
    return { ready: readyLatched, conditions: cond, missingTimelines: missing };
  }

  var lagSmoothingOff = false;

  function disableLagSmoothing() {
    if (lagSmoothingOff) return;
    try {
      var gsap = W.gsap;
      if (gsap && gsap.ticker && typeof gsap.ticker.lagSmoothing === 'function') {
        gsap.ticker.lagSmoothing(0);
        lagSmoothingOff = true;
      }
    } catch (e) { /* ignore */ }
  }

  function timelineWaitLimit() {
    return failedScripts.length ? Math.min(TIMELINE_WAIT_MS, 2000) : TIMELINE_WAIT_MS;
  }

  function fmtSeconds(ms) {
    return String(Math.round(ms) / 1000);
  }

  // Readiness went ahead without some timelines: one warning per missing id.
  function warnMissingTimelines() {
    var missing = missingTimelines();
    var limit = fmtSeconds(timelineWaitLimit());
    missing.forEach(function (k) {
      var el = document.querySelector('[data-composition-id=' + cssString(k) + ']');
      var what = k === rootId ? 'the root composition' : 'composition';
      warn('TIMELINE_NOT_REGISTERED', 'window.__timelines["' + k + '"] was not registered within ' + limit +
        ' s; ' + what + ' "' + k + '" renders without its timeline (register it, or add data-no-timeline)', el ? describe(el) : undefined);
    });
  }

  function becomeReady() {
    readyLatched = true;
    try { warnMissingTimelines(); } catch (err) { recordException(err, 'hyperdesk readiness'); }
    try { durationValue = computeDuration(); } catch (err) { recordException(err, 'hyperdesk duration'); durationValue = 0; }
    disableLagSmoothing();
  }

  function poll() {
    if (evaluateReadiness().ready) return;
    later(poll, 50);
  }

  // ---- duration (10.1, 10.2) ------------------------------------------------------------------
  function computeDuration() {
    if (!root) return 0;
    var stat = attrNumber(root, 'data-duration');
    if (!(isFinite(stat))) stat = attrNumber(root, 'data-composition-duration');
    if (isFinite(stat) && stat > 0) return stat;

    var R = makeResolver();
    var m = 0;
    function take(v) { if (isFinite(v) && v > m) m = v; }

    var tl = rootTimeline();
    if (tl && typeof tl.totalDuration === 'function') {
      var td = Number(tl.totalDuration());
      if (isFinite(td) && td <= 86400) take(td);
    }
    var media = document.querySelectorAll('video, audio');
    for (var i = 0; i < media.length; i++) {
      var d = R.duration(media[i]);
      if (d != null) take(R.start(media[i]) + d);
    }
    var hosts = Array.prototype.filter.call(document.querySelectorAll(HOST_SEL), function (h) {
      return h !== root && !isInnerRoot(h);
    });
    hosts.forEach(function (h) {
      var p = h.parentElement && h.parentElement.closest('[data-composition-id]');
      if (p !== root) return;
      var d = R.duration(h);
      if (d != null) take(R.start(h) + d);
    });
    var anims = [];
    try { anims = document.getAnimations(); } catch (e) { /* ignore */ }
    hookedAnimations.forEach(function (c, a) { if (anims.indexOf(a) < 0) anims.push(a); });
    anims.forEach(function (a) {
      try {
        var end = a.effect.getComputedTiming().endTime;
        if (!isFinite(end)) return;
        var target = a.effect.target;
        var s = target && hasStartAttr(target) ? R.start(target) : 0;
        take(s + end / 1000);
      } catch (e) { /* ignore */ }
    });
    lottieAnimations().forEach(function (a) {
      var fr = Number(a.frameRate), tf = Number(a.totalFrames);
      if (fr > 0 && tf > 0) take(tf / fr);
    });
    if (m <= 0) {
      hosts.forEach(function (h) {
        var d = R.duration(h);
        if (d != null) take(R.start(h) + d);
      });
    }
    return m;
  }

  // ---- seek (7.5) -----------------------------------------------------------------------------
  var lastSeekEventTime = null;

  function guarded(fn, source) {
    try { fn(); } catch (err) { recordException(err, source); }
  }

  function hasZeroDurationCallback(tl) {
    if (typeof tl.getChildren !== 'function') return false;
    var kids;
    try { kids = tl.getChildren(true, true, false); } catch (e) { return false; }
    for (var i = 0; i < kids.length; i++) {
      var k = kids[i];
      var d;
      try { d = k.duration(); } catch (e) { continue; }
      if (d !== 0) continue;
      var v = k.vars || {};
      if (v.onComplete || v.onStart || v.onUpdate || v.onReverseComplete || v.onRepeat) return true;
    }
    return false;
  }

  function seekTimelineTo(tl, time, suppress, source) {
    guarded(function () {
      if (typeof tl.totalTime === 'function') tl.totalTime(time, suppress);
      else if (typeof tl.seek === 'function') tl.seek(time, suppress);
    }, source);
  }

  function seekRoot(tl, tq) {
    var src = 'timeline "' + rootId + '"';
    guarded(function () { if (typeof tl.pause === 'function') tl.pause(); }, src);
    var st = tq;
    try {
      if (typeof tl.totalDuration === 'function') {
        var td = Number(tl.totalDuration());
        if (isFinite(td) && td > 0) st = Math.min(tq, td);
      }
    } catch (e) { /* ignore */ }
    seekTimelineTo(tl, st, false, src);
    if (typeof tl.totalTime === 'function' && !hasZeroDurationCallback(tl)) {
      seekTimelineTo(tl, st + 0.001, true, src);
      seekTimelineTo(tl, st, true, src);
    }
  }

  function seekOtherTimelines(tq, R, rootTl) {
    var tls = W.__timelines;
    if (!tls || typeof tls !== 'object') return;
    Object.keys(tls).forEach(function (key) {
      var tl = tls[key];
      if (!tl || (typeof tl !== 'object' && typeof tl !== 'function') || tl === rootTl) return;
      var host = document.querySelector('[data-composition-id=' + cssString(key) + ']');
      var H = host ? R.start(host) : 0;
      var P = host ? mediaStartOf(host) : 0;
      var rate = host ? clampRate(host) : 1;
      var local = P + Math.max(0, tq - H) * rate;
      var D = timelineDuration(tl);
      if (isFinite(D) && D > 0) local = Math.min(D, local);
      local = Math.max(0, local);
      var src = 'timeline "' + key + '"';
      guarded(function () { if (typeof tl.pause === 'function') tl.pause(); }, src);
      seekTimelineTo(tl, local, false, src);
    });
  }

  function dispatchHfSeek(tq) {
    var promises = [];
    var open = true;
    var detail = {
      time: tq,
      waitUntil: function waitUntil(p) {
        if (!open) throw new DOMException('hf-seek waitUntil() must be called synchronously inside the listener', 'InvalidStateError');
        promises.push(NativePromise.resolve(p));
      }
    };
    lastSeekEventTime = tq;
    try {
      W.dispatchEvent(new CustomEvent('hf-seek', { detail: detail }));
    } finally {
      open = false;
    }
    return promises;
  }

  var WAIT_UNTIL_TIMEOUT_MS = 30000;

  function settleAll(promises) {
    if (!promises.length) return NativePromise.resolve();
    return new NativePromise(function (resolve, reject) {
      var timer = later(function () {
        reject(new Error('CAPTURE_TIMEOUT: an hf-seek waitUntil promise did not settle within 30 s'));
      }, WAIT_UNTIL_TIMEOUT_MS);
      NativePromise.allSettled(promises).then(function (results) {
        cancelLater(timer);
        for (var i = 0; i < results.length; i++) {
          if (results[i].status === 'rejected') {
            reject(new Error('hf-seek waitUntil promise rejected: ' + messageOf(results[i].reason)));
            return;
          }
        }
        resolve();
      });
    });
  }

  function startOfAnimatedElement(R) {
    return function (el) { return hasStartAttr(el) ? R.start(el) : 0; };
  }

  function doSeek(t) {
    // 1. quantise
    var tq = quantise(t);
    // 2. clock first, reseed
    setClock(t * 1000);
    if (readyLatched) disableLagSmoothing(); // GSAP loaded after readiness
    pauseMedia();
    var R = makeResolver();
    // 3. root timeline
    var rootTl = rootTimeline();
    if (rootTl) seekRoot(rootTl, tq);
    // 4. other timelines (5.6)
    seekOtherTimelines(tq, R, rootTl);
    // 5. visibility (3.3); a fresh resolver, timelines are now seeked
    R = makeResolver();
    visibilityPass(t, R);
    hideStaleVideoImages(t, R);
    // 6. CSS / WAAPI, then Lottie and anime.js
    seekDocumentAnimations(tq, startOfAnimatedElement(R));
    seekAdapters(tq);
    // 7. three / typegpu time, hf-seek once per distinct time
    W.__hfThreeTime = tq;
    W.__hfTypegpuTime = tq;
    var waits = [];
    if (lastSeekEventTime !== tq) waits = dispatchHfSeek(tq);
    // 8. rAF flush
    flushRaf();
    // 9. same-origin child frames
    advanceChildFrames(t, tq);
    // 10. waitUntil promises
    return settleAll(waits);
  }

  var seekChain = null;

  function seek(t) {
    t = Number(t);
    if (!isFinite(t) || t < 0) return NativePromise.reject(new TypeError('__hf.seek(t): t must be a finite number >= 0, got ' + t));
    function run() {
      try { return doSeek(t); } catch (err) { return NativePromise.reject(err); }
    }
    var p = seekChain ? seekChain.then(run, run) : run();
    seekChain = p;
    var clear = function () { if (seekChain === p) seekChain = null; };
    p.then(clear, clear);
    return p;
  }

  function afterVideoInjection(t) {
    t = Number(t);
    var tq = quantise(t);
    W.__hfThreeTime = tq;
    W.__hfTypegpuTime = tq;
    return settleAll(dispatchHfSeek(tq));
  }

  // ---- scoped scripts of sub-composition instances (5.5) ----------------------------------------
  // The compiler wraps each inline script of an instance as
  //   window.__hd.runScoped({id, authoredId, file, variables},
  //     function (window, document, __timelines, __hyperframes, self, globalThis) { ...author code... });
  var boundNatives = new WeakMap();

  function isNativeFunction(v) {
    try { return Function.prototype.toString.call(v).indexOf('[native code]') >= 0; } catch (e) { return false; }
  }

  // Platform operations need the real object as receiver; constructors and page functions do not.
  function passThrough(v, receiver) {
    if (typeof v !== 'function' || Object.prototype.hasOwnProperty.call(v, 'prototype') || !isNativeFunction(v)) return v;
    var perReceiver = boundNatives.get(receiver);
    if (!perReceiver) { perReceiver = new Map(); boundNatives.set(receiver, perReceiver); }
    var b = perReceiver.get(v);
    if (!b) { b = v.bind(receiver); perReceiver.set(v, b); }
    return b;
  }

  function parseJsonAttr(el, name) {
    if (!el) return null;
    var raw = el.getAttribute(name);
    if (!raw) return null;
    try { return JSON.parse(raw); } catch (e) { return null; }
  }

  function makeScope(opts) {
    opts = opts || {};
    var runtimeId = String(opts.id);
    var authoredId = opts.authoredId != null ? String(opts.authoredId) : runtimeId;
    var idSel = '[data-composition-id=' + cssString(runtimeId) + ']';
    var authoredRe = null;
    if (authoredId !== runtimeId) {
      var esc = authoredId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      authoredRe = new RegExp('\\[\\s*data-composition-id\\s*=\\s*(["\']?)' + esc + '\\1\\s*\\]', 'g');
    }

    function host() { return document.querySelector(idSel); }
    function box() {
      var h = host();
      if (!h) return null;
      for (var c = h.firstElementChild; c; c = c.nextElementSibling) {
        if (c.getAttribute('data-composition-id') === runtimeId) return c; // inner root
      }
      return h;
    }
    function rewrite(sel) {
      sel = String(sel);
      return authoredRe ? sel.replace(authoredRe, idSel) : sel;
    }
    function querySelector(sel) {
      var b = box();
      if (!b) return null;
      sel = rewrite(sel);
      return b.matches(sel) ? b : b.querySelector(sel);
    }
    function querySelectorAll(sel) {
      var b = box();
      var out = [];
      if (b) {
        sel = rewrite(sel);
        if (b.matches(sel)) out.push(b);
        var list = b.querySelectorAll(sel);
        for (var i = 0; i < list.length; i++) out.push(list[i]);
      }
      out.item = function (i) { return out[i] || null; };
      return out;
    }
    function getElementById(id) {
      return querySelector('[id=' + cssString(id) + ']') || querySelector('[data-hf-authored-id=' + cssString(id) + ']');
    }

    function mapKey(k) { return k === authoredId ? runtimeId : k; }
    function realTimelines() {
      if (!W.__timelines || typeof W.__timelines !== 'object') W.__timelines = {};
      return W.__timelines;
    }
    var timelines = new Proxy({}, {
      get: function (_, k) { return Reflect.get(realTimelines(), mapKey(k)); },
      set: function (_, k, v) { realTimelines()[mapKey(k)] = v; return true; },
      has: function (_, k) { return mapKey(k) in realTimelines(); },
      deleteProperty: function (_, k) { return delete realTimelines()[mapKey(k)]; },
      ownKeys: function () { return Reflect.ownKeys(realTimelines()); },
      getOwnPropertyDescriptor: function (_, k) {
        var d = Reflect.getOwnPropertyDescriptor(realTimelines(), mapKey(k));
        if (d) d.configurable = true;
        return d;
      }
    });

    function instanceVariables() {
      if (opts.variables && typeof opts.variables === 'object') return clone(opts.variables);
      var out = {};
      var decls = parseJsonAttr(box(), 'data-composition-variables');
      if (Array.isArray(decls)) {
        decls.forEach(function (d) {
          if (d && typeof d.id === 'string' && Object.prototype.hasOwnProperty.call(d, 'default')) out[d.id] = d['default'];
        });
      }
      var values = parseJsonAttr(host(), 'data-variable-values');
      if (values && typeof values === 'object' && !Array.isArray(values)) {
        Object.keys(values).forEach(function (k) { out[k] = values[k]; });
      }
      return clone(out);
    }
    var hyperframes = new Proxy({}, {
      get: function (_, k) {
        if (k === 'getVariables') return function getVariables() { return instanceVariables(); };
        var real = W.__hyperframes;
        return real ? Reflect.get(real, k) : undefined;
      }
    });

    var scopedDocument = new Proxy(document, {
      get: function (target, k) {
        if (k === 'querySelector') return querySelector;
        if (k === 'querySelectorAll') return querySelectorAll;
        if (k === 'getElementById') return getElementById;
        return passThrough(Reflect.get(target, k, target), target);
      },
      set: function (target, k, v) { return Reflect.set(target, k, v, target); }
    });

    var scopedWindow = new Proxy(W, {
      get: function (target, k) {
        if (k === '__timelines') return timelines;
        if (k === '__hyperframes') return hyperframes;
        if (k === 'document') return scopedDocument;
        if (k === 'window' || k === 'self' || k === 'globalThis') return scopedWindow;
        return passThrough(Reflect.get(target, k, target), target);
      },
      set: function (target, k, v) {
        if (k === '__timelines') {
          // `window.__timelines = window.__timelines || {}` and friends must not drop other instances
          if (v && v !== timelines && typeof v === 'object') {
            Object.keys(v).forEach(function (key) { realTimelines()[mapKey(key)] = v[key]; });
          }
          return true;
        }
        return Reflect.set(target, k, v, target);
      }
    });

    return {
      id: runtimeId,
      window: scopedWindow,
      document: scopedDocument,
      __timelines: timelines,
      __hyperframes: hyperframes
    };
  }

  function runScoped(opts, fn) {
    var sc = makeScope(opts);
    try {
      fn.call(sc.window, sc.window, sc.document, sc.__timelines, sc.__hyperframes, sc.window, sc.window);
    } catch (err) {
      var file = (opts && opts.file) || sc.id;
      var loc = sourceOfError(err, '');
      var m = loc.match(/:(\d+):(\d+)$/);
      recordError(messageOf(err), String(file) + (m ? ' (' + loc + ')' : ''));
    }
  }

  // ---- public objects -------------------------------------------------------------------------
  // The runtime's own members cannot be replaced or deleted, but the object stays extensible:
  // compositions and HyperFrames tooling add their own properties to window.__hf.
  var hf = {};
  nativeDefine(hf, 'duration', {
    enumerable: true,
    configurable: false,
    get: function () { return readyLatched ? durationValue : 0; }
  });
  nativeDefine(hf, 'ready', {
    enumerable: true,
    configurable: false,
    get: function () {
      if (!readyLatched && initDone) evaluateReadiness();
      return readyLatched;
    }
  });
  nativeDefine(hf, 'seek', { value: seek, enumerable: true, writable: false, configurable: false });
  // Accessors whose setter ignores assignments: `window.__hf = window.__hf || {...}` in a strict
  // page or module script must neither replace the runtime nor throw.
  function pin(name, value) {
    nativeDefine(W, name, { get: function () { return value; }, set: function () {}, configurable: false, enumerable: false });
  }
  pin('__hf', hf);

  var hd = {
    version: CFG.version || '',
    fps: { num: FPS_NUM, den: FPS_DEN },
    errors: localErrors,
    warnings: warnings,
    state: function state() {
      var r = evaluateReadiness();
      return {
        ready: r.ready,
        conditions: r.conditions,
        missingTimelines: r.missingTimelines,
        errors: localErrors.slice(),
        warnings: warnings.slice(),
        failedScripts: failedScripts.slice(),
        rootId: rootId
      };
    },
    activeVideos: activeVideos,
    videoFrames: activeVideos,
    setVideoFrame: setVideoFrame,
    afterVideoInjection: afterVideoInjection,
    scope: makeScope,
    runScoped: runScoped,
    recordError: function (err, source) {
      if (err && typeof err === 'object') return recordException(err, source || '');
      return recordError(err, source || '');
    },
    quantise: quantise,
    resolveStart: function (el) { return makeResolver().start(el); },
    resolveDuration: function (el) { return makeResolver().duration(el); }
  };
  pin('__hd', hd);

  // ---- initialisation at DOMContentLoaded -----------------------------------------------------
  // (HyperFrames) The root is the stage: it gets its data-width/data-height as CSS size, so a
  // composition whose CSS does not size the root still fills the frame.
  function sizeRoot() {
    ['width', 'height'].forEach(function (dim) {
      var raw = root.getAttribute('data-' + dim);
      if (raw == null || !/^\s*\d+\s*$/.test(raw)) return;
      var px = parseInt(raw, 10);
      if (px > 0) root.style.setProperty(dim, px + 'px');
    });
  }

  function adoptRoot() {
    rootId = root.getAttribute('data-composition-id');
    if (!root.hasAttribute('data-start')) root.setAttribute('data-start', '0');
    sizeRoot();
  }

  // (HyperFrames) No default page margin: the body's 8 px would shift the composition.
  function zeroPageMargins() {
    [document.documentElement, document.body].forEach(function (el) {
      if (el && el.style) el.style.setProperty('margin', '0');
    });
  }

  function init() {
    if (initDone) return;
    zeroPageMargins();
    installClipHiddenRule();
    root = findRoot();
    if (root) adoptRoot();
    pauseMedia();
    createVideoImages();
    try {
      if (document.body) void document.body.offsetWidth; // layout, so used fonts start loading
      document.fonts.ready.then(function () { fontsReadyResolved = true; }, function () { fontsReadyResolved = true; });
    } catch (e) {
      fontsReadyResolved = true;
    }
    initWall = wallNow();
    initDone = true;
    // first evaluation after the page's own DOMContentLoaded handlers have run
    later(poll, 0);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init, { once: true });
  } else {
    init();
  }
})();
