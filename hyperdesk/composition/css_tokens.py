"""Small helpers over tinycss2 tokens, shared by the font scanner, @font-face parsing and the
remote-URL rewriter: input preprocessing, token positions in the text, comma lists."""
from __future__ import annotations

from collections.abc import Iterable


def preprocess_css(text: str) -> str:
    """CSS input preprocessing, as tinycss2 does it (newlines unified, NUL replaced)."""
    return text.replace("\0", "\uFFFD").replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")


class CssPositions:
    """Offsets into a preprocessed text of the tokens tinycss2 parsed from it (tokens carry only
    a line and a column), so an edit can replace exactly a token's characters."""

    def __init__(self, text: str) -> None:
        self.starts = [0]
        for i, c in enumerate(text):
            if c == "\n":
                self.starts.append(i + 1)

    def offset(self, tok) -> int:
        return self.starts[tok.source_line - 1] + tok.source_column - 1


def significant(tokens: Iterable) -> list:
    """The tokens without whitespace and comments."""
    return [t for t in tokens if t.type not in ("whitespace", "comment")]


def split_commas(tokens: Iterable) -> list[list]:
    """A comma-separated token list as its items (a trailing comma gives an empty last item)."""
    out: list[list] = [[]]
    for t in tokens:
        if t.type == "literal" and t.value == ",":
            out.append([])
        else:
            out[-1].append(t)
    return out
