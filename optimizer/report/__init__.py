"""Reports on solved plans, above the solver: :mod:`~optimizer.report.compare` puts plans side by
side (table, Dataset with a ``scenario`` dim, token trade matrix), :mod:`~optimizer.report.plots`
draws them (imported on its own: ``from optimizer.report import plots``, which loads matplotlib).
"""

from optimizer.report.compare import Comparison, Run, compare, trade_matrix

__all__ = ["Comparison", "Run", "compare", "trade_matrix"]
