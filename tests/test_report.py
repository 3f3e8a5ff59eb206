"""The chapter report: index.md, index.html, results.json and the figures, from NumPy traces and synthetic runs."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from polyprop.chapter import explain, plots, report
from polyprop.chapter.results import AirfoilRun, ChapterResults, DecaySweep, FashionRun
from polyprop.chapter.run import UNIT_DECAY_CONFIG
from polyprop.chapter.trace import grad_rotated, trace_2d

D2L_LINE = "epoch 20, x1: -0.010599, x2: 0.000000"
NOTES = ["NumPy has no RMSProp of its own: its airfoil row has no native run.",
         "Exercise 3 (Fashion-MNIST) skipped: no files in /nowhere/fashion"]


class _Page(HTMLParser):
    """Image sources, table count and visible text of an HTML page; checks that tags close in order."""

    VOID = frozenset({"meta", "img", "br", "hr", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables = 0
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self.tables += tag == "table"
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open, f"</{tag}> closes nothing"
        assert self.open.pop() == tag, f"</{tag}> closes nothing"

    def handle_data(self, data):
        self.text.append(data)


def parse_html(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.open == [], f"unclosed tags: {page.open}"
    return page


def _results(with_fashion: bool = False, **changes) -> ChapterResults:
    """A small ChapterResults: NumPy traces (also standing in for torch) and synthetic runs."""
    names = ["numpy", "torch"]
    aligned = trace_2d("numpy")
    rotated = trace_2d("numpy", gradient=grad_rotated)
    unit = trace_2d("numpy", config=UNIT_DECAY_CONFIG)
    epochs = [0.4, 0.8, 1.2, 1.6, 2.0]
    results = ChapterResults(
        backends=names,
        versions={"numpy": "2.4.6", "torch": "9.9.9-test"},
        traces={n: aligned._replace(backend=n) for n in names},
        rotated={n: rotated._replace(backend=n) for n in names},
        unit_decay={n: unit._replace(backend=n) for n in names},
        airfoil=[
            AirfoilRun("numpy", "scratch", epochs, [0.9, 0.3, 0.26, 0.25, 0.24412], 0.0512),
            AirfoilRun("torch", "scratch", epochs, [0.9, 0.31, 0.26, 0.25, 0.24571], 0.0734),
            AirfoilRun("torch", "native", epochs, [0.9, 0.3, 0.25, 0.245, 0.24318], 0.0421),
        ],
        decay_schedule=[AirfoilRun("numpy", "scratch", epochs, [0.8, 0.3, 0.26, 0.25, 0.24777], 0.0633)],
        sweep=[DecaySweep("numpy", [0.5, 0.9, 0.999], [0.2611, 0.2442, 0.3123])],
        fashion=[FashionRun("numpy", s, [1, 2], [0.81, a], [0.5, 0.4], 3.5)
                 for s, a in (("constant", 0.8512), ("step", 0.8634), ("cosine", 0.8701))] if with_fashion else [],
        notes=list(NOTES),
    )
    return results._replace(**changes)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    index = report.write_report(_results(), out)
    return out, index


def test_write_report_writes_index_md_html_and_results_json(written):
    out, index = written
    assert index == out / "index.html"
    for name in ("index.md", "index.html", "results.json"):
        assert (out / name).is_file()
    assert not list(out.glob(".*.tmp")), "a temporary file was left behind"


def test_every_image_the_report_references_exists_beside_it(written):
    out, _ = written
    markdown = (out / "index.md").read_text(encoding="utf-8")
    in_markdown = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    in_html = parse_html(out / "index.html").images
    assert in_markdown == in_html
    assert set(in_html) == {f"{name}.png" for name in
                            ("weights", "trace", "airfoil", "unit_decay", "rotated", "decay_schedule", "sweep")}
    for src in in_html:
        assert not Path(src).is_absolute()
        assert (out / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / src).with_suffix(".svg").is_file()


def test_markdown_and_html_hold_the_same_tables(written):
    out, _ = written
    markdown = (out / "index.md").read_text(encoding="utf-8")
    assert parse_html(out / "index.html").tables == markdown.count("\n|---")


def test_main_table_holds_the_final_point_chapter_line_losses_and_times(written):
    out, _ = written
    markdown = (out / "index.md").read_text(encoding="utf-8")
    row = next(line for line in markdown.splitlines() if line.startswith("| torch |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells == ["torch", "-0.010599", "0.000000", f"`{D2L_LINE}`", "yes", "0.246", "0.243", "0.0734", "0.0421"]
    numpy_row = next(line for line in markdown.splitlines() if line.startswith("| numpy |"))
    assert "| 0.244 | — | 0.0512 | — |" in numpy_row
    text = " ".join(parse_html(out / "index.html").text)
    for value in (D2L_LINE, "0.246", "0.243", "0.0734", "-0.010599"):
        assert value in text


def test_report_names_versions_exercises_and_notes(written):
    out, _ = written
    markdown = (out / "index.md").read_text(encoding="utf-8")
    html_text = " ".join(parse_html(out / "index.html").text)
    for document in (markdown, html_text):
        assert "numpy 2.4.6, torch 9.9.9-test" in document
        for note in NOTES:
            assert note in document
        for exercise in range(1, 5):
            assert f"Exercise {exercise}" in document
        assert explain.rotation_explanation(trace_2d("numpy"), trace_2d("numpy", gradient=grad_rotated)) in document
        assert "x1 by 1 − 400·0.2 = -79" in document
        assert "Not run. Exercise 3 (Fashion-MNIST) skipped: no files in /nowhere/fashion" in document
    assert "| numpy | 0.2441 | 0.2478 | 0.0633 |" in markdown  # exercise 4: constant vs scheduled decay
    assert "| numpy | 0.2611 | 0.2442 | 0.3123 |" in markdown  # exercise 4: the sweep


def test_results_json_holds_every_number(written):
    out, _ = written
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["backends"] == ["numpy", "torch"]
    assert data["traces"]["torch"]["chapter_line"] == D2L_LINE
    assert data["traces"]["numpy"]["final"][0] == pytest.approx(-0.0105986721, rel=1e-8)
    assert len(data["traces"]["numpy"]["points"]) == 21
    assert data["unit_decay"]["numpy"]["growth_factors"] == pytest.approx([-79.0, -1599.0])
    assert [run["final_loss"] for run in data["airfoil"]] == [0.24412, 0.24571, 0.24318]
    assert data["sweep"][0]["decays"] == [0.5, 0.9, 0.999]
    assert data["fashion"] == []
    assert data["notes"] == NOTES
    assert [row["gamma"] for row in data["weights"]] == [0.95, 0.9, 0.8, 0.7]


def test_fashion_results_give_a_table_per_backend_and_schedule(tmp_path):
    results = _results(with_fashion=True, traces={}, rotated={}, unit_decay={}, airfoil=[], decay_schedule=[],
                       sweep=[], notes=[])
    report.write_report(results, tmp_path)
    markdown = (tmp_path / "index.md").read_text(encoding="utf-8")
    assert "| backend | constant lr | step lr | cosine lr | s/epoch (slowest schedule) |" in markdown
    assert "| numpy | 0.851 | 0.863 | 0.870 | 3.5 |" in markdown
    assert "](fashion.png)" in markdown
    assert (tmp_path / "fashion.png").is_file()
    assert "Not run: no trace with decay = 1 was recorded." in markdown
    assert "## Notes\n\nNone." in markdown


def test_a_failing_figure_leaves_the_previous_report_untouched(tmp_path, monkeypatch):
    for name in ("index.md", "index.html", "results.json"):
        (tmp_path / name).write_text(f"good {name}", encoding="utf-8")

    def broken(*args, **kwargs):
        raise RuntimeError("plot failed")

    monkeypatch.setattr(plots, "plot_weights", broken)
    with pytest.raises(RuntimeError, match="plot failed"):
        report.write_report(_results(), tmp_path)
    for name in ("index.md", "index.html", "results.json"):
        assert (tmp_path / name).read_text(encoding="utf-8") == f"good {name}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html", "index.md", "results.json"]


def test_a_failure_while_rendering_replaces_no_index_file(tmp_path, monkeypatch):
    (tmp_path / "index.md").write_text("good md", encoding="utf-8")
    (tmp_path / "index.html").write_text("good html", encoding="utf-8")
    monkeypatch.setattr(report, "draw_figures", lambda results, out: {})

    def broken(blocks):
        raise ValueError("render failed")

    monkeypatch.setattr(report, "render_html", broken)
    with pytest.raises(ValueError, match="render failed"):
        report.write_report(_results(), tmp_path)
    assert (tmp_path / "index.md").read_text(encoding="utf-8") == "good md"
    assert (tmp_path / "index.html").read_text(encoding="utf-8") == "good html"


def test_write_atomic_replaces_the_file_whole(tmp_path):
    target = tmp_path / "index.html"
    target.write_text("old", encoding="utf-8")
    report.write_atomically(target, "new <p>ü</p>")
    assert target.read_text(encoding="utf-8") == "new <p>ü</p>"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_empty_results_still_give_a_report(tmp_path):
    empty = ChapterResults([], {}, {}, {}, {}, [], [], [], [], [])
    index = report.write_report(empty, tmp_path)
    page = parse_html(index)
    assert page.images == ["weights.png"]
    text = " ".join(page.text)
    assert "Not run" in text
    assert "None." in text
    assert json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["traces"] == {}


def test_html_escapes_text_and_renders_code_spans():
    blocks = [report.Heading(1, "a < b"), report.Paragraph("see `x & y`"), report.Table(["h|1"], [["c"]])]
    page = report.render_html(blocks)
    assert "<h1>a &lt; b</h1>" in page
    assert "<code>x &amp; y</code>" in page
    assert "| h\\|1 |" in report.render_markdown(blocks)


def test_non_finite_numbers_become_null_in_json():
    assert report._jsonable({"a": [1.0, float("inf"), float("nan")], "b": (2, "x")}) == {
        "a": [1.0, None, None], "b": [2, "x"]}
