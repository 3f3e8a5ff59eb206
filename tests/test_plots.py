"""The chapter's figures: the numbers behind them, and valid PNG/SVG files (NumPy traces only)."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from polyprop.backends import BACKENDS
from polyprop.chapter import drawing, explain, measures, plots
from polyprop.chapter.results import AirfoilRun, DecaySweep, FashionRun
from polyprop.chapter.run import UNIT_DECAY_CONFIG
from polyprop.chapter.trace import Trace, grad_rotated, trace_2d

D2L_LINE = "epoch 20, x1: -0.010599, x2: 0.000000"
SVG = "{http://www.w3.org/2000/svg}"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def svg_texts(path: Path) -> list[str]:
    """Every text string of an SVG (the file must parse as XML with an <svg> root)."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def assert_png_and_svg(paths: list[Path], stem: str) -> None:
    assert [p.name for p in paths] == [f"{stem}.png", f"{stem}.svg"]
    width, height = png_size(paths[0])
    assert width > 300
    assert height > 300
    assert svg_texts(paths[1])
    assert not list(paths[0].parent.glob(".*.tmp")), "a temporary file was left behind"


# --- the numbers -------------------------------------------------------------


@pytest.mark.parametrize("gamma", measures.GAMMAS)
def test_leaky_weights_sum_to_one_minus_gamma_to_the_40_and_horizon_is_one_over_one_minus_gamma(gamma):
    weights = measures.leaky_weights(gamma)
    assert weights.shape == (40,)
    assert weights[0] == pytest.approx(1 - gamma)
    np.testing.assert_allclose(weights[1:] / weights[:-1], gamma, rtol=1e-12)
    row = next(r for r in measures.weights_summary() if r["gamma"] == gamma)
    assert row["sum"] == pytest.approx(1 - gamma**40, rel=1e-12, abs=0)
    assert row["closed_form_sum"] == 1 - gamma**40
    assert row["horizon"] == pytest.approx(1 / (1 - gamma), rel=1e-12)
    assert row["steps"] == 40


def test_weights_summary_orders_the_gammas_as_d2l():
    assert [r["gamma"] for r in measures.weights_summary()] == [0.95, 0.9, 0.8, 0.7]
    assert measures.weights_summary((0.5,), steps=3)[0]["sum"] == pytest.approx(0.875)


def test_every_backend_has_its_own_colour():
    assert set(drawing.BACKEND_COLORS) == set(BACKENDS)
    assert len(set(drawing.BACKEND_COLORS.values())) == len(BACKENDS)
    assert drawing.backend_color("numpy") == drawing.BACKEND_COLORS["numpy"]
    assert drawing.backend_color("no such backend") == drawing.OTHER_COLOR


def test_unit_decay_growth_factors_measured_on_the_trace_are_minus_79_and_minus_1599(unit_decay):
    measured = measures.growth_factors(unit_decay)
    assert measured == pytest.approx((-79.0, -1599.0), rel=1e-9)
    assert measures.predicted_growth_factors() == pytest.approx((-79.0, -1599.0), rel=1e-12)
    assert measures.frozen_step_gain() == pytest.approx(400.0)
    # every single step, not only the median: x_{t+1} = factor * x_t
    np.testing.assert_allclose(unit_decay.points[1:] / unit_decay.points[:-1], [[-79.0, -1599.0]] * 20, rtol=1e-9)
    text = explain.unit_decay_explanation(unit_decay)
    for number in ("400", "-79", "-1599", f"{abs(unit_decay.points[-1, 1]):.3g}"):
        assert number in text


def test_growth_factors_skip_steps_that_overflowed():
    points = np.array([[1.0, 1.0], [-2.0, 10.0], [4.0, np.inf], [-8.0, np.nan]])
    trace = Trace("numpy", points)
    assert measures.growth_factors(trace) == (-2.0, 10.0)


def test_rotation_explanation_quotes_the_measured_distances(axis_aligned, rotated):
    near, far = measures.distance_to_optimum(axis_aligned), measures.distance_to_optimum(rotated)
    assert near == pytest.approx(math.hypot(-0.0105986721, 1.0e-14), rel=1e-6)
    assert far > 100 * near  # the claim the text makes: the rotated run ends much farther away
    text = explain.rotation_explanation(axis_aligned, rotated)
    assert f"{near:.4g}" in text
    assert f"{far:.4g}" in text
    assert f"{far / near:.0f} times farther" in text
    g1, g2 = measures.gradient_at(rotated, grad_rotated)
    x1, x2 = rotated.points[-1]
    assert (g1, g2) == pytest.approx((4.2 * x1 - 3.8 * x2, 4.2 * x2 - 3.8 * x1))
    assert f"({g1:.3g}, {g2:.3g})" in text
    assert explain.rotation_explanation() == text  # without traces it runs the same two problems


def test_trace_box_widens_d2l_range_to_hold_the_rotated_path(rotated):
    box = measures.trace_box([rotated])
    assert box[0] == -5.5
    assert box[1] == 1.0
    assert box[3] == 1.5
    assert box[2] < rotated.points[:, 1].min()


def test_backend_spread_is_zero_for_identical_paths_and_measures_a_difference(axis_aligned):
    moved = axis_aligned._replace(backend="torch", points=axis_aligned.points + np.array([0.0, 1e-7]))
    assert measures.backend_spread({"numpy": axis_aligned}) == 0.0
    assert measures.backend_spread({"numpy": axis_aligned, "torch": moved}) == pytest.approx(1e-7)


def test_fashion_finals_and_schedule_order(fashion_runs):
    finals = measures.final_accuracies(fashion_runs)
    assert finals[("numpy", "cosine")] == 0.861
    assert measures.schedule_order(fashion_runs) == ["constant", "step", "cosine"]
    odd = FashionRun("numpy", "warm restarts", [1], [0.5], [1.0], 1.0)
    assert measures.schedule_order([odd, *fashion_runs])[-1] == "warm restarts"


def test_spreads_measure_how_far_runs_that_should_agree_differ():
    assert measures.value_spread([0.25, 0.2449, math.nan, 0.2452]) == pytest.approx(0.0051)
    assert measures.value_spread([0.3]) == 0.0
    sweeps = [DecaySweep("numpy", [0.5, 0.9], [0.26, 0.244]), DecaySweep("torch", [0.9, 0.5], [0.245, 0.2601])]
    assert measures.sweep_spread(sweeps) == pytest.approx(0.001)


def test_sweep_axis_is_logarithmic_only_below_decay_one():
    assert measures.sweep_axis([DecaySweep("numpy", [0.0, 0.9, 0.999], [1, 2, 3])])
    assert not measures.sweep_axis([DecaySweep("numpy", [0.9, 1.0], [1, 2])])


# --- the files ---------------------------------------------------------------


def test_weights_figure(figures):
    assert_png_and_svg(figures["weights"], "weights")
    texts = svg_texts(figures["weights"][1])
    for gamma in measures.GAMMAS:
        assert f"gamma = {gamma:g}" in texts
    assert "gamma = 0.95: horizon 20, sum 0.871" in texts


def test_trace_figure_has_one_panel_per_backend_with_its_chapter_line(figures):
    assert_png_and_svg(figures["trace"], "trace")
    texts = svg_texts(figures["trace"][1])
    assert texts.count(D2L_LINE) == 2
    assert {"numpy", "torch"} <= set(texts)
    svg = figures["trace"][1].read_text()
    assert drawing.BACKEND_COLORS["numpy"] in svg
    assert drawing.BACKEND_COLORS["torch"] in svg


def test_rotated_figure_quotes_both_distances(figures, axis_aligned, rotated):
    assert_png_and_svg(figures["rotated"], "rotated")
    texts = " ".join(svg_texts(figures["rotated"][1]))
    for trace in (axis_aligned, rotated):
        assert f"distance to optimum {measures.distance_to_optimum(trace):.4g}" in texts
    assert "max difference 0" in texts


def test_unit_decay_figure_shows_the_measured_factors(figures):
    assert_png_and_svg(figures["unit_decay"], "unit_decay")
    texts = svg_texts(figures["unit_decay"][1])
    assert "x1 × -79" in texts
    assert "x2 × -1599" in texts
    assert "decay = 0.9 (the chapter's run)" in texts


def test_airfoil_figure_lists_final_losses(figures, airfoil_runs):
    assert_png_and_svg(figures["airfoil"], "airfoil")
    texts = svg_texts(figures["airfoil"][1])
    assert measures.airfoil_label(airfoil_runs[0]) == "numpy scratch: 0.244"
    for run in airfoil_runs:
        assert measures.airfoil_label(run) in texts
    assert "final loss (all within 0.0018)" in texts


def test_fashion_figure_has_one_panel_per_schedule(figures):
    assert_png_and_svg(figures["fashion"], "fashion")
    texts = svg_texts(figures["fashion"][1])
    for schedule in ("constant", "step", "cosine"):
        assert f"{schedule} learning rate" in texts
    assert "numpy: 0.861" in texts


def test_sweep_figure_labels_the_decays(figures):
    assert_png_and_svg(figures["sweep"], "sweep")
    texts = svg_texts(figures["sweep"][1])
    assert {"0", "0.9", "0.999"} <= set(texts)


def test_sweep_with_decay_one_falls_back_to_a_linear_axis(tmp_path):
    paths = plots.plot_sweep([DecaySweep("numpy", [0.5, 0.9, 1.0], [0.3, 0.25, math.inf])], tmp_path / "s.png")
    assert_png_and_svg(paths, "s")


def test_empty_inputs_write_nothing(tmp_path):
    assert plots.plot_weights(tmp_path, gammas=()) == []
    assert plots.plot_trace({}, tmp_path / "trace") == []
    assert plots.plot_rotated({}, {}, tmp_path / "rotated") == []
    assert plots.plot_unit_decay({}, tmp_path / "unit_decay") == []
    assert plots.plot_airfoil([], tmp_path / "airfoil") == []
    assert plots.plot_airfoil([AirfoilRun("numpy", "scratch", [], [], 0.0)], tmp_path / "airfoil") == []
    assert plots.plot_fashion([], tmp_path / "fashion") == []
    assert plots.plot_sweep([], tmp_path / "sweep") == []
    assert list(tmp_path.iterdir()) == []


def test_importing_plots_and_report_imports_no_matplotlib():
    code = (
        "import sys, polyprop.chapter.plots, polyprop.chapter.report\n"
        "print(sorted(m for m in ('matplotlib', 'torch', 'tensorflow', 'jax', 'mxnet') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- fixtures ----------------------------------------------------------------


@pytest.fixture(scope="module")
def axis_aligned():
    return trace_2d("numpy")


@pytest.fixture(scope="module")
def rotated():
    return trace_2d("numpy", gradient=grad_rotated)


@pytest.fixture(scope="module")
def unit_decay():
    return trace_2d("numpy", config=UNIT_DECAY_CONFIG)


def _two_backends(trace):
    """The NumPy trace under its own name and as a stand-in for a second backend."""
    return {"numpy": trace, "torch": trace._replace(backend="torch")}


@pytest.fixture(scope="module")
def airfoil_runs():
    epochs = [0.4, 0.8, 1.2, 1.6, 2.0]
    return [
        AirfoilRun("numpy", "scratch", epochs, [0.9, 0.3, 0.26, 0.25, 0.24412], 0.05),
        AirfoilRun("torch", "scratch", epochs, [0.9, 0.31, 0.26, 0.25, 0.2449], 0.07),
        AirfoilRun("torch", "native", epochs, [0.9, 0.3, 0.25, 0.245, 0.2431], 0.04),
    ]


@pytest.fixture(scope="module")
def fashion_runs():
    return [
        FashionRun(backend, schedule, [1, 2, 3], [0.80, 0.84, 0.861 - 0.01 * i], [0.6, 0.45, 0.4], 2.0)
        for i, backend in enumerate(("numpy", "torch"))
        for schedule in ("cosine", "constant", "step")
    ]


@pytest.fixture(scope="module")
def figures(tmp_path_factory, axis_aligned, rotated, unit_decay, airfoil_runs, fashion_runs):
    """Every figure once, drawn from NumPy traces and small synthetic runs."""
    out = tmp_path_factory.mktemp("figures")
    sweeps = [DecaySweep("numpy", [0.0, 0.5, 0.9, 0.99, 0.999], [0.4, 0.26, 0.244, 0.25, 0.31])]
    return {
        "weights": plots.plot_weights(out),
        "trace": plots.plot_trace(_two_backends(axis_aligned), out / "trace.png"),
        "rotated": plots.plot_rotated(_two_backends(axis_aligned), _two_backends(rotated), out / "rotated"),
        "unit_decay": plots.plot_unit_decay({"numpy": unit_decay}, out / "unit_decay",
                                            normal={"numpy": axis_aligned}),
        "airfoil": plots.plot_airfoil(airfoil_runs, out / "airfoil"),
        "fashion": plots.plot_fashion(fashion_runs, out / "fashion.svg"),
        "sweep": plots.plot_sweep(sweeps, out / "sweep"),
    }
