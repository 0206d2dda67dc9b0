"""The ``[redteam]`` scenario section: who is malicious, the grid, defense bundles, the privacy probe.

Why a section of its own, read beside the scenario: the scenario schema
refuses unknown keys and the server must not know the red team exists, so
``load_redteam`` takes the ``[redteam]`` table out before the rest is
validated as an ordinary scenario. Everything is checked at load time
(unknown keys, attack names and parameters, defense bundles).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fedshield.config import AggregationConfig, Scenario, ScreeningConfig, _describe, read_toml, validate_scenario
from fedshield.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MaliciousConfig(_Section):
    """Which sites attack (explicit ids, or a seeded draw of ``count``), from when, and how."""

    sites: list[str] | None = None
    count: int | None = Field(default=None, ge=0)
    from_round: int = Field(default=1, ge=1)
    attack: str = "none"
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_of(self) -> MaliciousConfig:
        if (self.sites is None) == (self.count is None):
            raise ValueError("give exactly one of 'sites' (a list of site ids) or 'count' (how many to draw)")
        if self.sites is not None and len(set(self.sites)) != len(self.sites):
            raise ValueError(f"'sites' lists a site twice: {self.sites}")
        return self

    @property
    def declared_f(self) -> int:
        """How many attackers the defenses are told to tolerate ("auto" parameters)."""
        return len(self.sites) if self.sites is not None else int(self.count)


class DefenseBundle(_Section):
    """A named defense: aggregation (with pre-aggregators) plus screening."""

    aggregation: AggregationConfig = Field(default_factory=AggregationConfig)
    screening: ScreeningConfig = Field(default_factory=ScreeningConfig)
    description: str = ""


class PrivacyProbeConfig(_Section):
    """``[redteam.privacy]``: gradient inversion, membership inference and evasion against the
    scenario's own federation (its DP and secure aggregation included). See
    :mod:`fedshield.redteam.privacy.probe`."""

    enabled: bool = True
    # Whose update the inversion attacks (a site id); None: the first site.
    site: str | None = None
    # Inverting Gradients, batch 1, one image at a time; 0 skips the inversion.
    inversion_images: int = Field(default=4, ge=0, le=64)
    inversion_iterations: int = Field(default=200, ge=1, le=20_000)
    # Loss-threshold membership inference; at most this many members (and as many non-members).
    membership: bool = True
    membership_examples: int = Field(default=500, ge=10, le=100_000)
    # L-inf radii: on the /255 scale for images, standardized feature units for tabular data.
    # None: [1, 2, 4, 8] (images) or [0.05, 0.1, 0.25, 0.5] (tabular); [] skips FGSM/PGD.
    adversarial_eps: list[float] | None = None
    adversarial_examples: int = Field(default=500, ge=1, le=100_000)
    pgd_steps: int = Field(default=10, ge=1, le=1000)

    @model_validator(mode="after")
    def _positive_eps(self) -> PrivacyProbeConfig:
        if self.adversarial_eps is not None and any(not e > 0 for e in self.adversarial_eps):
            raise ValueError(f"every 'adversarial_eps' must be > 0; got {self.adversarial_eps}")
        return self


class RedTeamConfig(_Section):
    malicious: MaliciousConfig
    attacks: list[str] = Field(default_factory=lambda: ["none"])
    defenses: list[str] = Field(default_factory=lambda: ["fedavg"])
    attack_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    bundles: dict[str, DefenseBundle] = Field(default_factory=dict)
    privacy: PrivacyProbeConfig | None = None

    @property
    def privacy_probe(self) -> PrivacyProbeConfig | None:
        """The probe's settings when it is on, else None."""
        return self.privacy if self.privacy is not None and self.privacy.enabled else None

    def with_privacy_probe(self) -> RedTeamConfig:
        """``--privacy``: the probe on, with the table's settings if there is one, else the defaults."""
        probe = (self.privacy or PrivacyProbeConfig()).model_copy(update={"enabled": True})
        return self.model_copy(update={"privacy": probe})

    def params_for(self, attack: str) -> dict[str, Any]:
        """``attack_params[attack]``, plus ``malicious.params`` when it is the declared attack."""
        out = dict(self.attack_params.get(attack, {}))
        if attack == self.malicious.attack:
            out.update(self.malicious.params)
        return out


def validate_redteam(raw: dict[str, Any], scenario: Scenario, *, source: str = "scenario") -> RedTeamConfig:
    """Schema, attack names/parameters and defense bundles, all before any training."""
    from fedshield.redteam.attacks import validate_attack
    from fedshield.redteam.defenses import resolve_defense

    try:
        cfg = RedTeamConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe({**e, "loc": ("redteam", *e["loc"])}) for e in exc.errors())
        raise ConfigError(f"Invalid {source}: {problems}.") from None
    for name in {cfg.malicious.attack, *cfg.attacks, *cfg.attack_params}:
        validate_attack(name, cfg.params_for(name), dataset=scenario.data.dataset)
    for name in cfg.defenses:
        resolve_defense(name, cfg.bundles, f=cfg.malicious.declared_f)
    eps = cfg.privacy.adversarial_eps if cfg.privacy is not None else None
    if eps and scenario.data.dataset == "pneumonia" and max(eps) > 255:
        raise ConfigError(
            f"Invalid {source}: the 'redteam.privacy.adversarial_eps' key is on the /255 scale for images, "
            f"so every value must be in (0, 255], e.g. [1, 2, 4, 8]. Got {eps!r} instead."
        )
    return cfg


def load_redteam(path: str | Path, *, overrides: dict[str, Any] | None = None) -> tuple[Scenario, RedTeamConfig]:
    """Read a red-team scenario TOML: the ordinary scenario plus its ``[redteam]`` table."""
    source = f"scenario {str(path)!r}"
    raw = read_toml(path, label="Scenario file", hint="Pass the path of a TOML file, e.g. examples/redteam_heart.toml.")
    red = raw.pop("redteam", None)
    if red is None:
        raise ConfigError(
            f"{source} has no [redteam] section. Add one declaring the malicious sites, e.g. "
            "[redteam.malicious] count = 4 (see examples/redteam_pneumonia.toml)."
        )
    for key, value in (overrides or {}).items():
        if value is not None:
            raw[key] = value
    scenario = validate_scenario(raw, source=source)
    return scenario, validate_redteam(red, scenario, source=source)
