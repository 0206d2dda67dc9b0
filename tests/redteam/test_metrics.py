from types import SimpleNamespace

from fedshield.redteam.metrics import screening_rates
from fedshield.redteam.runner import resolve_malicious
from fedshield.redteam.config import MaliciousConfig


def _rec(rnd, verdicts):
    return SimpleNamespace(round_num=rnd, verdicts=[{"site_id": s, "decision": d} for s, d in verdicts])


def test_screening_rates_count_malicious_only_while_attacking():
    history = [
        _rec(1, [("a", "rejected"), ("b", "accepted")]),  # before from_round: 'a' is honest, a false positive
        _rec(2, [("a", "rejected"), ("b", "accepted"), ("c", "rejected")]),
        _rec(3, [("a", "clipped"), ("b", "accepted"), ("c", "accepted")]),
    ]
    r = screening_rates(history, malicious={"a"}, from_round=2)
    assert r["tpr"] == 0.5 and r["fpr"] == 2 / 6
    assert r["flag_tpr"] == 1.0 and r["flag_fpr"] == 2 / 6
    assert (r["malicious_updates"], r["honest_updates"]) == (2, 6)


def test_malicious_draw_is_seeded_and_sized():
    ids = [f"site-{i}" for i in range(20)]
    a = resolve_malicious(MaliciousConfig(count=4), ids, seed=0)
    assert a == resolve_malicious(MaliciousConfig(count=4), ids, seed=0) and len(set(a)) == 4
    assert resolve_malicious(MaliciousConfig(sites=["site-3"]), ids, seed=0) == ["site-3"]
