"""Markdown for every report, and the one path from Markdown to a self-contained HTML page.

A report is laid out once as a list of *blocks* (tuples):

- ``("h1", text)``, ``("h2", text)``, ``("h3", text)``: headings;
- ``("p", text)``: a paragraph (inline Markdown allowed);
- ``("ul", items)``: a bullet list;
- ``("warn", items)``: warnings, a block quote with one ``**⚠**`` paragraph each;
- ``("table", header, rows)``: a table of strings (see :func:`table`);
- ``("figure", alt, caption, path)``: an image (``path`` is a file under the
  report's folder) followed by its caption in italics.

:func:`from_blocks` writes the blocks as Markdown (``report.md``);
:func:`html_page` renders that Markdown with markdown-it-py (CommonMark with
tables; raw HTML in the text is escaped, never passed through) into one page
with inline CSS and every local image embedded as a base64 ``data:`` URI, so
the page needs no other file and loads no external resource. An image
paragraph followed by a paragraph that is all italics becomes a
``<figure>`` with its ``<figcaption>``.
"""

from __future__ import annotations

import base64
import html
import mimetypes
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = ["CSS", "escape_cell", "frame_table", "from_blocks", "html_page", "table", "to_html",
           "write_pages"]

CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:68rem;
margin:2rem auto;padding:0 1rem;line-height:1.45;color:#222}
h1{font-size:1.6rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .55rem}th{background:#f3f3f3}
td{text-align:right;font-variant-numeric:tabular-nums}td:first-child{text-align:left}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.88rem}
.problems{background:#fff4f2;border-left:5px solid #c62828;margin:1rem 0;padding:.4rem 1rem}
figure{margin:1.2rem 0}img{max-width:100%}figcaption{font-style:italic;color:#444}"""

_MD = MarkdownIt("commonmark", {"html": False}).enable("table")


# ------------------------------------------------------------------------------ Markdown
def escape_cell(text: str) -> str:
    r"""Escape the pipes of a table cell (``|`` becomes ``\|``)."""
    return text.replace("|", "\\|")


def table(header: Sequence, rows: Iterable[Sequence]) -> str:
    """Write a Markdown table (no trailing newline).

    Parameters
    ----------
    header : sequence
        Column titles.
    rows : iterable of sequence
        Cells, converted with :class:`str` (format numbers before) and with
        their pipes escaped.

    Returns
    -------
    str
        ``| a | b |``, then ``|---|---|``, then one line per row.
    """
    def line(cells):
        return "| " + " | ".join(escape_cell(str(c)) for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)])


def frame_table(df, fmt: Callable[[object], str] = str) -> str:
    """Write a DataFrame as a Markdown table (no index, no trailing newline).

    Parameters
    ----------
    df : pandas.DataFrame
    fmt : callable, default str
        Formats each cell.

    Returns
    -------
    str
        See :func:`table`.
    """
    return table([str(c) for c in df.columns],
                 ([fmt(v) for v in row] for row in df.itertuples(index=False)))


def from_blocks(blocks: Iterable[tuple], base) -> str:
    """Write report blocks (see the module docstring) as one Markdown document.

    Parameters
    ----------
    blocks : iterable of tuple
    base : str or Path
        The report's folder: figure paths are written relative to it.

    Returns
    -------
    str
        Blocks separated by blank lines, ending with a newline.
    """
    base = Path(base)
    out = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + b[1])
        elif kind == "p":
            out.append(b[1])
        elif kind == "ul":
            out.append("\n".join(f"- {s}" for s in b[1]))
        elif kind == "warn":
            out.append("\n>\n".join(f"> **⚠** {s}" for s in b[1]))
        elif kind == "table":
            out.append(table(b[1], b[2]))
        elif kind == "figure":
            out.append(f"![{b[1]}]({Path(b[3]).relative_to(base).as_posix()})\n\n*{b[2]}*")
        else:
            raise ValueError(f"unknown report block {kind!r}")
    return "\n\n".join(out) + "\n"


# ---------------------------------------------------------------------------------- HTML
def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _embed_images(tokens: list[Token], base: Path) -> None:
    """Replace the ``src`` of every local image by its content as a ``data:`` URI."""
    for tok in tokens:
        for child in tok.children or ():
            if child.type != "image":
                continue
            src = str(child.attrGet("src") or "")
            if src and not urlsplit(src).scheme:  # local file, relative to the report
                child.attrSet("src", _data_uri(base / unquote(src)))


def _all_italic(children: list[Token]) -> bool:
    """Tell whether the inline content is one emphasis spanning all of it."""
    if len(children) < 2 or children[0].type != "em_open" or children[-1].type != "em_close":
        return False
    depth = 0
    for i, c in enumerate(children):
        depth += c.nesting if c.type in ("em_open", "em_close") else 0
        if depth == 0 and i < len(children) - 1:
            return False
    return True


def _figures(tokens: list[Token]) -> list[Token]:
    """Turn an image paragraph followed by an all-italic paragraph into a figure."""
    out, i = [], 0
    while i < len(tokens):
        win = tokens[i:i + 6]
        if ([t.type for t in win] == ["paragraph_open", "inline", "paragraph_close"] * 2
                and [c.type for c in win[1].children or ()] == ["image"]
                and _all_italic(win[4].children or [])):
            fig_open, img, _, cap_open, cap, cap_close = win
            fig_open.tag = "figure"
            cap_open.tag = cap_close.tag = "figcaption"
            cap.children = cap.children[1:-1]  # the figcaption is italic already
            fig_close = Token("figure_close", "figure", -1, block=True)
            out += [fig_open, img, cap_open, cap, cap_close, fig_close]
            i += 6
        else:
            out.append(tokens[i])
            i += 1
    return out


def to_html(text: str, *, base=None, classes: Mapping[str, str] | None = None) -> str:
    """Render Markdown to an HTML fragment (CommonMark and tables; raw HTML is escaped).

    Parameters
    ----------
    text : str
        Markdown.
    base : str or Path, optional
        Folder that relative image paths refer to; when given, those images
        are embedded as base64 ``data:`` URIs.
    classes : mapping of str to str, optional
        CSS class per HTML tag of a block, e.g. ``{"blockquote": "problems"}``.

    Returns
    -------
    str
    """
    tokens = _MD.parse(text)
    if base is not None:
        _embed_images(tokens, Path(base))
    for tok in tokens:
        if classes and tok.nesting == 1 and tok.tag in classes:
            tok.attrSet("class", classes[tok.tag])
    return _MD.renderer.render(_figures(tokens), _MD.options, {})


def html_page(text: str, *, title: str, base=None, classes: Mapping[str, str] | None = None,
              css: str = CSS) -> str:
    """Render Markdown as one self-contained HTML page (inline CSS, images embedded).

    Parameters
    ----------
    text : str
        Markdown, e.g. the content of ``report.md``.
    title : str
        The page's ``<title>`` (plain text).
    base : str or Path, optional
        The folder of the Markdown file; see :func:`to_html`.
    classes : mapping of str to str, optional
        See :func:`to_html`.
    css : str, default CSS
        The style sheet, inlined in a ``<style>`` element.

    Returns
    -------
    str
    """
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>\n{css}\n</style>\n</head>\n<body>\n"
            + to_html(text, base=base, classes=classes) + "</body>\n</html>\n")


def write_pages(blocks: list, outdir) -> dict[str, Path]:
    """Write report blocks as ``report.md`` and ``report.html`` in ``outdir`` (atomically).

    The page's title is the first block's text; block quotes are styled as problems.

    Returns
    -------
    dict of str to Path
        ``{"report.md": path, "report.html": path}``.
    """
    from mixcompare.comparisons.io import write_text_atomic

    outdir = Path(outdir)
    text = from_blocks(blocks, outdir)
    page = html_page(text, title=blocks[0][1], base=outdir, classes={"blockquote": "problems"})
    return {"report.md": write_text_atomic(outdir / "report.md", text),
            "report.html": write_text_atomic(outdir / "report.html", page)}
