"""Scoped sub-composition scripts (contract 5.5).

Each inline script of a sub-composition runs once per instance inside a function whose
`window`, `document`, `__timelines` and `__hyperframes` are instance views:

* `document.querySelector/querySelectorAll/getElementById` search only the composition box and
  its descendants; selectors naming the authored composition id are rewritten to the runtime id;
* `window.__timelines["<authored>"]` reads and writes the runtime-id key;
* `window.__hyperframes.getVariables()` returns the instance's values;
* an exception is caught and pushed to `window.__hd.errors` as {message, source}, which the
  runtime reports as PAGE_SCRIPT_ERROR; it is not rethrown, so later instances still run.

Everything else on `document` and `window` is the real object. The scoping itself lives in the
injected runtime (`window.__hd.runScoped`, hyperdesk/runtime/hf-runtime.js), which every render
page has; the compiler only wraps each script in a call to it.
"""
from __future__ import annotations

import json
from typing import Any

def _js_string(value: Any) -> str:
    """A JSON literal safe inside a <script> element."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return (text.replace("</", "<\\/").replace("<!--", "<\\!--")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def instance_script(*, scope: str, authored_id: str, runtime_id: str, source: str,
                    variables: dict[str, Any], scripts: list[str]) -> str:
    """The one <script> of an instance: each of its inline scripts in its own function scope."""
    opt = _js_string({"id": runtime_id, "authoredId": authored_id, "file": source, "variables": variables,
                      "scope": scope})
    parts = []
    for text in scripts:
        # The author's text is embedded as written: it was inside a <script> element already, so
        # it cannot contain "</script". A trailing line comment is closed by the newline.
        parts.append(
            f"window.__hd.runScoped({opt}, "
            "function(window, document, __timelines, __hyperframes, self, globalThis){\n"
            + text
            + "\n});"
        )
    return "\n".join(parts) + "\n"
