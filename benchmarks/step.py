"""Step time of polyprop's current path against each framework's native RMSProp (issue 6).

Run from the repository root::

    .venv/bin/python -m benchmarks.step --backend all            # human-readable table
    .venv/bin/python -m benchmarks.step --backend torch --sizes 1e5 1e6 --dtype float32 --repeats 20 --json

For every backend, case (one tensor of N elements, or ``model``: 200 tensors of mixed
sizes, fixed seed) and dtype, the native optimizer and polyprop's variants run in the
same process, interleaved (native, ours, native, ours, ...) after a warm-up; the
median of ``--repeats`` single-step timings is reported, with the ratio to the
native optimizer, the effective bandwidth (20 bytes per float32 element per step,
40 per float64: read param, grad, accumulator; write param, accumulator) as a share
of a STREAM-like triad measured in the same run, and the extra memory of one step.
See benchmarks/README.md for the columns.  Timings are never asserted anywhere.

No framework is imported at module level: each backend's variants are its hook
``polyprop.backends.<name>.bench`` (:func:`bench_hooks`), imported with its framework
when that backend runs.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from polyprop.backends import BACKENDS, check_name  # (imports no framework)

DEFAULT_SIZES = ("1e3", "1e5", "1e6", "1e7", "model")
DTYPES = ("float32", "float64")

# One set of hyperparameters, spelled in each framework's names below.
LR = 0.01
DECAY = 0.9
EPS = 1e-8
MODEL_TENSORS = 200
THREADS = 0  # --threads; 0: each framework's default


def limit_threads(n: int) -> None:
    """Ask every framework for ``n`` compute threads (before any is imported; torch and TF also at import)."""
    global THREADS
    THREADS = n
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS"):
        os.environ[var] = str(n)
    if n == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1".strip()


@dataclass
class Variant:
    """One way of taking a step; ``run`` takes one step and waits until it is done."""

    name: str
    role: str  # "native", "baseline" (NumPy's plain path, which has no native), "polyprop" or "reference"
    run: Callable[[], None]
    memory_method: str = "rss"  # "tracemalloc" (NumPy) or "rss" (peak RSS growth)
    versus: str | None = None  # the native variant its ratio is taken against; None: the first native
    first: Callable[[], dict[str, Any]] | None = None  # called after the first step: extra row fields


# --------------------------------------------------------------------------------------
# Cases


def case_shapes(token: str, seed: int) -> list[tuple[int, ...]]:
    """The shapes of one case: ``[(N,)]`` for a number, 200 layer-like shapes for ``model``."""
    if token == "model":
        import numpy as np

        rng = np.random.default_rng(seed)
        widths = [32, 64, 128, 256, 512]
        shapes: list[tuple[int, ...]] = []
        while len(shapes) < MODEL_TENSORS:
            fan_in, fan_out = (int(w) for w in rng.choice(widths, size=2))
            shapes.append((fan_in, fan_out))  # a weight matrix
            shapes.append((fan_out,))  # its bias
        return shapes[:MODEL_TENSORS]
    n = int(float(token))
    if n < 1:
        raise ValueError(f"size must be at least 1, got {token!r}")
    return [(n,)]


def case_arrays(shapes: list[tuple[int, ...]], dtype: str, seed: int) -> tuple[list[Any], list[Any]]:
    """NumPy parameters and gradients of ``shapes`` (standard normal, fixed seed)."""
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    xs = [rng.standard_normal(shape).astype(dtype) for shape in shapes]
    gs = [rng.standard_normal(shape).astype(dtype) for shape in shapes]
    return xs, gs


# --------------------------------------------------------------------------------------
# Backends: each one's hook returns its variants for one case, native ones first.


def bench_hooks(backend: str) -> ModuleType:
    """``polyprop.backends.<backend>.bench``, the backend's variants (see :mod:`polyprop.backends.numpy.bench`).

    Imported, with its framework, when the benchmark first runs on ``backend``.
    """
    return importlib.import_module(f"polyprop.backends.{check_name(backend)}.bench")


def backend_variants(backend: str, xs: list[Any], gs: list[Any]) -> list[Variant]:
    """``backend``'s variants for one case; its hook gets this module for Variant, fast_variant and the settings."""
    variants: list[Variant] = bench_hooks(backend).variants(xs, gs, sys.modules[__name__])
    return variants


def fast_variant(
    name: str, config: Any, xs: list[Any], gs: list[Any], convert: Callable[[Any], Any],
    wait: Callable[[Any], None] = lambda params: None, memory_method: str = "rss", versus: str | None = None,
    convert_grad: Callable[[Any], Any] | None = None,
) -> Variant:
    """``polyprop.fast_step`` on the backend's own tensors (``convert`` makes one from a NumPy array)."""
    import polyprop

    params = [convert(x) for x in xs]
    grads = [(convert_grad or convert)(g) for g in gs]
    state = polyprop.init(params, config)

    def run() -> None:
        nonlocal params, state
        params, state = polyprop.fast_step(params, grads, state, config)
        wait(params)

    return Variant(name, "polyprop", run, memory_method, versus)


# --------------------------------------------------------------------------------------
# Measurements


def triad_bandwidth(repeats: int, n: int = 10**7) -> float:
    """STREAM-like triad ``a = b + s*c`` on float64 with ``out=`` arrays, in bytes/s (STREAM's 24 bytes/element)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b, c = np.empty(n), rng.standard_normal(n), rng.standard_normal(n)
    s = 3.0
    times = []
    for i in range(repeats + 2):
        t0 = time.perf_counter()
        np.multiply(c, s, out=a)
        np.add(a, b, out=a)
        if i >= 2:  # warm-up
            times.append(time.perf_counter() - t0)
    return 24 * n / statistics.median(times)


def _vmhwm_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def peak_rss_growth(run: Callable[[], None]) -> int | None:
    """Growth of the peak resident set during one ``run()`` (Linux: reset with /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # reset VmHWM to the current RSS
        before = _vmhwm_bytes()
    except OSError:
        return None
    run()
    return _vmhwm_bytes() - before


def traced_peak(run: Callable[[], None]) -> int:
    """Peak bytes allocated through tracemalloc during one ``run()`` (NumPy reports its buffers)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def time_variants(variants: list[Variant], repeats: int, warmup: int) -> dict[str, list[float]]:
    """Interleaved timings: each repetition runs every variant once, in order."""
    for variant in variants:
        for _ in range(warmup):
            variant.run()
    times: dict[str, list[float]] = {v.name: [] for v in variants}
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            for variant in variants:
                t0 = time.perf_counter()
                variant.run()
                times[variant.name].append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return times


def run_case(
    backend: str, token: str, dtype: str, args: argparse.Namespace, triad: float
) -> list[dict[str, Any]]:
    shapes = case_shapes(token, args.seed)
    xs, gs = case_arrays(shapes, dtype, args.seed)
    elements = sum(x.size for x in xs)
    itemsize = xs[0].itemsize
    bytes_per_step = 5 * itemsize * elements
    base = {
        "backend": backend,
        "case": token if token == "model" else f"{int(float(token)):.0e}".replace("e+0", "e"),
        "dtype": dtype,
        "tensors": len(shapes),
        "elements": elements,
        "bytes_per_step": bytes_per_step,
    }
    try:
        variants = backend_variants(backend, xs, gs)
    except ImportError as error:
        return [{**base, "variant": None, "error": f"skipped: {error}"}]
    usable: list[Variant] = []
    rows: list[dict[str, Any]] = []
    first_step: dict[str, float] = {}
    extra: dict[str, dict[str, Any]] = {}
    for variant in variants:  # one failing variant (e.g. no jit support) does not stop the others
        try:
            t0 = time.perf_counter()
            variant.run()  # the first step: builds state, traces, compiles
            first_step[variant.name] = time.perf_counter() - t0
            extra[variant.name] = variant.first() if variant.first is not None else {}
            usable.append(variant)
        except Exception as error:  # any failure: reported in the output
            failure = f"{type(error).__name__}: {error}"
            rows.append({**base, "variant": variant.name, "role": variant.role, "error": failure})
    times = time_variants(usable, args.repeats, args.warmup)
    first_native = next((v for v in usable if v.role in ("native", "baseline")), None)
    natives = [v for v in usable if v.role in ("native", "baseline")]
    for variant in usable:
        gc.collect()
        native = next((v for v in usable if v.name == variant.versus), first_native)
        native_median = statistics.median(times[native.name]) if native is not None else None
        median = statistics.median(times[variant.name])
        measure = traced_peak if variant.memory_method == "tracemalloc" else peak_rss_growth
        memory = measure(variant.run)
        rows.append(
            {
                **base,
                "variant": variant.name,
                "role": variant.role,
                "median_s": median,
                "min_s": min(times[variant.name]),
                "repeats": len(times[variant.name]),
                "ratio_to_native": median / native_median if native_median and variant is not native else None,
                "native": native.name if native is not None else None,
                "ratio_to_natives": {
                    n.name: median / statistics.median(times[n.name]) for n in natives if n is not variant
                } if variant.role == "polyprop" else {},
                "first_step_s": first_step[variant.name],
                **extra[variant.name],
                "bandwidth_Bps": bytes_per_step / median,
                "triad_share": bytes_per_step / median / triad,
                "extra_memory_bytes": memory,
                "memory_method": variant.memory_method if memory is not None else None,
                "error": None,
            }
        )
    return rows


# --------------------------------------------------------------------------------------
# Machine line and output


def machine_info() -> dict[str, Any]:
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for dist in distributions():
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def distributions() -> list[str]:
    """Every backend's framework distributions, then the modules its tensors and drop-in come from.

    (jaxlib, keras, optax.)
    """
    from polyprop.backends import REGISTRY  # (read when called: the registry as it is then)

    names = (name for b in REGISTRY for name in (*b.distributions, *b.dropin_modules, *b.tensor_modules))
    return list(dict.fromkeys(names))


def _fmt_bytes(value: int | None) -> str:
    if value is None:
        return "n/a"
    return f"{value / 2**20:.1f} MiB"


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} s" if value >= 1 else f"{value * 1e3:.1f} ms"


def fmt_compile(compile_info: dict[str, int] | None) -> str:
    """`` (cache hit)`` / `` (cache miss)`` for a first step that compiled."""
    if not compile_info or not compile_info.get("graphs"):
        return ""
    hit = compile_info.get("fxgraph_cache_hit") and not compile_info.get("fxgraph_cache_miss")
    return " (cache hit)" if hit else " (cache miss)"


def format_table(result: dict[str, Any]) -> str:
    machine = result["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    lines = [
        f"machine: {machine['cpu']}, {machine['cores']} cores ({machine['usable_cores']} usable), "
        f"load {machine['loadavg_at_start']}, Python {machine['python']}",
        f"versions: {versions}",
        f"triad (a = b + s*c, 1e7 float64, NumPy out=): {result['triad_Bps'] / 1e9:.2f} GB/s "
        f"(STREAM's 24 bytes/element); repeats {result['settings']['repeats']}, "
        f"warm-up {result['settings']['warmup']}, "
        f"threads {result['settings']['threads'] or 'default'}",
        "",
    ]
    header = (
        "backend", "case", "elements", "dtype", "variant", "median ms", "x native", "x each native", "first step",
        "GB/s", "% triad", "extra memory",
    )
    table = [header]
    for row in result["rows"]:
        if row.get("error"):
            table.append(
                (row["backend"], row["case"], str(row["elements"]), row["dtype"], row.get("variant") or "-",
                 row["error"][:60], "", "", "", "", "", "")
            )
            continue
        ratio = row["ratio_to_native"]
        method = {"tracemalloc": " (tracemalloc)", "rss": " (peak RSS)"}.get(row["memory_method"] or "", "")
        table.append(
            (
                row["backend"],
                row["case"],
                str(row["elements"]),
                row["dtype"],
                row["variant"],
                f"{row['median_s'] * 1e3:.3f}",
                f"{ratio:.2f}" if ratio is not None else "-",
                " / ".join(f"{r:.2f}" for r in (row.get("ratio_to_natives") or {}).values()) or "-",
                _fmt_seconds(row.get("first_step_s")) + fmt_compile(row.get("compile")),
                f"{row['bandwidth_Bps'] / 1e9:.2f}",
                f"{100 * row['triad_share']:.0f}",
                _fmt_bytes(row["extra_memory_bytes"]) + method,
            )
        )
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        cells = (str(c).ljust(w) if j in (0, 1, 3, 4) else str(c).rjust(w) for j, (c, w) in enumerate(zip(r, widths)))
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("x each native: median / each native variant's median, in the order the natives are listed.")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.step",
        description="Step time of polyprop against each framework's native RMSProp (see benchmarks/README.md).",
    )
    parser.add_argument(
        "--backend", nargs="+", default=["all"], choices=(*BACKENDS, "all"), help="backends to run (default: all)"
    )
    parser.add_argument(
        "--sizes", nargs="+", default=list(DEFAULT_SIZES),
        help="cases: element counts of one tensor (1e5) and/or 'model' (200 tensors, mixed sizes); "
        "default: %(default)s",
    )
    parser.add_argument("--dtype", nargs="+", default=list(DTYPES), choices=DTYPES, help="default: both")
    parser.add_argument("--repeats", type=int, default=20, help="timed steps per variant (median reported; default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per variant first (default 3)")
    parser.add_argument(
        "--threads", type=int, default=0,
        help="compute threads per framework (OMP/MKL/MXNet env, torch.set_num_threads, TF intra/inter-op, XLA for 1); "
        "0 (default): each framework's own choice. Use 1 on a shared or busy machine",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    for token in args.sizes:
        if token != "model":
            try:
                case_shapes(token, 0)
            except ValueError:
                parser.error(f"--sizes: {token!r} is neither a positive number nor 'model'")
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be at least 1 and --warmup at least 0")
    args.backend = list(BACKENDS) if "all" in args.backend else list(dict.fromkeys(args.backend))
    return args


def collect(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark with command-line ``argv`` and return the result (what ``--json`` prints)."""
    args = parse_args(argv)
    if args.threads:
        limit_threads(args.threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow's C++ logs (read when it is imported)
    machine = machine_info()
    triad_start = triad_bandwidth(max(args.repeats, 10))
    rows: list[dict[str, Any]] = []
    for backend in args.backend:
        for dtype in args.dtype:
            for token in args.sizes:
                rows.extend(run_case(backend, token, dtype, args, triad_start))
                print(f"done: {backend} {dtype} {token}", file=sys.stderr, flush=True)
    triad_end = triad_bandwidth(max(args.repeats, 10))
    result = {
        "machine": machine,
        "settings": {
            "backends": args.backend, "sizes": args.sizes, "dtypes": args.dtype,
            "repeats": args.repeats, "warmup": args.warmup, "seed": args.seed, "threads": args.threads,
            "lr": LR, "decay": DECAY, "eps": EPS,
        },
        "triad_Bps": triad_start,
        "triad_end_Bps": triad_end,
        "rows": rows,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = collect(argv)
    triad_end = result["triad_end_Bps"]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
        print(f"\ntriad again at the end: {triad_end / 1e9:.2f} GB/s (shares above use the first)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
