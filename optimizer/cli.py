"""``tokenomics``: a thin command line over the Python API.

Exit codes: 0 plan found (optimal, or feasible at a time limit), 2 bad input (or a model too big for
the memory), 3 infeasible, 4 no plan within the limits (the time limit includes the build), 1 anything
unexpected.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from optimizer.errors import ScenarioError, TokenomicsError
from optimizer.scenario import DEFAULT_SCENARIO, json_schema, load_scenario

log = logging.getLogger("optimizer")

SCENARIO_HELP = ("scenario YAML file, or the name of a bundled scenario (e.g. china_token_export; "
                 "the bundled default without SCENARIO)")


def _fmt_usd(x: float) -> str:
    for unit, div in (("bn", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"${x / div:,.2f}{unit}"
    return f"${x:,.2f}"


def print_summary(s: dict) -> None:
    """A readable plan summary on stdout."""
    print(f"scenario {s['scenario']}: {s['status']}"
          + (f" (gap {s['mip_gap']:.2%})" if (s.get('mip_gap') or 0) >= 5e-5 else ""))
    print(f"  model      {s['num_variables']:,} variables ({s['num_integer_variables']:,} integer), "
          f"{s['num_constraints']:,} constraints, {s['num_nonzeros']:,} nonzeros")
    print(f"  time       build {s['build_seconds']:.2f} s, HiGHS {s['solve_seconds']:.2f} s")
    if s.get("objective_usd_per_year") is None:
        for line in s.get("explanation", []):
            print(f"  why        {line}")
        return
    from optimizer.results import COST_TERMS

    extra = "".join(f" {'+' if sign > 0 else '-'} {name.replace('_', ' ').replace('onsite', 'on-site')} "
                    f"{_fmt_usd(s[key])}" for name, key, _, sign in COST_TERMS[3:] if s.get(key))
    print(f"  cost       {_fmt_usd(s['cost_usd_per_year'])}/year = sites {_fmt_usd(s['site_cost_usd_per_year'])}"
          f" + accelerators {_fmt_usd(s['accelerator_cost_usd_per_year'])}"
          f" + energy {_fmt_usd(s['energy_cost_usd_per_year'])}{extra}")
    if s["unserved_penalty_usd_per_year"] > 0:
        print(f"  unserved   {s['unserved_tokens_per_year']:.3g} tokens/year, penalty "
              f"{_fmt_usd(s['unserved_penalty_usd_per_year'])}/year")
    print(f"  per token  ${s['cost_per_mtok_usd']:.4f} per million tokens "
          f"(${s['cost_per_output_mtok_usd']:.4f} per million output tokens)")
    print(f"  volume     {s['tokens_per_year']:.3g} tokens/year ({s['output_tokens_per_year']:.3g} output)")
    rev = s.get("revenue_usd_per_year")
    if isinstance(rev, float) and rev == rev:
        print(f"  revenue    {_fmt_usd(rev)}/year at list prices, margin {_fmt_usd(s['margin_usd_per_year'])}/year "
              f"({s['margin_share']:.0%} of revenue)")
    print(f"  energy     {s['energy_mwh_per_year']:,.0f} MWh/year, {s['tokens_per_kwh']:,.0f} tokens/kWh, "
          f"peak {s['peak_facility_power_mw']:,.1f} MW, {s['co2_t_per_year']:,.0f} t CO2/year")
    print(f"  sites      {', '.join(s['sites_opened']) or 'none'}")
    if s.get("carbon_shadow_price_usd_per_t") is not None:
        print(f"  carbon     cap binds at {s['carbon_shadow_price_usd_per_t']:,.2f} USD/t")
    v = s.get("verification")
    if v and v.get("verified_objective_usd_per_year") is not None:
        print(f"  verified   on every day: {_fmt_usd(v['verified_objective_usd_per_year'])}/year "
              f"({v['objective_difference']:+.2%} vs plan), unserved {v['verified_unserved_tokens_per_year']:.3g} "
              f"tokens/year, peak {v['verified_peak_facility_power_mw']:,.1f} MW")
        if v.get("full_horizon_gap") is not None:
            print(f"  proven     every-day optimum >= {_fmt_usd(v['full_horizon_lower_bound_usd_per_year'])}/year: "
                  f"the verified plan is within {v['full_horizon_gap']:.2%} of it")
    print(f"  gpus       {', '.join(f'{k} {v:,}' for k, v in s['gpus'].items()) or 'none'}")


def _cmd_solve(args: argparse.Namespace) -> int:
    from optimizer.api import solve
    from optimizer.plan import SolveOptions

    sets = list(args.set or [])
    if args.representative_days is not None:
        sets.append(f"time.representative_days={args.representative_days}")
    sc = load_scenario(args.scenario, args.variant, sets)
    opts = SolveOptions(time_limit_s=args.time_limit, mip_gap=args.mip_gap, threads=args.threads,
                        log_to_console=not args.quiet, method=args.method,
                        memory_limit_gb=args.memory_limit_gb, auto_reduce=args.auto_reduce)
    plan = solve(sc, opts, raise_on_failure=False)
    if args.verify and plan.dataset is not None and sc.time.representative_days is not None:
        from optimizer.verify import default_bound_groups, verify

        full = load_scenario(args.scenario, args.variant, sets, representative_days=False)
        groups = default_bound_groups(plan.summary) if args.bound_groups is None else args.bound_groups
        plan.summary["verification"] = verify(plan, full, opts, bound_groups=groups)
    out = Path(args.out) if args.out else Path("results") / sc.name
    plan.write(out)
    print_summary(plan.summary)
    print(f"  written    {out / 'summary.json'}" + (f", {out / 'results.nc'}" if plan.dataset is not None else ""))
    return {"infeasible": 3, "unbounded": 3, "no_solution": 4}.get(plan.status, 0)


def _check_workers(args: argparse.Namespace) -> None:
    if args.workers is not None and args.workers < 1:
        raise ScenarioError(f"--workers: must be a whole number >= 1, got {args.workers}")
    if args.workers is not None and args.scheduler:
        raise ScenarioError("--workers and --scheduler: give one (a local cluster of N processes, or an existing "
                            "scheduler's workers)")


def _cmd_sweep(args: argparse.Namespace) -> int:
    from optimizer.plan import SolveOptions
    from optimizer.report.sweep_plots import sweep_table, write_sweep_charts
    from optimizer.sweeps.runner import STATUS_FAILED, sweep

    _check_workers(args)
    if args.samples is not None and args.samples < 1:
        raise ScenarioError(f"--samples: must be a whole number >= 1, got {args.samples}")
    out = Path(args.out) if args.out else Path("results") / "sweep"
    opts = SolveOptions(time_limit_s=args.time_limit, mip_gap=args.mip_gap, threads=args.threads, method=args.method)
    ds = sweep(args.scenarios, grid=args.grid, samples=args.samples, seed=args.seed, workers=args.workers,
               scheduler=args.scheduler, out_dir=out, options=opts, quiet=args.quiet, oat=not args.no_oat)
    charts = write_sweep_charts(ds, out)
    import pandas as pd

    with pd.option_context("display.width", 200, "display.float_format", lambda x: f"{x:,.4g}"):
        print(sweep_table(ds).to_string())
    failed = int(pd.Series(ds["status"].values).isin(STATUS_FAILED).sum())
    reused = int(ds["reused"].values.sum())
    print(f"\n{ds.sizes['case']} cases ({reused} read from earlier runs, {failed} without a plan) in "
          f"{ds.attrs.get('wall_seconds', float('nan')):.1f} s; written {out / 'sweep.nc'}, {out / 'sweep.csv'}, "
          f"{out / 'cases'}/, {len(charts)} charts ({', '.join(p.name for p in charts)})")
    return 0


def _dask_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, metavar="N",
                   help="solve on a local dask cluster of N worker processes (one HiGHS thread each; "
                        "sweep default: the machine's cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="solve on the workers of an existing dask scheduler, e.g. tcp://10.0.0.5:8786 (they need "
                        "this package installed and the --out folder on a shared file system)")


def _cmd_compare(args: argparse.Namespace) -> int:
    import pandas as pd

    from optimizer.plan import SolveOptions
    from optimizer.report.compare import compare

    out = Path(args.out) if args.out else Path("results") / "compare"
    opts = SolveOptions(time_limit_s=args.time_limit, mip_gap=args.mip_gap, threads=args.threads,
                        log_to_console=not args.quiet, method=args.method,
                        memory_limit_gb=args.memory_limit_gb, auto_reduce=args.auto_reduce)
    _check_workers(args)
    comp = compare(args.items, out, opts, workers=args.workers, scheduler=args.scheduler)
    from optimizer.report.plots import write_charts

    charts = write_charts(comp, out)
    shown = comp.table[["status", "cost_per_mtok_usd", "cost_per_output_mtok_usd", "tokens_per_kwh",
                        "co2_g_per_mtok", "cost_usd_per_year", "unserved_tokens_per_year", "sites_opened"]
                       + [c for c in comp.table.columns if c.startswith("gpus_")]]
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.float_format",
                           lambda x: f"{x:,.4g}"):
        print(shown.T.to_string())
        if len(comp.trade):
            print("\ntoken trade, tokens/year (rows: serving country, columns: market country)")
            for label, t in comp.trade.groupby("scenario", sort=False):
                print(f"\n{label}")
                print(t.pivot_table(index="from_country", columns="to_country", values="tokens_per_year",
                                    aggfunc="sum", fill_value=0.0).to_string())
    print(f"\nwritten {out / 'comparison.csv'}, {out / 'comparison.nc'}, {out / 'trade_matrix.csv'}, "
          f"{len(charts)} charts ({', '.join(p.name for p in charts)})")
    failed = [r.label for r in comp.runs if r.dataset is None]
    return 3 if failed else 0


def _cmd_diagnose(args: argparse.Namespace) -> int:
    from optimizer.diagnose import diagnose

    sc = load_scenario(args.scenario, args.variant, args.set)
    lines = diagnose(sc)
    if lines is None:
        from optimizer.diagnose import DIAGNOSE_TIME_LIMIT_S

        print(f"{sc.name}: undecided: HiGHS found no plan and did not prove that none exists within "
              f"{DIAGNOSE_TIME_LIMIT_S:g} s; try tokenomics solve with a longer --time-limit")
        return 4
    if not lines:
        print(f"{sc.name}: a plan exists; nothing to diagnose")
        return 0
    print(f"{sc.name}: no plan meets all demand within the limits:")
    for line in lines:
        print(f"  {line}")
    return 3


def _cmd_validate(args: argparse.Namespace) -> int:
    sc = load_scenario(args.scenario, args.variant, args.set)
    print(f"{args.scenario or DEFAULT_SCENARIO}: ok ({len(sc.sites)} sites, {len(sc.gpus)} gpus, "
          f"{len(sc.llms)} llms, {len(sc.markets)} markets, {sc.time.steps} hours)")
    return 0


def _cmd_catalog(args: argparse.Namespace) -> int:
    import pandas as pd

    from optimizer.catalogs import catalog

    df = catalog.table(args.kind)
    if args.country:
        if "country" not in df.columns:
            raise ScenarioError(f"catalog {args.kind}: has no country column to filter by")
        df = df[df["country"].isin([c.upper() for c in args.country])]
    if args.json:
        records = json.loads(df.reset_index().to_json(orient="records"))
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    shown = df[[c for c in df.columns if not c.endswith("_source") and c not in ("queue_note",)]]
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250,
                           "display.max_colwidth", 40):
        print(shown.to_string())
    print(f"\n{len(df)} {args.kind}; sources: --json or the files in data/ and models/ (see docs/data.md)")
    return 0


def _deployment_from_args(args: argparse.Namespace) -> dict[str, Any] | None:
    """The deployment fields the throughput flags state, or None when they state none (best deployment)."""
    given = (args.gpus_per_replica, args.serving, args.prefill_gpus, args.mtp_tokens_per_step, args.kv_precision,
             args.layout)
    if all(v is None for v in given):
        return None
    return {"name": "given", "gpus_per_replica": args.gpus_per_replica, "serving": args.serving,
            "prefill_gpus": args.prefill_gpus, "layout": args.layout, "mtp_tokens_per_step": args.mtp_tokens_per_step,
            "kv_precision": args.kv_precision}


def _cmd_throughput(args: argparse.Namespace) -> int:
    from optimizer.catalogs.catalog import deployment_estimates, estimate_throughput

    for flag, v, lo in (("--gpus-per-replica", args.gpus_per_replica, 1), ("--prefill-gpus", args.prefill_gpus, 1)):
        if v is not None and v < lo:
            raise ScenarioError(f"{flag}: must be a whole number >= {lo}, got {v}")
    if args.mtp_tokens_per_step is not None and args.mtp_tokens_per_step < 1:
        raise ScenarioError(f"--mtp-tokens-per-step: must be >= 1 (1 = no multi-token prediction), "
                            f"got {args.mtp_tokens_per_step:g}")
    if args.cache_hit_share is not None and not 0 <= args.cache_hit_share < 1:
        raise ScenarioError(f"--cache-hit-share: must be in [0, 1), got {args.cache_hit_share:g}")
    if args.kv_precision is not None and args.kv_precision not in ("bf16", "fp16", "fp8", "fp4"):
        raise ScenarioError(f"--kv-precision: must be bf16, fp16, fp8 or fp4, got {args.kv_precision!r}")
    if args.prefill_gpus is not None and args.serving == "aggregated":
        raise ScenarioError("--prefill-gpus: sizes the prefill pool of disaggregated serving, not of --serving aggregated")
    shape = (args.gpu, args.llm, args.precision, args.tokens_per_s_per_user, args.input_len, args.output_len)
    if args.curve:
        from optimizer.report.curves import write_throughput_curve

        path = write_throughput_curve(*shape, args.curve, cache_hit_share=args.cache_hit_share)
        print(f"wrote {path}")
    if args.deployments:
        rows = deployment_estimates(*shape, cache_hit_share=args.cache_hit_share)
        if args.json:
            print(json.dumps([{"name": d.name, **e.as_dict()} for d, e in rows], indent=2, default=str))
            return 0
        print(f"{args.llm} on {args.gpu} at {args.tokens_per_s_per_user:g} tokens/s per user, {args.input_len} in / "
              f"{args.output_len} out, cache hits {rows[0][1].cache_hit_share:.0%} (rates per GPU; disaggregated: "
              "output per decode GPU, input per prefill GPU):")
        print(f"  {'deployment':10s} {'serving':13s} {'decode':>6s} {'prefill':>7s} {'layout':7s} {'output':>9s} "
              f"{'input':>9s} {'total':>9s} {'tok/s/user':>10s} {'tokens/kWh':>10s}")
        for d, e in rows:
            if not e.feasible:
                print(f"  {d.name:10s} {d.serving:13s} {e.gpus_per_replica:6d} {'':7s} {'':7s} infeasible ({e.limit})")
                continue
            pre = e.prefill_gpus_per_replica if e.serving == "disaggregated" else 0
            print(f"  {d.name:10s} {e.serving:13s} {e.gpus_per_replica:6d} {pre:7d} {e.decode_layout:7s} "
                  f"{e.output_tokens_per_s_per_gpu:9,.0f} {e.input_tokens_per_s_per_gpu:9,.0f} "
                  f"{e.total_tokens_per_s_per_gpu:9,.0f} {e.tokens_per_s_per_user:10.1f} {e.tokens_per_kwh:10,.0f}")
        return 0
    est = estimate_throughput(*shape, deployment=_deployment_from_args(args), cache_hit_share=args.cache_hit_share)
    d = est.as_dict()
    if args.json:
        print(json.dumps(d, indent=2, default=str))
        return 0
    print(f"{args.llm} on {args.gpu} at {args.tokens_per_s_per_user:g} tokens/s per user, "
          f"{args.input_len} in / {args.output_len} out:")
    how = "as given" if _deployment_from_args(args) else "the estimator's best (--deployments lists all)"
    print(f"  deployment ({how}): {est.deployment}")
    for k, v in d.items():
        if k == "deployment":
            continue
        print(f"  {k:36s} {v:,.4g}" if isinstance(v, int | float) and not isinstance(v, bool) else f"  {k:36s} {v}")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    import pandas as pd

    from optimizer.catalogs.catalog import calibration

    df = calibration()
    cols = [c for c in ("id", "source_group", "gpu", "llm", "metric", "measured", "estimate", "rel_error",
                        "heldout_estimate", "heldout_rel_error", "loo_estimate", "loo_rel_error", "excluded")
            if c in df.columns]
    with pd.option_context("display.width", 250, "display.max_rows", 500):
        print(df[cols].to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    groups = df.attrs.get("groups")
    if groups is not None and len(groups):
        print("\nper source group (held out: refit without the group, then predict its rows):")
        with pd.option_context("display.width", 250, "display.max_rows", 500):
            print(groups.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    summary = df.attrs.get("summary", {})
    print()
    for label, med, worst in (("fit (in-sample)", "median_abs_rel_error", "max_abs_log2_error"),
                              ("held out by source", "heldout_median_abs_rel_error", "heldout_max_abs_log2_error"),
                              ("leave one row out", "loo_median_abs_rel_error", "loo_max_abs_log2_error")):
        if med in summary:
            print(f"{label:20s} median |error| {summary[med]:.1%}, worst row {2 ** summary[worst]:.2f}x "
                  f"(max |log2| {summary[worst]:.3f})")
    for k, v in summary.items():
        print(f"{k:32s} {v:.4g}" if isinstance(v, float) else f"{k:32s} {v}")
    if args.write is not None:
        from optimizer import throughput as tp

        path = Path(args.write) if args.write else tp.calibration_path()
        old, new = tp.read_calibration_if_any(path), tp.calibration_from_fit(df)
        tp.write_calibration(new, path)
        changes = tp.calibration_changes(old, new)
        print(f"\nwrote {path}" + (":" if changes else " (no value changed)"))
        for line in changes:
            print(f"  {line}")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def _solver_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-limit", type=float,
                   help="time limit per scenario, seconds, model build included (HiGHS gets what the build leaves)")
    p.add_argument("--mip-gap", type=float, default=1e-4, help="relative MIP gap (default 1e-4)")
    p.add_argument("--threads", type=int, help="solver threads")
    p.add_argument("--method", "--strategy", dest="method", choices=["auto", "mip", "fast"], default="auto",
                   help="solver method (--strategy is its former name): mip: plain branch-and-bound; fast: "
                        "bound from few groups of hours, plans priced on every hour, refined until the gap "
                        "closes (docs/math.md); auto (default): fast above 300,000 nonzeros")
    p.add_argument("--memory-limit-gb", type=float, metavar="GB",
                   help="refuse a model whose estimated peak memory exceeds this (default: the memory available)")
    p.add_argument("--auto-reduce", action="store_true",
                   help="instead of refusing a model too big for the memory, plan on as many representative "
                        "days as fit (whole-day horizons)")
    p.add_argument("--quiet", action="store_true", help="hide the HiGHS log and progress lines")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tokenomics", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("solve", help="solve a scenario (the bundled default without SCENARIO)")
    s.add_argument("scenario", nargs="?", help=SCENARIO_HELP)
    s.add_argument("--out", help="output folder (default results/<scenario name>)")
    _solver_args(s)
    s.add_argument("--variant", help="apply the scenario's named variant (its 'variants:' key)")
    s.add_argument("--representative-days", type=int, metavar="N",
                   help="plan on N typical days (tsam) standing for the modelled days")
    s.add_argument("--verify", action="store_true",
                   help="with representative days: fix the plan's investments and re-solve the dispatch on "
                        "every modelled day; report the true cost, unserved tokens and peak power, and a "
                        "proven lower bound on the every-day optimum (see --bound-groups)")
    s.add_argument("--bound-groups", type=int, metavar="N",
                   help="with --verify: groups of hours of the relaxation that bounds the every-day optimum "
                        "(default: as many as the plan's time steps, fewer for large worlds; 0 = no bound)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one dot-key, e.g. sites.cn-nmg.energy_price_usd_per_mwh=30 (repeatable)")
    s.set_defaults(func=_cmd_solve)
    cm = sub.add_parser("compare", help="solve scenarios (or read run folders) and compare them side by side")
    cm.add_argument("items", nargs="+", help="scenario files (FILE or FILE#variant) or finished run folders")
    cm.add_argument("--out", help="output folder (default results/compare)")
    _solver_args(cm)
    _dask_args(cm)
    cm.set_defaults(func=_cmd_compare)
    sw = sub.add_parser("sweep", help="solve many cases (grids of values, samples of stated uncertainty) on dask")
    sw.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario files (FILE or FILE#variant) or "
                                                                     "bundled scenario names")
    sw.add_argument("--grid", action="append", metavar="KEY=V1,V2,...",
                    help="values of one dot-key (as --set); several grids form their cross product")
    sw.add_argument("--samples", type=int, metavar="N",
                    help="draw N cases from each scenario's uncertainty: block (Latin hypercube)")
    sw.add_argument("--seed", type=int, default=0, help="seed of the sample draw (default 0)")
    sw.add_argument("--no-oat", action="store_true",
                    help="with --samples: leave out the one-at-a-time cases behind the tornado chart")
    sw.add_argument("--out", help="output folder (default results/sweep): sweep.nc, sweep.csv, cases/, charts")
    sw.add_argument("--time-limit", type=float, help="time limit per case, seconds")
    sw.add_argument("--mip-gap", type=float, default=1e-4, help="relative MIP gap (default 1e-4)")
    sw.add_argument("--threads", type=int, help="HiGHS threads per case (default 1)")
    sw.add_argument("--method", choices=["auto", "mip", "fast"], default="auto", help="solver method (as solve)")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    _dask_args(sw)
    sw.set_defaults(func=_cmd_sweep)
    dg = sub.add_parser("diagnose", help="explain in detail why a scenario has no plan")
    dg.add_argument("scenario", nargs="?", help=SCENARIO_HELP)
    dg.add_argument("--variant", help="apply the scenario's named variant")
    dg.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one dot-key (repeatable)")
    dg.set_defaults(func=_cmd_diagnose)
    v = sub.add_parser("validate", help="check a scenario without solving")
    v.add_argument("scenario", nargs="?", help=SCENARIO_HELP)
    v.add_argument("--variant", help="apply the scenario's named variant")
    v.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one dot-key (repeatable)")
    v.set_defaults(func=_cmd_validate)
    c = sub.add_parser("catalog", help="print a bundled catalog as a table (or JSON records)")
    c.add_argument("kind", choices=["sites", "gpus", "llms", "markets", "policies"])
    c.add_argument("--country", action="append", help="only rows of this country (ISO2; repeatable)")
    c.add_argument("--json", action="store_true", help="print a JSON list of records, ids under 'id'")
    c.set_defaults(func=_cmd_catalog)
    t = sub.add_parser("throughput", help="estimate throughput and energy per token of an LLM on an accelerator")
    t.add_argument("--gpu", required=True, help="accelerator id (tokenomics catalog gpus)")
    t.add_argument("--llm", required=True, help="LLM id (tokenomics catalog llms)")
    t.add_argument("--precision", help="weights precision: bf16, fp8, fp4, int8 (default: the card's)")
    t.add_argument("--tokens-per-s-per-user", type=float, default=20.0, help="output tokens/s per user (default 20)")
    t.add_argument("--input-len", type=int, default=4096, help="input tokens per request (default 4096)")
    t.add_argument("--output-len", type=int, default=1024, help="output tokens per request (default 1024)")
    t.add_argument("--gpus-per-replica", type=int, metavar="N",
                   help="GPUs of one replica (disaggregated: of the decode pool); default: the estimator sizes it")
    t.add_argument("--serving", choices=["aggregated", "disaggregated"],
                   help="aggregated: prefill and decode on the same GPUs; disaggregated (default): separate pools")
    t.add_argument("--prefill-gpus", type=int, metavar="N",
                   help="disaggregated: GPUs of the prefill pool (default: the best prefill pool size)")
    t.add_argument("--mtp-tokens-per-step", type=float, metavar="X",
                   help="tokens emitted per decode step with multi-token prediction (default 1 = off)")
    t.add_argument("--cache-hit-share", type=float, metavar="S",
                   help="share of input tokens served from the prefix cache (default: the card's)")
    t.add_argument("--kv-precision", metavar="P", help="KV-cache precision: bf16, fp8 (default: the card's)")
    t.add_argument("--layout", choices=["best", "tp", "dp-ep"], help="decode layout (default: the best)")
    t.add_argument("--deployments", action="store_true",
                   help="print every candidate deployment (the card's, the planner's, each replica size) with its rates")
    t.add_argument("--curve", metavar="FILE.png",
                   help="plot throughput per GPU against tokens/s per user for each candidate deployment")
    t.add_argument("--json", action="store_true", help="print the estimate as JSON (with the deployment used)")
    t.set_defaults(func=_cmd_throughput)
    cal = sub.add_parser("calibrate", help="estimator vs published measurements (data/benchmarks.csv)")
    cal.add_argument("--write", nargs="?", const="", metavar="FILE",
                     help="store the refitted constants in data/throughput_calibration.yaml (or FILE), "
                          "atomically, and print what changed")
    cal.set_defaults(func=_cmd_calibrate)
    sch = sub.add_parser("schema", help="print the scenario JSON Schema")
    sch.set_defaults(func=_cmd_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet = getattr(args, "quiet", False)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    verbose = not quiet and args.command in ("solve", "compare")  # model sizes, fast-method progress
    logging.getLogger("optimizer").setLevel(logging.DEBUG if args.debug else logging.INFO if verbose
                                            else logging.WARNING)
    if args.debug:
        logging.getLogger("pyomo").setLevel(logging.WARNING)  # a DEBUG pyomo logger slows builds ~100x
    try:
        return int(args.func(args))
    except TokenomicsError as exc:
        if args.debug:
            raise
        for line in exc.messages:
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head & co.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug or an environment problem: one line, the traceback with --debug
        if args.debug:
            raise
        msg = " ".join(str(exc).split()) or "(no message)"
        print(f"error: {type(exc).__name__}: {msg} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
