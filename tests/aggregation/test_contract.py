"""The aggregation contract, parametrized over every registered rule (cf. sklearn's parametrize_with_checks)."""

from __future__ import annotations

import pytest

from fedshield.aggregation import (
    create_aggregator,
    create_pre_aggregator,
    list_aggregators,
    list_pre_aggregators,
)
from fedshield.aggregation.checks import (
    aggregator_checks,
    check_aggregator,
    check_pre_aggregator,
    pre_aggregator_checks,
)

from ._helpers import AGGREGATOR_EXAMPLES, PRE_AGGREGATOR_EXAMPLES


def _agg_cases():
    for name in list_aggregators():
        agg = create_aggregator(name, **AGGREGATOR_EXAMPLES.get(name, {}))
        for check_name, check in aggregator_checks(agg):
            yield pytest.param(agg, check, id=f"{name}-{check_name}")


def _pre_cases():
    for name in list_pre_aggregators():
        pre = create_pre_aggregator(name, **PRE_AGGREGATOR_EXAMPLES.get(name, {}))
        for check_name, check in pre_aggregator_checks(pre):
            yield pytest.param(pre, check, id=f"{name}-{check_name}")


def test_every_rule_has_example_params():
    assert set(list_aggregators()) <= set(AGGREGATOR_EXAMPLES)
    assert set(list_pre_aggregators()) <= set(PRE_AGGREGATOR_EXAMPLES)


@pytest.mark.parametrize(("agg", "check"), list(_agg_cases()))
def test_aggregator_contract(agg, check):
    check(agg)


@pytest.mark.parametrize(("pre", "check"), list(_pre_cases()))
def test_pre_aggregator_contract(pre, check):
    check(pre)


@pytest.mark.parametrize(
    ("name", "params"),
    [("krum", {"f": 0}), ("trimmed_mean", {"f": 0}), ("multi_krum", {"f": 1, "m": 3}), ("bulyan", {"f": 0})],
)
def test_contract_holds_for_edge_parameters(name, params):
    check_aggregator(create_aggregator(name, **params))


def test_check_aggregator_catches_a_broken_plugin():
    from fedshield.aggregation import Aggregator

    class Broken(Aggregator):
        name = "broken"

        def __init__(self) -> None:
            pass

        def _aggregate(self, x, w, **_):
            x[0] = 0.0  # modifies its input: the contract must notice
            return x.mean(axis=0)

    with pytest.raises(AssertionError, match="Broken"):
        check_aggregator(Broken())


def test_check_pre_aggregator_runs_on_a_chain_member():
    check_pre_aggregator(create_pre_aggregator("nnm", f=1))
