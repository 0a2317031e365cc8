"""What the world offers, read from the bundled data: each module imports only the scenario schema
(types), errors, resources and the throughput estimator, never the scenario loader.

* :mod:`~optimizer.catalogs.catalog` — sites, accelerators, LLM cards, markets, latency overrides
  as tables; throughput estimates for catalog ids; the estimator's calibration;
* :mod:`~optimizer.catalogs.policies` — dated chip-policy rule sets;
* :mod:`~optimizer.catalogs.latency` — round-trip times from great-circle distance;
* :mod:`~optimizer.catalogs.profiles` — hourly prices, carbon, PUE, solar, wind and demand shapes;
* :mod:`~optimizer.catalogs.days` — representative days of a scenario (tsam).
"""
