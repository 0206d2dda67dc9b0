"""Our epsilon must match the libraries' accountants for the same mechanism within 1%."""

import dp_accounting as dpa
import pytest
from opacus.accountants import PRVAccountant, RDPAccountant

from fedshield.errors import ConfigError
from fedshield.privacy import create_accountant, find_noise_multiplier
from fedshield.privacy.analysis import epsilon
from fedshield.privacy.analysis.pld import dp_event

HISTORIES = [
    [(1.1, 0.01, 300)],
    [(2.4, 0.02, 400)],
    [(25.0, 0.02, 300)],  # large noise: small epsilon, where Opacus's default orders fall short
    [(1.0, 1.0, 15)],  # client-level, every site every round
    [(0.9, 0.05, 50), (1.5, 0.05, 100)],  # heterogeneous composition
]
# The Fed-Heart-Disease benchmark's own mechanisms (eps 1 and 0.1, 1500 steps): slower.
BENCHMARK_HISTORIES = [[(2.4, 0.02, 1500)], [(25.0, 0.02, 1500)]]


def _dpa_epsilon(accountant, history, delta):
    accountant.compose(dp_event(history))
    return accountant.get_epsilon(delta)


@pytest.mark.parametrize("history", HISTORIES)
def test_rdp_matches_dp_accounting(history):
    ours = epsilon(history, delta=1e-5, accountant="rdp")
    theirs = _dpa_epsilon(dpa.rdp.RdpAccountant(), history, 1e-5)
    assert ours == pytest.approx(theirs, rel=0.01)


@pytest.mark.parametrize("history", HISTORIES[:2] + HISTORIES[4:])
def test_rdp_matches_opacus_when_its_orders_suffice(history):
    acc = RDPAccountant()
    acc.history = list(history)
    assert epsilon(history, delta=1e-5, accountant="rdp") == pytest.approx(acc.get_epsilon(delta=1e-5), rel=0.01)


@pytest.mark.parametrize("history", HISTORIES[1:3] + HISTORIES[4:])
def test_pld_matches_dp_accounting(history):
    ours = epsilon(history, delta=1e-5, accountant="pld")
    theirs = _dpa_epsilon(dpa.pld.PLDAccountant(), history, 1e-5)
    assert ours == pytest.approx(theirs, rel=0.01)


@pytest.mark.parametrize("history", [HISTORIES[0], HISTORIES[1], HISTORIES[4]])
def test_prv_matches_opacus(history):
    acc = PRVAccountant()
    acc.history = list(history)
    assert epsilon(history, delta=1e-5, accountant="prv") == pytest.approx(acc.get_epsilon(delta=1e-5), rel=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("history", BENCHMARK_HISTORIES)
def test_benchmark_mechanisms_match_the_libraries(history):
    for name, theirs in (("rdp", dpa.rdp.RdpAccountant()), ("pld", dpa.pld.PLDAccountant())):
        assert epsilon(history, delta=1e-4, accountant=name) == pytest.approx(
            _dpa_epsilon(theirs, history, 1e-4), rel=0.01)
    acc = PRVAccountant()
    acc.history = list(history)
    assert epsilon(history, delta=1e-4, accountant="prv") == pytest.approx(acc.get_epsilon(delta=1e-4), rel=0.01)


def test_pld_and_prv_agree_and_beat_rdp():
    h = [(1.1, 0.01, 300)]
    rdp, pld, prv = (epsilon(h, delta=1e-5, accountant=a) for a in ("rdp", "pld", "prv"))
    assert pld == pytest.approx(prv, rel=0.03)
    assert pld < rdp


@pytest.mark.parametrize("name", ["rdp", "prv"])
def test_accountant_records_history_and_projects_without_changing_it(name):
    acc = create_accountant(name)
    assert acc.get_epsilon(delta=1e-5) == 0.0
    acc.step(noise_multiplier=2.0, sample_rate=0.01, steps=100)
    acc.step(noise_multiplier=2.0, sample_rate=0.01, steps=200)
    assert acc.history == [(2.0, 0.01, 300)]
    projected = acc.epsilon_after(delta=1e-5, noise_multiplier=2.0, sample_rate=0.01, steps=100)
    assert acc.history == [(2.0, 0.01, 300)]
    assert projected > acc.get_epsilon(delta=1e-5)
    assert acc.get_epsilon(delta=1e-5) == pytest.approx(epsilon([(2.0, 0.01, 300)], delta=1e-5, accountant=name))


def test_unknown_accountant_is_refused():
    with pytest.raises(ConfigError, match="accountant"):
        create_accountant("moments")


@pytest.mark.parametrize("name,target", [("rdp", 1.0), ("rdp", 8.0), ("pld", 0.3)])
def test_calibration_hits_the_target_from_below(name, target):
    z = find_noise_multiplier(target_epsilon=target, delta=1e-5, sample_rate=0.02, steps=100, accountant=name)
    eps = epsilon([(z, 0.02, 100)], delta=1e-5, accountant=name)
    assert eps <= target
    assert eps >= 0.95 * target


def test_calibration_refuses_impossible_targets():
    with pytest.raises(ConfigError, match="epsilon"):
        find_noise_multiplier(target_epsilon=1e-9, delta=1e-12, sample_rate=1.0, steps=10_000)
