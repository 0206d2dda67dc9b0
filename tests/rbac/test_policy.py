from __future__ import annotations

import pytest

from fedshield.errors import ConfigError
from fedshield.rbac.policy import load_policy, parse_policy


def test_default_policy_fails_closed():
    p = load_policy(None)
    assert p.decide("site", "SubmitUpdate").allowed
    assert not p.decide("site", "Start").allowed
    assert not p.decide("auditor", "SubmitUpdate").allowed
    assert p.decide("auditor", "Status").allowed
    assert p.decide("coordinator", "Stop").allowed
    assert not p.decide(None, "Status").allowed
    assert not p.decide("site", "DropTables").allowed
    assert not p.decide("intruder", "Status").allowed
    assert not p.decide("observer", "Status", resource="other").allowed


def test_example_policy_loads():
    from pathlib import Path

    p = load_policy(Path(__file__).resolve().parents[2] / "examples" / "deploy" / "rbac.toml")
    assert p.decide("site", "FetchTask").allowed


@pytest.mark.parametrize("text,match", [
    ("[roles.site]\nrpcs = ['Join', 'Nuke']", "unknown RPCs"),
    ("[roles.site]\nrpc = ['Join']", "may only have"),
    ("admin = true", "only"),
    ("[roles", "not valid TOML"),
])
def test_bad_policies_refused(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_policy(text)
