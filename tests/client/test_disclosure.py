"""A site that only secure aggregation protects refuses near-single-record updates."""

from __future__ import annotations

import pytest

from fedshield.client.disclosure import MIN_RECORDS_PER_UPDATE, check_update_size, records_per_update
from fedshield.config import Scenario
from fedshield.errors import ConfigError
from fedshield.simulation import build_federation, build_network_site

BASE = dict(site_id="a", num_records=500, secure_aggregation=True, noised_before_masking=False,
            unsafe_allow_small_updates=False)


def test_records_per_update_is_capped_by_the_data():
    assert records_per_update(num_records=500, batch_size=4, local_steps=3) == 12
    assert records_per_update(num_records=7, batch_size=32, local_steps=10) == 7


@pytest.mark.parametrize("batch, steps", [(1, 1), (4, 3), (15, 1)])
def test_small_updates_are_refused_with_the_fixes_named(batch, steps):
    with pytest.raises(ConfigError) as err:
        check_update_size(**BASE, batch_size=batch, local_steps=steps)
    msg = str(err.value)
    assert f"only {batch * steps} record(s)" in msg and "'a'" in msg
    assert "client.batch_size" in msg and "noise_placement = 'distributed'" in msg
    assert "unsafe_allow_small_updates = true" in msg


def test_the_floor_applies_only_without_noise_before_masking():
    check_update_size(**BASE, batch_size=MIN_RECORDS_PER_UPDATE, local_steps=1)
    check_update_size(**{**BASE, "secure_aggregation": False}, batch_size=1, local_steps=1)
    check_update_size(**{**BASE, "noised_before_masking": True}, batch_size=1, local_steps=1)
    check_update_size(**{**BASE, "unsafe_allow_small_updates": True}, batch_size=1, local_steps=1)
    with pytest.raises(ConfigError, match="only 9 record"):  # a tiny hospital: its whole data is the update
        check_update_size(**{**BASE, "num_records": 9}, batch_size=32, local_steps=10)


def _scenario(**over):
    raw = {"data": {"dataset": "breast-cancer", "num_sites": 3}, "client": {"batch_size": 2, "local_steps": 3},
           "secure_aggregation": {"enabled": True}}
    for k, v in over.items():
        raw[k] = {**raw.get(k, {}), **v}
    return Scenario.model_validate(raw)


def test_simulation_and_network_sites_refuse_before_training():
    with pytest.raises(ConfigError, match="only 6 record"):
        build_federation(_scenario())
    ok = _scenario(client={"batch_size": 8, "local_steps": 2})
    fed = build_federation(ok)
    with pytest.raises(ConfigError, match="only 6 record"):  # the site's own process checks too
        build_network_site(_scenario(), fed.dataset, "site-0", fed.model_factory)


@pytest.mark.filterwarnings("ignore:noise is drawn from a seeded pseudo-random generator")
def test_noise_before_masking_or_the_named_risk_lets_small_updates_through():
    build_federation(_scenario(secure_aggregation={"unsafe_allow_small_updates": True}))
    build_federation(_scenario(privacy={"mode": "client", "noise_placement": "distributed", "epsilon": 8,
                                        "delta": 1e-3, "allow_budget_exhaustion": True}))
    with pytest.raises(ConfigError, match="only 6 record"):  # server-side noise comes after unmasking
        build_federation(_scenario(privacy={"mode": "client", "noise_placement": "server", "epsilon": 8,
                                            "delta": 1e-3, "allow_budget_exhaustion": True}))
