"""Many solves of one or more scenarios: sweeps over grids of values and samples of stated
uncertainty, run on dask.distributed (a local cluster or an existing scheduler).

- :mod:`~optimizer.sweeps.design`: the cases (grid cross products, Latin-hypercube samples of a
  scenario's ``uncertainty:`` block, one-at-a-time cases) and loading one case as a scenario.
- :mod:`~optimizer.sweeps.runner`: runs cases on dask workers, resumable, and gathers one Dataset
  with a ``case`` dim.
"""
