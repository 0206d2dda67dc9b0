import numpy as np

from fedshield.messages import EvaluateIns, FitIns, FitRes, SiteFailure
from fedshield.redteam.attacks import build_attack
from fedshield.redteam.wrappers import PoisonedSite


class FakeTransport:
    def __init__(self, deltas):
        self.deltas = deltas
        self.delivered = ["x"]

    def site_ids(self):
        return list(self.deltas)

    def fit(self, site_ids, ins):
        return [FitRes(s, ins.round_num, self.deltas[s].astype(np.float32), 10) if s != "down"
                else SiteFailure(s, ins.round_num, "offline") for s in site_ids]

    def evaluate(self, site_ids, ins):
        return ["eval", list(site_ids)]


def _ins(rnd):
    return FitIns(run_id="r", round_num=rnd, parameters=np.zeros(4, np.float32))


def _transport(attack, **kw):
    rng = np.random.default_rng(0)
    deltas = {f"s{i}": rng.normal(size=4) for i in range(6)} | {"down": np.zeros(4)}
    built = build_attack(attack, kw, dataset="breast-cancer", data_dir=None, malicious=["s1", "s4"],
                         from_round=3, server_lr=1.0, seed=0)
    return deltas, built.transport_wrapper(FakeTransport(deltas))


def test_colluders_rewrite_only_their_answers_from_the_start_round():
    deltas, t = _transport("ipm", epsilon=0.5)
    ids = t.site_ids()
    early = t.fit(ids, _ins(2))
    assert all(np.allclose(a.delta, deltas[a.site_id]) for a in early if isinstance(a, FitRes))
    late = t.fit(ids, _ins(3))
    by_id = {a.site_id: a for a in late}
    honest_mean = np.mean([deltas[s] for s in ("s0", "s2", "s3", "s5")], axis=0)
    for s in ("s1", "s4"):
        np.testing.assert_allclose(by_id[s].delta, -0.5 * honest_mean, rtol=1e-5)
    for s in ("s0", "s2", "s3", "s5"):
        np.testing.assert_allclose(by_id[s].delta, deltas[s], rtol=1e-6)
    assert isinstance(by_id["down"], SiteFailure)
    assert t.evaluate(["s1"], None) == ["eval", ["s1"]]  # evaluation passes through
    assert t.delivered == ["x"]


def test_crafting_is_deterministic_per_round():
    _, t1 = _transport("gaussian", sigma=1.0)
    _, t2 = _transport("gaussian", sigma=1.0)
    a, b = t1.fit(["s0", "s1"], _ins(5)), t2.fit(["s0", "s1"], _ins(5))
    np.testing.assert_array_equal(a[1].delta, b[1].delta)


def test_no_attack_means_no_hooks():
    built = build_attack("none", {}, dataset="breast-cancer", data_dir=None, malicious=["s1"], from_round=1,
                         server_lr=1.0, seed=0)
    assert built.site_wrapper is None and built.transport_wrapper is None and built.malicious == []


class FakeSite:
    def __init__(self, data):
        self.site_id, self.data = "s0", data

    def fit(self, ins):
        return self.data

    def evaluate(self, ins):
        return self.data


def test_poisoned_site_trains_on_poison_only_while_attacking():
    site = FakeSite("clean")
    p = PoisonedSite(site, poisoned="poison", from_round=2)
    assert p.fit(_ins(1)) == "clean" and p.fit(_ins(2)) == "poison"
    assert site.data == "clean" and p.evaluate(EvaluateIns("r", 2, np.zeros(4))) == "clean"
