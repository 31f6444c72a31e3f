"""A self-contained HTML report of a run: figures embedded, readable offline."""

from __future__ import annotations

import base64
import html
from pathlib import Path

__all__ = ["write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #bbb; padding: 0.3rem 0.7rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { display: inline-block; margin: 0.5rem; vertical-align: top; }
figcaption { text-align: center; font-size: 0.9rem; color: #555; }
img { max-width: 100%; }
pre { background: #f5f5f5; padding: 0.7rem; }
"""


def _table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(path, *, title, sections):
    """Write an HTML page with every PNG embedded as a data URI.

    Parameters
    ----------
    path : path-like
        The .html file to write.
    title : str
    sections : list of dict
        Each has a ``"heading"`` and any of ``"text"`` (str), ``"table"``
        (a ``(header, rows)`` pair), ``"pre"`` (preformatted text) and
        ``"figures"`` (a list of ``(png_path, caption)``), shown in that order.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for sec in sections:
        parts.append(f"<h2>{html.escape(sec['heading'])}</h2>")
        if "text" in sec:
            parts.append(f"<p>{html.escape(sec['text'])}</p>")
        if "table" in sec:
            parts.append(_table(*sec["table"]))
        if "pre" in sec:
            parts.append(f"<pre>{html.escape(sec['pre'])}</pre>")
        for png, caption in sec.get("figures", ()):
            data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
            parts.append(
                f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    Path(path).write_text("\n".join(parts), encoding="utf-8")
