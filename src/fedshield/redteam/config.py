"""The ``[redteam]`` scenario section: who is malicious, the grid, defense bundles.

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


class RedTeamConfig(_Section):
    malicious: MaliciousConfig
    attacks: list[str] = Field(default_factory=lambda: ["none"])
    defenses: list[str] = Field(default_factory=lambda: ["fedavg"])
    attack_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    bundles: dict[str, DefenseBundle] = Field(default_factory=dict)

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
