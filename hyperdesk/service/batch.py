"""Batch renders: one composition × a table of variable values (CSV or JSON), one job per row.

Every row is checked before anything renders: its values are typed by the composition's variable
declarations, its output path is made from the template (`{column}` and `{row}` placeholders, the row
numbered from 1) and no two rows may write the same output. A bad row is INVALID_RENDER_CONFIG naming
the row and the column.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import string
from pathlib import Path
from typing import Any

from hyperdesk.errors import HyperdeskError
from hyperdesk.models import VariableDecl
from hyperdesk.service.request import RenderRequest

TRUE = {"true", "1", "yes", "on"}
FALSE = {"false", "0", "no", "off"}


def _bad(row: int, column: str, why: str, **details: Any) -> HyperdeskError:
    return HyperdeskError("INVALID_RENDER_CONFIG", f"batch row {row}, column {column!r}: {why}",
                          hint="Fix the row in the table; nothing was rendered.",
                          details={"field": "batch", "row": row, "column": column, **details})


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The table's rows: a CSV file with a header line, or a JSON array of objects."""
    try:
        text = Path(path).read_text("utf-8-sig")
    except OSError as exc:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"cannot read the batch table {path}: {exc.strerror or exc}",
                             details={"field": "batch", "path": str(path)}) from None
    if Path(path).suffix.lower() == ".json":
        try:
            rows = json.loads(text)
        except ValueError as exc:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"the batch table {path} is not valid JSON: {exc}",
                                 details={"field": "batch", "path": str(path)}) from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"the batch table {path} must be a JSON array of objects",
                                 details={"field": "batch", "path": str(path)})
        return rows
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"the batch table {path} has no header line",
                             details={"field": "batch", "path": str(path)})
    rows = []
    for n, row in enumerate(reader, start=1):
        if None in row or any(v is None for v in row.values()):
            raise _bad(n, "", "the row has a different number of cells than the header")
        rows.append(dict(row))
    return rows


def typed_value(decl: VariableDecl, value: Any, row: int) -> Any:
    """A cell as the declaration's type (CSV cells are text; JSON values must already have the type)."""
    text = isinstance(value, str)
    if decl.type == "number":
        if isinstance(value, bool):
            raise _bad(row, decl.id, f"expected a number, got {value!r}")
        if text:
            try:
                number = float(value.strip()) if any(c in value for c in ".eE") else int(value.strip())
            except ValueError:
                raise _bad(row, decl.id, f"expected a number, got {value!r}") from None
        elif isinstance(value, (int, float)):
            number = value
        else:
            raise _bad(row, decl.id, f"expected a number, got {value!r}")
        if not math.isfinite(number):
            raise _bad(row, decl.id, f"expected a finite number, got {value!r}")
        return number
    if decl.type == "boolean":
        if isinstance(value, bool):
            return value
        if text and value.strip().lower() in TRUE | FALSE:
            return value.strip().lower() in TRUE
        raise _bad(row, decl.id, f"expected true or false, got {value!r}")
    if decl.type == "enum":
        for option in decl.options or []:
            if option == value or (text and str(option) == value):
                return option
        raise _bad(row, decl.id, f"{value!r} is not one of {decl.options}")
    if not isinstance(value, str):
        raise _bad(row, decl.id, f"expected text, got {value!r}")
    if decl.type == "color" and not is_css_colour(value):
        raise _bad(row, decl.id, f"expected a CSS colour (#rrggbb, rgb(…), hsl(…) or a colour name), got {value!r}")
    return value


_COLOUR_FUNCTION = re.compile(r"(rgba?|hsla?|hwb|lab|lch|oklab|oklch|color)\([^()]*\)", re.IGNORECASE)
_HEX = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
# CSS Color 4's named colours, plus the keywords a variable may sensibly hold (a word list reads better
# than 150 quoted strings, hence the noqa).
_NAMED = frozenset("""
aliceblue antiquewhite aqua aquamarine azure beige bisque black blanchedalmond blue blueviolet brown burlywood
cadetblue chartreuse chocolate coral cornflowerblue cornsilk crimson cyan darkblue darkcyan darkgoldenrod darkgray
darkgreen darkgrey darkkhaki darkmagenta darkolivegreen darkorange darkorchid darkred darksalmon darkseagreen
darkslateblue darkslategray darkslategrey darkturquoise darkviolet deeppink deepskyblue dimgray dimgrey dodgerblue
firebrick floralwhite forestgreen fuchsia gainsboro ghostwhite gold goldenrod gray green greenyellow grey honeydew
hotpink indianred indigo ivory khaki lavender lavenderblush lawngreen lemonchiffon lightblue lightcoral lightcyan
lightgoldenrodyellow lightgray lightgreen lightgrey lightpink lightsalmon lightseagreen lightskyblue lightslategray
lightslategrey lightsteelblue lightyellow lime limegreen linen magenta maroon mediumaquamarine mediumblue
mediumorchid mediumpurple mediumseagreen mediumslateblue mediumspringgreen mediumturquoise mediumvioletred
midnightblue mintcream mistyrose moccasin navajowhite navy oldlace olive olivedrab orange orangered orchid
palegoldenrod palegreen paleturquoise palevioletred papayawhip peachpuff peru pink plum powderblue purple
rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown seagreen seashell sienna silver skyblue
slateblue slategray slategrey snow springgreen steelblue tan teal thistle tomato turquoise violet wheat white
whitesmoke yellow yellowgreen transparent currentcolor
""".split())  # noqa: SIM905


def is_css_colour(text: str) -> bool:
    """A colour a stylesheet accepts: hex, a colour function or a named colour (what a table cell should hold)."""
    value = text.strip()
    return bool(_HEX.fullmatch(value) or _COLOUR_FUNCTION.fullmatch(value) or value.lower() in _NAMED)


def batch_requests(base: RenderRequest, rows: list[dict[str, Any]], output_template: str,
                   declarations: list[VariableDecl]) -> list[tuple[int, RenderRequest]]:
    """One request per row (row numbers from 1), every row checked first."""
    if not rows:
        raise HyperdeskError("INVALID_RENDER_CONFIG", "the batch table has no rows", details={"field": "batch"})
    decls = {d.id: d for d in declarations}
    placeholders = {name for _t, name, _f, _c in string.Formatter().parse(output_template) if name is not None}
    if not placeholders and len(rows) > 1:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"every row would write {output_template}: put a {{column}} "
                             "or {row} placeholder in the output path", details={"field": "output"})
    out: list[tuple[int, RenderRequest]] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, start=1):
        variables = dict(base.config.variables)
        for column, value in row.items():
            if column in decls:
                variables[column] = typed_value(decls[column], value, n)
            elif column not in placeholders:
                raise _bad(n, column, "not a variable of the composition and not used in the output path",
                           declared=sorted(decls))
        names = {str(k): str(v) for k, v in row.items()}
        names["row"] = str(n)
        missing = sorted(placeholders - set(names))
        if missing:
            raise _bad(n, missing[0], "the output path names a column the table does not have")
        output = str(Path(output_template.format_map(names)).expanduser().absolute())
        if output in seen:
            raise _bad(n, ",".join(sorted(placeholders)) or "output",
                       f"rows {seen[output]} and {n} would both write {output}", output=output)
        seen[output] = n
        config = base.config.model_copy(update={"variables": variables})
        out.append((n, base.model_copy(update={"output": output, "config": config})))
    return out
