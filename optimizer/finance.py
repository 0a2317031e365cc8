"""Finance helpers shared by the model and the results: the capital recovery factor."""

from __future__ import annotations

import numpy as np


def crf(rate: float | np.ndarray, years: float | np.ndarray) -> np.ndarray:
    """Capital recovery factor, 1/year: r(1+r)^n / ((1+r)^n - 1), or 1/n when r = 0."""
    r = np.asarray(rate, dtype=float)
    n = np.asarray(years, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        out = np.where(r > 0, r / -np.expm1(-n * np.log1p(r)), 1.0 / n)  # = r(1+r)^n / ((1+r)^n - 1)
    return out
