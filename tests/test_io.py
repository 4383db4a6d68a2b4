"""comparisons.io (atomic writes, JSON and netCDF sanitising) and report.markdown (HTML)."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import threading

import numpy as np
import pytest
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mixcompare.comparisons import io
from mixcompare.comparisons.report import markdown

PNG = b"\x89PNG\r\n\x1a\n"


def _temporaries(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------ atomic writes
def test_atomic_writes_leave_no_temporary_file(tmp_path):
    p = io.write_text_atomic(tmp_path / "sub" / "a.md", "première\n")
    assert p == tmp_path / "sub" / "a.md"
    assert p.read_text(encoding="utf-8") == "première\n"
    io.write_text_atomic(p, "second")  # replaces
    assert p.read_text(encoding="utf-8") == "second"
    assert io.write_bytes_atomic(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert _temporaries(tmp_path) == [] and _temporaries(tmp_path / "sub") == []


def test_atomic_files_get_the_usual_permissions(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = io.write_text_atomic(tmp_path / "atomic.txt", "x")
    assert atomic.stat().st_mode == plain.stat().st_mode


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    p = tmp_path / "report.md"
    p.write_text("old")
    with pytest.raises(RuntimeError), io.atomic_path(p) as tmp:
        tmp.write_text("half a rep")
        raise RuntimeError("killed while writing")
    assert p.read_text() == "old"
    with pytest.raises(TypeError):
        io.write_json_atomic(p, {"a": object()})
    assert p.read_text() == "old"
    assert _temporaries(tmp_path) == []


def test_a_failed_rename_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    p = tmp_path / "summary.json"
    p.write_text("{}")

    def fail(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(io.os, "replace", fail)
    with pytest.raises(OSError, match="disk gone"):
        io.write_json_atomic(p, {"a": 1})
    assert p.read_text() == "{}"
    assert _temporaries(tmp_path) == []


def test_a_reader_never_sees_a_partial_file(tmp_path):
    p = tmp_path / "big.txt"
    versions = ["a" * 2_000_000, "b" * 3_000_000]
    io.write_text_atomic(p, versions[0])
    seen, stop = [], threading.Event()

    def read():
        while not stop.is_set():
            seen.append(p.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(30):
            io.write_text_atomic(p, versions[i % 2])
    finally:
        stop.set()
        reader.join()
    assert seen and all(s in versions for s in seen)


def test_figures_are_saved_atomically_in_the_format_of_the_suffix(tmp_path):
    fig = Figure()
    FigureCanvasAgg(fig)
    fig.subplots().plot([0, 1], [1, 0])
    p = io.save_figure_atomic(fig, tmp_path / "figs" / "line.png", dpi=50)
    assert p.read_bytes()[:8] == PNG
    svg = io.save_figure_atomic(fig, tmp_path / "figs" / "line.svg")
    assert b"<svg" in svg.read_bytes()[:500]
    assert _temporaries(tmp_path / "figs") == []


# --------------------------------------------------------------------------------- JSON
def test_sanitiser_turns_numpy_into_python_and_nan_into_null(tmp_path):
    obj = {"nan": np.float64("nan"), "inf": float("inf"), "ninf": np.float32(-np.inf),
           "f": np.float32(0.5), "i": np.int64(3), "b": np.bool_(True),
           "arr": np.array([[1.0, np.nan], [np.inf, 2.0]]), "zero_d": np.array(7),
           "tup": (np.int8(1), "x", None), 4: xr.DataArray([True, False]),
           "nested": [{"deep": np.array([np.nan])}]}
    out = io.to_jsonable(obj)
    assert out == {"nan": None, "inf": None, "ninf": None, "f": 0.5, "i": 3, "b": True,
                   "arr": [[1.0, None], [None, 2.0]], "zero_d": 7, "tup": [1, "x", None],
                   "4": [True, False], "nested": [{"deep": [None]}]}

    def types(v):
        if isinstance(v, dict):
            return set().union(*(types(x) for x in v.values()))
        if isinstance(v, list):
            return set().union(set(), *(types(x) for x in v))
        return {type(v)}

    assert types(out) <= {float, int, bool, str, type(None)}
    text = io.write_json_atomic(tmp_path / "s.json", obj).read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == out


def test_json_is_strict_even_for_plain_python_nan(tmp_path):
    text = io.write_json_atomic(tmp_path / "s.json", [math.nan, 1.5], indent=None).read_text()
    assert text == "[null, 1.5]"


# ------------------------------------------------------------------------------- netCDF
def _tree():
    ds = xr.Dataset({"x": ("obs", np.arange(4.0), {"flags": np.array([True, False]),
                                                   "meta": {"k": 1}, "none": None})},
                    attrs={"detected": np.bool_(True), "chain_labelings": ["(0, 1)", 2],
                           "bools": [True, False], "numbers": [1, 2.5], "empty": []})
    root = xr.Dataset({"y": ("row", [1, 2, 3])},
                      attrs={"ordered": False, "prior": {"a": 1.0, "b": [1, 2]},
                             "name": "faithful", "n_init": 20, "seed": None})
    return xr.DataTree.from_dict({"/": root, "/comparison/switching": ds})


def test_netcdf_safe_round_trips_through_netcdf(tmp_path):
    tree = _tree()
    before = {n.path: dict(n.attrs) for n in tree.subtree}
    safe = io.netcdf_safe(tree)
    assert {n.path: dict(n.attrs) for n in tree.subtree} == before  # the input is untouched
    assert tree["comparison/switching"]["x"].attrs["none"] is None
    path = tmp_path / "t.nc"
    safe.to_netcdf(path, engine="h5netcdf")
    back = xr.open_datatree(path, engine="h5netcdf").load()
    a, s = back.attrs, back["comparison/switching"].attrs
    assert a["ordered"] == 0 and json.loads(a["prior"]) == {"a": 1.0, "b": [1, 2]}
    assert a["name"] == "faithful" and a["n_init"] == 20 and a["seed"] == ""
    assert s["detected"] == 1 and list(s["chain_labelings"]) == ["(0, 1)", "2"]
    assert list(s["bools"]) == [1, 0] and list(s["numbers"]) == [1, 2.5] and s["empty"] == ""
    v = back["comparison/switching"]["x"].attrs
    assert list(v["flags"]) == [1, 0] and json.loads(v["meta"]) == {"k": 1} and v["none"] == ""
    for node in tree.subtree:
        xr.testing.assert_equal(back[node.path].to_dataset(), node.to_dataset())


def test_write_netcdf_atomic_writes_the_safe_tree(tmp_path):
    path = io.write_netcdf_atomic(_tree(), tmp_path / "results.nc")
    back = xr.open_datatree(path, engine="h5netcdf").load()
    assert back["comparison/switching"].attrs["detected"] == 1
    assert _temporaries(tmp_path) == []


def test_the_digest_written_is_the_digest_read_back(tmp_path):
    # the digest is taken before writing (no read-back): attributes that netCDF reads back
    # differently (one-element lists and arrays as scalars, arrays flattened) are stored as
    # they read back, so the file's content matches it
    tree = _tree()
    tree["comparison/switching"].attrs.update(
        {"one": [0.08], "one_arr": np.array([2.5]), "one_str": ["x"], "grid": np.eye(2),
         "one_bool": [True], "empty_arr": np.array([])})
    path = io.write_netcdf_atomic(tree, tmp_path / "results.nc")
    with xr.open_datatree(path, engine="h5netcdf") as opened:
        raw = opened.load()
    stored = raw.attrs.pop(io.CHECKSUM_ATTR)
    assert stored == io.tree_digest(raw) == io.tree_digest(io.netcdf_safe(tree))
    back = io.read_netcdf_verified(path)  # no ResultFileError
    s = back["comparison/switching"].attrs
    assert s["one"] == 0.08 and s["one_arr"] == 2.5 and s["one_str"] == "x"
    assert list(s["grid"]) == [1.0, 0.0, 0.0, 1.0] and s["one_bool"] == 1 and s["empty_arr"] == ""


# ----------------------------------------------------------------------- Markdown / HTML
def test_markdown_table_escapes_pipes_and_frames_use_the_cell_format():
    import pandas as pd

    assert markdown.table(["a", "b|c"], [[1, "x|y"]]) == "| a | b\\|c |\n|---|---|\n| 1 | x\\|y |"
    df = pd.DataFrame({"k": [0, 1], "v": [0.123456, np.nan]})
    assert markdown.frame_table(df, lambda v: "" if v != v else f"{v:.2g}") == (
        "| k | v |\n|---|---|\n| 0 | 0.12 |\n| 1 |  |")


def test_html_renders_tables_and_inline_markup():
    md = ("# Title\n\nClassification: **one mode**, with `code` and <b>raw</b>.\n\n"
          "| parameter | value |\n|---|---|\n| means[0] | **1.5** |\n| a\\|b | 2 |\n")
    out = markdown.to_html(md)
    assert "<table>" in out and "<th>parameter</th>" in out and "<td>a|b</td>" in out
    assert "<strong>one mode</strong>" in out and "<strong>1.5</strong>" in out
    assert "<code>code</code>" in out
    assert "**" not in out
    assert "<b>" not in out and "&lt;b&gt;raw&lt;/b&gt;" in out  # raw HTML is escaped


def test_html_page_is_self_contained_with_figures_and_classes(tmp_path):
    fig = Figure()
    FigureCanvasAgg(fig)
    fig.subplots().plot([0, 1])
    png = io.save_figure_atomic(fig, tmp_path / "figures" / "line.png", dpi=40)
    blocks = [("h1", "Report <1>"), ("warn", ["it *failed*"]), ("p", "text"),
              ("table", ["a", "b"], [["1", "2"]]),
              ("figure", "line", "The line, *rising*.", png)]
    md = markdown.from_blocks(blocks, tmp_path)
    assert md == ("# Report <1>\n\n> **⚠** it *failed*\n\ntext\n\n| a | b |\n|---|---|\n"
                  "| 1 | 2 |\n\n![line](figures/line.png)\n\n*The line, *rising*.*\n")
    page = markdown.html_page(md, title="Report <1>", base=tmp_path,
                              classes={"blockquote": "problems"})
    assert page.startswith("<!DOCTYPE html>") and "<title>Report &lt;1&gt;</title>" in page
    assert '<blockquote class="problems">' in page and "<strong>⚠</strong>" in page
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(srcs) == 1 and srcs[0].startswith("data:image/png;base64,")
    assert base64.b64decode(srcs[0].split(",", 1)[1]) == png.read_bytes()
    assert re.search(r"<figure><img [^>]*><figcaption>The line, <em>rising</em>\.</figcaption>",
                     page)
    assert not re.search(r"https?://|<link|<script|figures/line\.png", page)
    assert "**" not in page


def test_unknown_block_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown report block"):
        markdown.from_blocks([("h7", "x")], tmp_path)


def test_images_are_read_relative_to_the_base(tmp_path):
    os.makedirs(tmp_path / "f")
    (tmp_path / "f" / "a b.png").write_bytes(PNG)
    out = markdown.to_html("![a](<f/a b.png>)", base=tmp_path)
    assert base64.b64encode(PNG).decode() in out
