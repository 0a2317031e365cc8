"""Property-based input fuzzing: every mutation of a valid scenario either solves or is reported
as a user error (exit 2) or an explained infeasibility (exit 3) — never a traceback."""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.cli import main

HERE = Path(__file__).parent
TINY = yaml.safe_load((HERE / "scenarios" / "tiny.yaml").read_text())
CATALOG = {
    "name": "fuzz", "time": {"start": "2025-07-01", "days": 1}, "policy": "us-2025-12",
    "unserved_penalty_usd_per_mtok": 20,
    "sites": {"include": ["us-ercot", "cn-nmg"], "us-ercot": {"grid_limit_mw": 100}},
    "gpus": {"include": ["h100", "h20"]}, "llms": {"include": ["llama-3.1-8b"]},
    "markets": {"include": ["us-east", "cn-east"], "defaults": {"demand_share": {"llama-3.1-8b": 1e-4}},
                "cn-east": {"served_from": ["CN"]}},
}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "500"))


def paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in a nested mapping/list."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:3]):
            out += paths(v, (*prefix, i))
    return out


def get_parent(doc: object, path: tuple) -> tuple[object, object]:
    node = doc
    for p in path[:-1]:
        node = node[p]
    return node, path[-1]


WEIRD = st.sampled_from([math.nan, math.inf, -math.inf, -1.0, -1e9, 0, 1e300, "", "x", True, None, [], {},
                         [1.0], {"file": "nope.csv", "column": "a"}, "2025-13-01", "NO"])


@st.composite
def mutated(draw: st.DrawFn) -> dict:
    doc = copy.deepcopy(draw(st.sampled_from([TINY, CATALOG])))
    for _ in range(draw(st.integers(1, 3))):
        ps = paths(doc)
        if not ps:
            break
        path = draw(st.sampled_from(ps))
        parent, key = get_parent(doc, path)
        action = draw(st.sampled_from(["drop", "weird", "truncate", "rename", "scale"]))
        value = parent[key]
        if action == "drop" and isinstance(parent, dict):
            del parent[key]
        elif action == "weird":
            parent[key] = copy.deepcopy(draw(WEIRD))
        elif action == "truncate" and isinstance(value, list):
            parent[key] = value[: draw(st.integers(0, max(0, len(value) - 1)))]
        elif action == "rename" and isinstance(parent, dict):
            parent[str(key) + draw(st.sampled_from(["x", "-2", "_"]))] = parent.pop(key)
        elif action == "scale" and isinstance(value, int | float) and not isinstance(value, bool):
            parent[key] = value * draw(st.sampled_from([0, 0.01, 10, 1e6, -1]))
    return doc


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
@given(doc=mutated())
def test_mutations_solve_or_give_a_clear_error(tmp_path_factory, capsys, doc):
    d = tmp_path_factory.mktemp("fuzz")
    p = d / "s.yaml"
    p.write_text(yaml.safe_dump(doc))
    code = main(["solve", str(p), "--quiet", "--time-limit", "20", "--out", str(d / "out")])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code in (0, 2, 3, 4), f"exit {code}: {err}"
    if code == 2:
        lines = [x for x in err.splitlines() if x.strip()]
        assert lines and all(x.startswith("error: ") for x in lines), err
