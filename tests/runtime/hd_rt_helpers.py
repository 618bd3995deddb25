"""Small helpers shared by the runtime tests (unique module name: tests run in prepend import mode)."""
from __future__ import annotations


def seek(page, t: float) -> None:
    page.evaluate("t => window.__hf.seek(t)", t)


def seek_frame(page, i: int, fps=(30, 1)) -> float:
    t = (i * fps[1]) / fps[0]
    seek(page, t)
    return t


VISIBLE_JS = """sel => {
  const el = document.querySelector(sel);
  if (!el) throw new Error('no element ' + sel);
  return el.checkVisibility({visibilityProperty: true});
}"""


def visible(page, sel: str) -> bool:
    return page.evaluate(VISIBLE_JS, sel)
