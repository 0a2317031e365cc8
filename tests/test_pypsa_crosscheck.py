"""Cross-check against PyPSA: a single-site microgrid (load, grid, solar, battery) over 48 hours.

The planner's facility load is fixed here (PUE 1, no idle power, demand served as it comes), so
its energy side is a plain microgrid; PyPSA optimises the same microgrid with the same costs and
the total energy-related cost (grid energy + annualised solar + annualised battery) must agree
within 1e-6. The battery is modelled as docs/math.md says: charging and discharging are both limited
at the site's bus by one power rating (`battery_charge_limit`, `battery_discharge_limit`). A PyPSA
Link's p_nom limits its input, so the discharge link's rating is the bus-side rating divided by its
efficiency.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer import solve
from optimizer.finance import crf
from optimizer.scenario import scenario_from_dict

pypsa = pytest.importorskip("pypsa")

HOURS = 48
SUN = np.clip(np.sin((np.arange(HOURS) % 24 - 6) / 12 * np.pi), 0, None).round(4)
HOUR = np.arange(HOURS) % 24
PRICES = {  # USD/MWh: a long evening peak (charging power binds), a short one (discharging power binds)
    "evening": np.where(HOUR >= 17, 140.0, 60.0),
    "short_peak": np.where((HOUR >= 19) & (HOUR < 22), 400.0, 60.0),
}
DEMAND = (1e5 * (1 + 0.3 * np.sin((np.arange(HOURS) % 24 - 9) / 24 * 2 * np.pi))).round(1)
RATE = 0.08
SOLAR = {"capex_usd_per_mw": 900000.0, "lifetime_years": 25.0}
BATTERY = {"capex_usd_per_mwh": 150000.0, "capex_usd_per_mw": 60000.0, "lifetime_years": 15.0,
           "round_trip_efficiency": 0.81}


def planner_plan(tiny: dict, price: np.ndarray):
    tiny["time"] = {"steps": HOURS}
    tiny["gpus"]["h100"]["idle_power_kw_per_gpu"] = 0.0
    site = tiny["sites"]["texas"]
    site.update(pue=1.0, energy_price_usd_per_mwh=price.tolist(), grid_limit_mw=0.5,
                solar=dict(SOLAR, capacity_factor=SUN.tolist()), battery=BATTERY)
    tiny["markets"]["us-east"]["demand_output_tokens_per_s"]["llama-70b"] = DEMAND.tolist()
    return solve(scenario_from_dict(tiny))


@pytest.mark.parametrize("prices", PRICES)
def test_energy_cost_matches_pypsa_within_1e_6(tiny, prices):
    price = PRICES[prices]
    plan = planner_plan(tiny, price)
    ds = plan.dataset.isel(site=0)
    load = ds["facility_power_mw"].values
    weight = 8760.0 / HOURS
    planner_cost = float(ds["energy_cost_usd_per_year"] + ds["onsite_cost_usd_per_year"])

    n = pypsa.Network()
    n.set_snapshots(pd.RangeIndex(HOURS))
    n.snapshot_weightings.loc[:, "objective"] = weight  # each hour stands for 182.5 hours of the year
    n.snapshot_weightings.loc[:, ["stores", "generators"]] = 1.0  # storage moves hour to hour
    n.add("Bus", "site")
    n.add("Load", "facility", bus="site", p_set=load)
    n.add("Generator", "grid", bus="site", p_nom=0.5, marginal_cost=price)
    n.add("Generator", "solar", bus="site", p_nom_extendable=True, p_max_pu=SUN,
          capital_cost=SOLAR["capex_usd_per_mw"] * float(crf(RATE, SOLAR["lifetime_years"])))
    eta = np.sqrt(BATTERY["round_trip_efficiency"])
    n.add("Bus", "battery")
    n.add("Store", "battery", bus="battery", e_nom_extendable=True, e_cyclic=True,
          capital_cost=BATTERY["capex_usd_per_mwh"] * float(crf(RATE, BATTERY["lifetime_years"])))
    n.add("Link", "charge", bus0="site", bus1="battery", efficiency=eta, p_nom_extendable=True,
          capital_cost=BATTERY["capex_usd_per_mw"] * float(crf(RATE, BATTERY["lifetime_years"])))
    n.add("Link", "discharge", bus0="battery", bus1="site", efficiency=eta, p_nom_extendable=True)
    # one bus-side power rating B for charging and discharging, as in the planner: the charge link
    # draws at most B from the bus; the discharge link delivers eta x p_nom to it, so p_nom = B / eta
    n.optimize.create_model()
    m = n.model
    p_nom = m["Link-p_nom"]
    rating = pd.Series({"charge": 1.0, "discharge": -eta}).rename_axis(p_nom.dims[0]).to_xarray()
    m.add_constraints((rating * p_nom).sum() == 0, name="same_power_at_the_bus")
    n.optimize.solve_model(solver_name="highs")
    assert n.objective == pytest.approx(planner_cost, rel=1e-6)
    assert float(n.generators.p_nom_opt["solar"]) == pytest.approx(float(ds["solar_mw"]), rel=1e-2, abs=1e-4)
    assert float(n.stores.e_nom_opt["battery"]) == pytest.approx(float(ds["battery_mwh"]), rel=1e-2, abs=1e-4)
    assert float(n.links.p_nom_opt["charge"]) == pytest.approx(float(ds["battery_mw"]), rel=1e-2, abs=1e-4)
