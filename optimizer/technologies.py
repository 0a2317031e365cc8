"""On-site generation technologies as data: one row per technology, read by every layer.

A technology (solar PV, wind) is a capacity in MW that a site may build (a continuous investment,
annualised like the facility) whose output per MW in each hour is its capacity factor. The scenario
gives it per site under ``sites.<id>.<kind>`` (:class:`optimizer.scenario.schema.Generator`); the
inputs Dataset holds its parameters under ``<kind>_*`` names; the model has one capacity family
``<kind>_capacity`` (docs/math.md, ``K``) whose output enters ``power_balance``,
``curtailment_limit``, ``export_onsite`` and ``hourly_matching``; results report ``<kind>_mw`` and
``<kind>_generation_mw``. Everything that handles on-site generation loops over
:data:`TECHNOLOGIES`; adding one means a row here and its field on ``Site`` in the scenario
schema (``tests/test_registry.py`` checks the two agree), plus hourly profiles for catalog sites
(:mod:`optimizer.catalogs.profiles`) if it should have defaults there.

Batteries store energy rather than generate it and have their own families (model/power.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OnsiteTechnology:
    """One on-site generation technology and the names it goes by in each layer."""

    kind: str
    """Scenario key under a site (``sites.<id>.<kind>``) and prefix of its inputs and results."""
    label: str
    """Name in descriptions (``on-site <label> built``)."""

    @property
    def capacity_factor(self) -> str:
        """Input (site, time): output per MW installed, 0..1."""
        return f"{self.kind}_cf"

    @property
    def capex(self) -> str:
        """Input (site): installed cost, USD/MW (NaN where the site has no such option)."""
        return f"{self.kind}_capex_usd_per_mw"

    @property
    def lifetime(self) -> str:
        """Input (site): life for annualising, years."""
        return f"{self.kind}_lifetime_years"

    @property
    def fixed_om(self) -> str:
        """Input (site): fixed O&M, USD per MW-year."""
        return f"{self.kind}_fixed_om_usd_per_mw_year"

    @property
    def max_mw(self) -> str:
        """Input (site): most capacity the site allows, MW (NaN = no limit)."""
        return f"{self.kind}_max_mw"

    @property
    def family(self) -> str:
        """Model variable family of the capacity built (MW, per on-site site)."""
        return f"{self.kind}_capacity"

    @property
    def result(self) -> str:
        """Results variable of the capacity built (MW, by site)."""
        return f"{self.kind}_mw"

    @property
    def generation(self) -> str:
        """Results variable of the output (MW, by site and hour)."""
        return f"{self.kind}_generation_mw"


TECHNOLOGIES: tuple[OnsiteTechnology, ...] = (
    OnsiteTechnology("solar", "solar PV"),
    OnsiteTechnology("wind", "wind"),
)
"""The on-site generation technologies, in the order of their model families and results."""
