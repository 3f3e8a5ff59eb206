"""The numbers MXNet 1.9.1 reads: every scalar argument goes through dmlc's C++ float parser."""

from __future__ import annotations

from typing import Any

import numpy as np


def _mx_float(value: Any) -> float:
    """The C++ float MXNet 1.9.1 makes of a scalar argument: ``dmlc::stof(str(value))``.

    MXNet passes every operator argument as ``str(value)``, and dmlc-core parses it
    by hand: ``float(integer part) + float(fraction digits / 10^k)``, then divided or
    multiplied by ``10^e`` built in float32.  That is not always the nearest float32:
    about 13% of numbers below 1e-4 (written with an exponent) come out one ulp away,
    and so do some above 1.  As there, ``inf`` and ``nan`` read as themselves, and a
    decimal exponent beyond 38 (or 38 with a significand out of float32's range),
    unreadable text and trailing characters are errors (ValueError).
    """
    f32, text = np.float32, str(value).strip()
    i = 1 if text[:1] in ("-", "+") else 0
    sign = -1.0 if text[:1] == "-" else 1.0
    if text[i:].lower() in ("inf", "infinity", "nan"):
        return sign * float(text[i:])

    def digits() -> str:
        nonlocal i
        start = i
        while i < len(text) and text[i] in "0123456789":
            i += 1
        return text[start:i]

    whole = digits()
    v = f32(int(whole or "0") % 2**64)
    if text[i : i + 1] == ".":
        i += 1
        fraction = digits()[:19]  # dmlc ignores the digits after the 19th
        v = f32(v + f32(float(int(fraction or "0")) / float(10 ** len(fraction))))
    if text[i : i + 1] in ("e", "E"):
        i += 1
        shrink = text[i : i + 1] == "-"
        i += text[i : i + 1] in ("-", "+")
        exponent = int(digits() or "0")
        if exponent > 38 or (exponent == 38 and (v < f32(1.175494351) if shrink else v > f32(3.402823466))):
            raise ValueError(f"{text!r} is out of the range MXNet's C++ float parser reads")
        scale = f32(1.0)
        for factor in [f32(1e8)] * (exponent // 8) + [f32(10.0)] * (exponent % 8):
            scale = f32(scale * factor)
        with np.errstate(over="ignore"):  # beyond float32: inf, as the C++ float
            v = f32(v / scale) if shrink else f32(v * scale)
    i += text[i : i + 1] in ("f", "F")
    if i == 0 or i < len(text):
        raise ValueError(f"MXNet cannot read {text!r} as a number")
    return sign * float(v)
