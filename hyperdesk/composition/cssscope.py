"""CSS handling with tinycss2: the sub-composition scoping rule (contract 5.4), @import
hoisting (step 8) and URL rewriting in stylesheets and style attributes."""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Iterable

import tinycss2
from tinycss2 import ast
from tinycss2.serializer import serialize_string_value

from .css_tokens import split_commas

# At-rules whose block holds style rules that are scoped recursively.
_RECURSIVE_AT_RULES = {"media", "supports", "layer", "container", "document", "-moz-document"}
_BOX_ALONE = {"html", "body"}


# ----------------------------------------------------------------------------- tokens


def _ws(tokens: list) -> list:
    """Strip leading and trailing whitespace/comment tokens."""
    start, end = 0, len(tokens)
    while start < end and tokens[start].type in ("whitespace", "comment"):
        start += 1
    while end > start and tokens[end - 1].type in ("whitespace", "comment"):
        end -= 1
    return tokens[start:end]


def _parse_tokens(text: str) -> list:
    return tinycss2.parse_component_value_list(text, skip_comments=True)


def css_string(value: str) -> str:
    return '"' + serialize_string_value(value) + '"'


def attr_selector(name: str, value: str) -> str:
    return f"[{name}={css_string(value)}]"


def _attr_block_match(tok, name: str, value: str | None = None) -> bool:
    """Is tok a `[name=value]` block (value as an ident or a string)?"""
    if tok.type != "[] block":
        return False
    inner = _ws(list(tok.content))
    if not inner or inner[0].type != "ident" or inner[0].lower_value != name:
        return False
    rest = _ws(inner[1:])
    if value is None:
        return True
    if len(rest) != 2 or rest[0].type != "literal" or rest[0].value != "=":
        return False
    if rest[1].type not in ("ident", "string"):
        return False
    return rest[1].value == value


def _attr_name(tok) -> str | None:
    if tok.type != "[] block":
        return None
    inner = _ws(list(tok.content))
    if inner and inner[0].type == "ident":
        return inner[0].lower_value
    return None


# ----------------------------------------------------------------------------- scoping


@dataclass(frozen=True)
class Scope:
    """How one instance's selectors are rewritten (5.4)."""

    authored_id: str          # the composition id as written in the file
    runtime_id: str           # `<id>` or `<id>__hfN`
    inner_root_id: str | None = None  # the inner root element's `id` attribute
    box_selector: str | None = None   # the composition's box; defaults to S:not(host marker)

    @property
    def s(self) -> str:
        return attr_selector("data-composition-id", self.runtime_id)

    @property
    def box(self) -> str:
        if self.box_selector:
            return self.box_selector
        return self.s + ":not([data-composition-file])"


def scope_selector(tokens: list, scope: Scope) -> str:
    """One selector of a selector list, scoped per the table of 5.4."""
    toks = _ws(tokens)
    if not toks:
        return ""
    # `*` alone: unchanged.
    if len(toks) == 1 and toks[0].type == "literal" and toks[0].value == "*":
        return "*"
    # html, body or :root alone: the composition's box.
    if len(toks) == 1 and toks[0].type == "ident" and toks[0].lower_value in _BOX_ALONE:
        return scope.box
    if (
        len(toks) == 2
        and toks[0].type == "literal"
        and toks[0].value == ":"
        and toks[1].type == "ident"
        and toks[1].lower_value == "root"
    ):
        return scope.box
    # Only [data-composition-id="<authored>"], optionally with [data-start]/[data-duration].
    if all(t.type == "[] block" for t in toks):
        names = [_attr_name(t) for t in toks]
        own = [t for t in toks if _attr_block_match(t, "data-composition-id", scope.authored_id)]
        if len(own) == 1 and all(
            n in ("data-composition-id", "data-start", "data-duration") for n in names
        ) and names.count("data-composition-id") == 1:
            return scope.box
    # #<inner root id> outside brackets and strings -> [data-hf-authored-id="<id>"];
    # [data-composition-id="<authored>"] anywhere -> S.
    out, replaced_own = _replace_parts(toks, scope)
    text = tinycss2.serialize(out)
    if replaced_own:
        return text
    return f"{scope.s} {text}"


def _replace_parts(tokens: list, scope: Scope) -> tuple[list, bool]:
    """#<inner root id> -> [data-hf-authored-id]; [data-composition-id=<authored>] -> S; also
    inside functional pseudo-classes such as :is() and :not(). Returns (tokens, replaced S)."""
    out: list = []
    replaced_own = False
    for tok in tokens:
        if tok.type == "hash" and scope.inner_root_id is not None and tok.value == scope.inner_root_id:
            out.extend(_parse_tokens(attr_selector("data-hf-authored-id", scope.inner_root_id)))
        elif _attr_block_match(tok, "data-composition-id", scope.authored_id):
            out.extend(_parse_tokens(scope.s))
            replaced_own = True
        elif tok.type == "function":
            args, inner = _replace_parts(list(tok.arguments), scope)
            replaced_own |= inner
            out.append(ast.FunctionBlock(tok.source_line, tok.source_column, tok.name, args))
        else:
            out.append(tok)
    return out, replaced_own


def _scope_prelude(prelude: list, scope: Scope) -> str:
    parts = [scope_selector(p, scope) for p in split_commas(prelude)]
    return ",".join(p for p in parts if p)


def _scope_rules(rules: Iterable, scope: Scope, imports: list[str]) -> list[str]:
    out: list[str] = []
    for rule in rules:
        if rule.type == "qualified-rule":
            out.append(_scope_prelude(rule.prelude, scope) + "{" + tinycss2.serialize(rule.content) + "}")
        elif rule.type == "at-rule":
            kw = rule.lower_at_keyword
            if kw == "import":
                imports.append(rule.serialize())
            elif kw == "charset":
                continue
            elif kw in _RECURSIVE_AT_RULES and rule.content is not None:
                inner = tinycss2.parse_blocks_contents(rule.content, skip_comments=True, skip_whitespace=True)
                inner_rules = [r for r in inner if r.type in ("qualified-rule", "at-rule")]
                # @layer a, b; has no block and is kept as written.
                body = "".join(_scope_rules(inner_rules, scope, imports))
                out.append("@" + rule.at_keyword + tinycss2.serialize(rule.prelude) + "{" + body + "}")
            else:
                # @keyframes, @font-face, @property, @page, ... are never touched.
                out.append(rule.serialize())
        # parse errors are dropped, as a browser would
    return out


def scope_css(css_text: str, scope: Scope) -> tuple[str, list[str]]:
    """(scoped stylesheet, its @import rules). @import rules are returned separately so they can
    be hoisted to the top of the document's single merged <style>."""
    rules = tinycss2.parse_stylesheet(css_text, skip_comments=True, skip_whitespace=True)
    imports: list[str] = []
    body = _scope_rules(rules, scope, imports)
    return "\n".join(body), imports


# ----------------------------------------------------------------------------- merging


def split_imports(css_text: str) -> tuple[list[str], str]:
    """(top-level @import rules, the rest of the stylesheet without them and without @charset).

    The rest keeps the author's text when there is nothing to lift out."""
    rules = tinycss2.parse_stylesheet(css_text, skip_comments=False, skip_whitespace=False)
    if not any(r.type == "at-rule" and r.lower_at_keyword in ("import", "charset") for r in rules):
        return [], css_text
    imports: list[str] = []
    rest = []
    for rule in rules:
        if rule.type == "at-rule" and rule.lower_at_keyword == "import":
            imports.append(rule.serialize())
        elif rule.type == "at-rule" and rule.lower_at_keyword == "charset":
            continue
        else:
            rest.append(rule)
    return imports, tinycss2.serialize(rest)


def merge_styles(css_texts: list[str]) -> str:
    """Step 8: one stylesheet, every @import first (in order), then each text in order."""
    imports: list[str] = []
    bodies: list[str] = []
    for text in css_texts:
        imp, rest = split_imports(text)
        imports.extend(imp)
        if rest.strip():
            bodies.append(rest)
    return "\n".join(imports + bodies)


# ----------------------------------------------------------------------------- URLs


def _url_token(value: str, like) -> ast.URLToken:
    return ast.URLToken(like.source_line, like.source_column, value, "url(" + css_string(value) + ")")


def _rewrite_tokens(tokens: list, fn: Callable[[str], str | None], *, in_import: bool = False) -> bool:
    changed = False
    for i, tok in enumerate(tokens):
        if tok.type == "url":
            new = fn(tok.value)
            if new is not None and new != tok.value:
                tokens[i] = _url_token(new, tok)
                changed = True
        elif tok.type == "function" and tok.lower_name == "url":
            args = _ws(list(tok.arguments))
            if len(args) == 1 and args[0].type == "string":
                new = fn(args[0].value)
                if new is not None and new != args[0].value:
                    tokens[i] = _url_token(new, tok)
                    changed = True
            else:
                changed |= _rewrite_tokens(tok.arguments, fn)
        elif tok.type == "string" and in_import:
            # an @import's string, or an image-set() candidate's: both are URLs
            new = fn(tok.value)
            if new is not None and new != tok.value:
                tokens[i] = ast.StringToken(tok.source_line, tok.source_column, new, css_string(new))
                changed = True
        elif tok.type == "function" and tok.lower_name in ("image-set", "-webkit-image-set"):
            changed |= _rewrite_tokens(tok.arguments, fn, in_import=True)
        elif tok.type == "function":
            changed |= _rewrite_tokens(tok.arguments, fn)
        elif tok.type in ("() block", "[] block", "{} block"):
            changed |= _rewrite_tokens(tok.content, fn)
    return changed


def rewrite_css_urls(css_text: str, fn: Callable[[str], str | None]) -> str:
    """Apply fn to every url(), @import string and image-set() string in a stylesheet or declaration list.

    fn returns the new URL or None to keep it. The text is returned unchanged when nothing
    changed, so untouched stylesheets keep their author's bytes."""
    tokens = tinycss2.parse_component_value_list(css_text, skip_comments=False)
    changed = False
    # @import "x.css" uses a plain string: rewrite the first string after an @import keyword.
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "at-keyword" and tok.lower_value == "import":
            j = i + 1
            while j < len(tokens) and tokens[j].type in ("whitespace", "comment"):
                j += 1
            if j < len(tokens) and tokens[j].type == "string":
                sub = [tokens[j]]
                if _rewrite_tokens(sub, fn, in_import=True):
                    tokens[j] = sub[0]
                    changed = True
        i += 1
    changed |= _rewrite_tokens(tokens, fn)
    if not changed:
        return css_text
    return tinycss2.serialize(tokens)


def collect_css_urls(css_text: str) -> list[str]:
    found: list[str] = []

    def grab(url: str) -> None:
        found.append(url)
        return None

    rewrite_css_urls(css_text, grab)
    return found


def remove_declarations(declarations: str, names: set[str]) -> str:
    """A style attribute without the named properties (used before setting host width/height)."""
    items = tinycss2.parse_blocks_contents(declarations, skip_comments=True, skip_whitespace=True)
    kept = []
    for item in items:
        if item.type == "declaration" and item.lower_name in names:
            continue
        if item.type == "declaration":
            kept.append(item.name + ":" + tinycss2.serialize(item.value).strip()
                        + (" !important" if item.important else ""))
        elif item.type != "error":
            kept.append(item.serialize())
    return ";".join(kept)
