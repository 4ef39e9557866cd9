"""The page builder every report uses: escaped text, tables, pictures, notes.

The page has no script and loads nothing from another origin, so it reads the same with JavaScript off
and in Argo's sandboxed artifact view, whose policy (`default-src 'none'; img-src 'self'`) blocks every
`data:` image: SVG charts are inline `<svg>` elements, and raster pictures (JPEG, PNG) are files in a
folder beside the page (`<report>-files/`, an artifact of its own), linked relatively, so they load from
Argo's artifact server, from the bucket and from a local disk alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

STYLE = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f0f0f0;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:4px;vertical-align:top}figcaption{font-size:12px;color:#555;max-width:420px}
img,figure svg{max-width:100%;height:auto;border:1px solid #ddd}
.note{background:#fff4e0;border-left:4px solid #e0a030;padding:6px}
p.meta{color:#666;font-size:12px}div.row{white-space:nowrap}
"""


EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}
_XML_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>\s*")


@dataclass
class Rendered:
    """A report: its HTML, and the pictures it links (file name in its files folder -> bytes)."""

    html: str
    files: dict[str, bytes] = field(default_factory=dict)


def fmt(value: Any, digits: int = 4) -> str:
    """Numbers as a report shows them (tests compare these strings with the JSON artifacts); tiny
    values (tensor differences) in scientific notation so they do not read as zero."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:.3e}" if 0 < abs(value) < 10**-digits * 10 else f"{value:.{digits}f}"
    return str(value)


class Page:
    """One HTML document, built section by section."""

    def __init__(self, title: str, files_dir: str) -> None:
        self.title = title
        self.files_dir = files_dir  # the folder beside the page its raster pictures go to
        self._parts: list[str] = [f"<h1>{escape(title)}</h1>"]
        self.notes: list[str] = []
        self.files: dict[str, bytes] = {}

    def heading(self, text: str, anchor: str | None = None) -> None:
        ident = f' id="{escape(anchor)}"' if anchor else ""
        self._parts.append(f"<h2{ident}>{escape(text)}</h2>")

    def text(self, text: str, cls: str | None = None) -> None:
        attr = f' class="{escape(cls)}"' if cls else ""
        self._parts.append(f"<p{attr}>{escape(text)}</p>")

    def note(self, text: str) -> None:
        """Something the report could not show (a plot that failed, data that is absent)."""
        self.notes.append(text)
        self._parts.append(f'<p class="note">{escape(text)}</p>')

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], ident: str | None = None) -> None:
        attr = f' id="{escape(ident)}"' if ident else ""
        head = "".join(f"<th>{escape(h)}</th>" for h in headers)
        body = []
        for row in rows:
            cells = []
            for v in row:
                cls = ' class="num"' if isinstance(v, int | float) and not isinstance(v, bool) else ""
                cells.append(f"<td{cls}>{escape(fmt(v))}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        self._parts.append(f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")

    def image(self, data: bytes, mime: str, caption: str) -> None:
        """SVG inline; JPEG and PNG as a numbered file in the files folder, linked relatively."""
        if mime == "image/svg+xml":
            picture = _XML_PROLOG.sub("", data.decode("utf-8"))  # its own <title> names it
        else:
            name = f"{len(self.files) + 1:03d}.{EXTENSIONS[mime]}"
            self.files[name] = data
            picture = f'<img src="{escape(self.files_dir)}/{name}" alt="{escape(caption)}">'
        self._parts.append(f"<figure>{picture}<figcaption>{escape(caption)}</figcaption></figure>")

    def group(self, start: bool) -> None:
        """Open (or close) a row that keeps its figures together, e.g. truth and prediction side by side."""
        self._parts.append('<div class="row">' if start else "</div>")

    def render(self) -> Rendered:
        html = (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(self.title)}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(self._parts)}</body></html>\n"
        )
        return Rendered(html, dict(self.files))


def add_drawn(page: Page, what: str, draw: Callable[[], bytes], mime: str, caption: str) -> bool:
    """A drawn picture into the page; any failure becomes a note there and a warning in the log (a report
    never fails its step). True when drawn."""
    from odpipe.common.console import warn

    try:
        data = draw()
    except Exception as exc:
        message = f"{what} could not be drawn: {type(exc).__name__}: {exc}"
        warn(message)
        page.note(message)
        return False
    page.image(data, mime, caption)
    return True
