"""The attack registry: name -> parameters, data poisoning and/or update crafting.

An attack is up to two parts: ``poison`` rewrites a malicious site's
training data (label flip, backdoors) and ``crafter`` rewrites the update it
sends (everything else, and the boosting of model replacement). Both start
at ``from_round``; before that the malicious sites behave honestly.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from fedshield.config import _describe
from fedshield.data import SiteData
from fedshield.errors import ConfigError
from fedshield.redteam import crafters as C
from fedshield.redteam import params as P
from fedshield.redteam import poison as D

BACKDOOR_DATASETS = {"pneumonia": "pixel", "heart-disease": "semantic"}


@dataclass(frozen=True)
class PoisonContext:
    dataset: str
    data_dir: Any
    seed: int
    site_index: int

    def rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.site_index, 0x9015])


def _label_flip(sd: SiteData, p, ctx: PoisonContext) -> SiteData:
    return _with_train(sd, sd.x_train, D.flip_labels(sd.y_train, fraction=p.fraction, rng=ctx.rng()))


def _pixel(sd: SiteData, p, ctx: PoisonContext) -> SiteData:
    x, y = D.pixel_backdoor(sd.x_train, sd.y_train, fraction=p.fraction, rng=ctx.rng(), size=p.size,
                            corner=p.corner, value=getattr(p, "value", 1.0))
    return _with_train(sd, x, y)


def _semantic(sd: SiteData, p, ctx: PoisonContext) -> SiteData:
    from fedshield.redteam.groups import heart_group_masks

    train_mask, _ = heart_group_masks(data_dir=ctx.data_dir, sex=p.sex, min_age=p.min_age)[sd.site_id]
    return _with_train(sd, sd.x_train, D.semantic_backdoor(sd.y_train, train_mask))


def _backdoor_payload(sd: SiteData, p, ctx: PoisonContext) -> SiteData:
    kind = BACKDOOR_DATASETS[ctx.dataset]
    if kind == "pixel":
        return _pixel(sd, P.PixelBackdoor(**_subset(p, P.PixelBackdoor)), ctx)
    return _semantic(sd, P.SemanticBackdoor(**_subset(p, P.SemanticBackdoor)), ctx)


def _sybil_payload(sd: SiteData, p: P.Sybil, ctx: PoisonContext) -> SiteData:
    if p.payload == "label_flip":
        return _label_flip(sd, P.LabelFlip(), ctx)
    return _backdoor_payload(sd, P.PixelBackdoor(), ctx)


def _subset(p: BaseModel, model: type[BaseModel]) -> dict[str, Any]:
    return {k: v for k, v in p.model_dump().items() if k in model.model_fields}


def _with_train(sd: SiteData, x: np.ndarray, y: np.ndarray) -> SiteData:
    return SiteData(sd.site_id, x.astype(np.float32, copy=False), y.astype(np.int64, copy=False), sd.x_test, sd.y_test)


@dataclass(frozen=True)
class AttackSpec:
    name: str
    summary: str
    params: type[BaseModel]
    poison: Callable[[SiteData, Any, PoisonContext], SiteData] | None = None
    crafter: Callable[[Any], C.Crafter] | None = None
    datasets: tuple[str, ...] | None = None
    backdoor: bool = False  # scored by backdoor success, not only accuracy


ATTACKS: dict[str, AttackSpec] = {s.name: s for s in (
    AttackSpec("none", "no attack: the clean baseline", P.NoParams),
    AttackSpec("sign_flip", "send -scale x own honest update", P.SignFlip, crafter=C.SignFlipCrafter),
    AttackSpec("gaussian", "send N(0, sigma^2 I) noise", P.Gaussian, crafter=C.GaussianCrafter),
    AttackSpec("label_flip", "train on flipped labels", P.LabelFlip, poison=_label_flip),
    AttackSpec("alie", "A Little Is Enough: mean - z std (Baruch et al. 2019)", P.Alie, crafter=C.AlieCrafter),
    AttackSpec("ipm", "inner-product manipulation: -eps x honest mean (Xie et al. 2020)", P.Ipm,
               crafter=C.IpmCrafter),
    AttackSpec("min_max", "AGR-agnostic min-max (Shejwalkar & Houmansadr 2021)", P.MinMax,
               crafter=lambda p: C.MinMaxCrafter(p, "min_max")),
    AttackSpec("min_sum", "AGR-agnostic min-sum (Shejwalkar & Houmansadr 2021)", P.MinMax,
               crafter=lambda p: C.MinMaxCrafter(p, "min_sum")),
    AttackSpec("mimic", "all attackers copy the most heterogeneous honest site (Karimireddy et al. 2022)",
               P.Mimic, crafter=C.MimicCrafter),
    AttackSpec("fang", "full-knowledge attack on trimmed mean / median (Fang et al. 2020)", P.Fang,
               crafter=C.FangCrafter),
    AttackSpec("backdoor", "pixel trigger: triggered pneumonia X-rays -> normal", P.PixelBackdoor,
               poison=_pixel, datasets=("pneumonia",), backdoor=True),
    AttackSpec("semantic_backdoor", "trigger-free: women over 55 -> no disease", P.SemanticBackdoor,
               poison=_semantic, datasets=("heart-disease",), backdoor=True),
    AttackSpec("model_replacement", "backdoor boosted by n / eta (Bagdasaryan et al. 2020)", P.ModelReplacement,
               poison=_backdoor_payload, crafter=C.ReplacementCrafter, datasets=tuple(BACKDOOR_DATASETS),
               backdoor=True),
    AttackSpec("sybil", "colluding fake sites all send one poisoned update", P.Sybil, poison=_sybil_payload,
               crafter=C.SybilCrafter),
)}

# The untargeted attacks a defense's worst case is taken over (the list).
WORST_CASE = ("sign_flip", "gaussian", "label_flip", "alie", "ipm", "min_max", "min_sum", "mimic")


def list_attacks() -> list[str]:
    return list(ATTACKS)


def validate_attack(name: str, params: dict[str, Any], *, dataset: str) -> BaseModel:
    """The attack's validated parameters; a ConfigError names what to fix."""
    spec = ATTACKS.get(name)
    if spec is None:
        close = difflib.get_close_matches(str(name), ATTACKS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"Unknown attack {name!r}; the red team knows {list_attacks()}.{hint}")
    if spec.datasets is not None and dataset not in spec.datasets:
        raise ConfigError(
            f"Attack {name!r} needs the dataset to be one of {list(spec.datasets)} (its payload is defined "
            f"there); this scenario uses {dataset!r}. Drop it from the attack list."
        )
    if name == "sybil" and params.get("payload") == "backdoor" and dataset not in BACKDOOR_DATASETS:
        raise ConfigError(f"Sybil payload 'backdoor' needs dataset pneumonia or heart-disease; got {dataset!r}.")
    try:
        return spec.params.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(_describe({**e, "loc": ("attack_params", name, *e["loc"])}) for e in exc.errors())
        raise ConfigError(f"Invalid parameters for attack {name!r}: {problems}.") from None


@dataclass
class BuiltAttack:
    """What ``build_federation`` takes: the two hooks, or None where the attack needs none."""

    name: str
    params: BaseModel
    malicious: list[str]
    site_wrapper: Callable | None
    transport_wrapper: Callable | None


def build_attack(name: str, params: dict[str, Any], *, dataset: str, data_dir, malicious: list[str],
                 from_round: int, server_lr: float, seed: int) -> BuiltAttack:
    from fedshield.redteam.wrappers import AdversarialTransport, PoisonedSite

    p = validate_attack(name, params, dataset=dataset)
    spec = ATTACKS[name]
    bad = frozenset(malicious) if name != "none" else frozenset()
    site_wrapper = transport_wrapper = None
    if spec.poison is not None and bad:
        def site_wrapper(site, index):
            if site.site_id not in bad:
                return site
            ctx = PoisonContext(dataset=dataset, data_dir=data_dir, seed=seed, site_index=index)
            return PoisonedSite(site, poisoned=spec.poison(site.data, p, ctx), from_round=from_round)
    if spec.crafter is not None and bad:
        crafter = spec.crafter(p)

        def transport_wrapper(inner):
            return AdversarialTransport(inner, malicious=sorted(bad), crafter=crafter, from_round=from_round,
                                        server_lr=server_lr, seed=seed)
    return BuiltAttack(name, p, sorted(bad), site_wrapper, transport_wrapper)
