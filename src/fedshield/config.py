"""Scenarios: TOML files validated at load time into typed configuration.

Why at load time: a typo in a security or privacy option must stop the run
before any hospital trains, not surface (or be silently ignored) mid-run.
Unknown keys are refused, and every message names the key, what is allowed
and what was given.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fedshield.errors import ConfigError
from fedshield.privacy.config import PrivacyConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    dataset: Literal["breast-cancer", "heart-disease", "pneumonia"] = "breast-cancer"
    data_dir: str | None = None
    num_sites: int | None = Field(default=None, ge=1, le=1000)
    alpha: float = Field(default=0.5, gt=0)
    download: bool = False


class ModelConfig(_Section):
    name: Literal["logistic", "mlp", "cnn"] = "logistic"
    params: dict[str, Any] = Field(default_factory=dict)


class ClientConfig(_Section):
    local_steps: int = Field(default=10, ge=1)
    batch_size: int = Field(default=16, ge=1)
    learning_rate: float = Field(default=0.05, gt=0)
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = Field(default=0.0, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    proximal_mu: float = Field(default=0.0, ge=0)
    class_weighting: bool = False
    augment_shift_px: int = Field(default=0, ge=0, le=8)
    # The server decays the sites' learning rate over rounds (sent with each task).
    lr_schedule: Literal["constant", "cosine"] = "constant"


class ServerConfig(_Section):
    optimizer: Literal["fedavg", "fedadam", "fedyogi", "fedadagrad"] = "fedavg"
    learning_rate: float = Field(default=1.0, gt=0)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.99, ge=0, lt=1)
    tau: float = Field(default=1e-3, gt=0)
    fraction_fit: float = Field(default=1.0, gt=0, le=1)
    min_fit_sites: int = Field(default=1, ge=1)


class AggregationConfig(_Section):
    name: str = "mean"
    params: dict[str, Any] = Field(default_factory=dict)
    pre: list[dict[str, Any]] = Field(default_factory=list)


class ScreeningConfig(_Section):
    name: str = "none"
    params: dict[str, Any] = Field(default_factory=dict)


class AuditConfig(_Section):
    # Record every round in a Merkle ledger (ledger.sqlite in the run directory).
    enabled: bool = True
    # Coordinator Ed25519 key (PEM). Default: <out>/../.fedshield-keys/coordinator.key,
    # created 0600 on first use and kept out of the run directory.
    signing_key: str | None = None


class SecureAggregationConfig(_Section):
    """SecAgg+ between the sites: the server learns only the (bucket) sums."""

    enabled: bool = False
    # "secagg+": masking (the server learns sums). "ckks": homomorphic encryption with
    # TenSEAL (extra `fedshield[he]`): the secret key stays with the sites (over the
    # network: sealed to each site's certificate by `fedshield he-keys`); ~8x the bytes of SecAgg+.
    protocol: Literal["secagg+", "ckks"] = "secagg+"
    # CKKS: the key holders refuse to decrypt an aggregate of fewer sites than this.
    min_contributors: int = Field(default=2, ge=2)
    # Every coordinate of a (clipped) update must lie in [-clip_range, clip_range];
    # it sets the fixed-point scale of the masked integers.
    clip_range: float = Field(default=1.0, gt=0)
    # Optional L2 clip applied by each site before masking (robust + secure).
    clip_norm: float | None = Field(default=None, gt=0)
    # None: one SecAgg+ group per round; k >= 2: random buckets of k sites whose
    # sums the robust aggregator then sees as rows (docs/robust_secure.md).
    bucket_size: int | None = Field(default=None, ge=2)
    weighting: Literal["examples", "uniform"] = "examples"
    degree: int | None = Field(default=None, ge=1)
    threshold: int | None = Field(default=None, ge=1)
    skip_failed_buckets: bool = False
    # True lets a site without DP noise send updates that mix fewer than 16 records
    # (fedshield.client.disclosure): the server can then invert their sum.
    unsafe_allow_small_updates: bool = False

    @property
    def uses_ckks(self) -> bool:
        return self.enabled and self.protocol == "ckks"


class SiteAdversarialTraining(_Section):
    """One site's departure from the ``[adversarial_training]`` defaults (unset keys inherit them)."""

    enabled: bool | None = None
    eps: float | None = Field(default=None, gt=0)
    steps: int | None = Field(default=None, ge=1)
    adversarial_weight: float | None = Field(default=None, ge=0, le=1)


class AdversarialTrainingSection(_Section):
    """Federated adversarial training (PGD-AT inside each site's local steps), per site.

    ``eps`` is in 1/255 steps of pixel intensity for images and in standard deviations for
    standardized tabular features; ``[adversarial_training.sites.<id>]`` overrides one site
    (e.g. ``enabled = false`` for a hospital that opts out).
    """

    enabled: bool = False
    eps: float = Field(default=2.0, gt=0)
    steps: int = Field(default=3, ge=1)
    adversarial_weight: float = Field(default=1.0, ge=0, le=1)
    sites: dict[str, SiteAdversarialTraining] = Field(default_factory=dict)

    def settings_for(self, site_id: str) -> dict[str, Any] | None:
        """This site's PGD-AT settings (eps in the section's units), or None when it trains clean."""
        own = self.sites.get(site_id, SiteAdversarialTraining())
        merged = {k: getattr(self, k) if getattr(own, k) is None else getattr(own, k)
                  for k in ("enabled", "eps", "steps", "adversarial_weight")}
        return merged if merged.pop("enabled") else None


class Scenario(_Section):
    name: str = "default"
    seed: int = Field(default=0, ge=0)
    rounds: int = Field(default=10, ge=1, le=100_000)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    client: ClientConfig = Field(default_factory=ClientConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    aggregation: AggregationConfig = Field(default_factory=AggregationConfig)
    screening: ScreeningConfig = Field(default_factory=ScreeningConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    secure_aggregation: SecureAggregationConfig = Field(default_factory=SecureAggregationConfig)
    adversarial_training: AdversarialTrainingSection = Field(default_factory=AdversarialTrainingSection)

    @model_validator(mode="after")
    def _plugins_exist(self) -> Scenario:
        """Aggregator, pre-aggregator and screener names and parameters are checked
        now, by building them once, so that a typo never reaches round 1."""
        from fedshield.aggregation import create_aggregator, create_pre_aggregator
        from fedshield.models.spec import check_model_params
        from fedshield.screening import create_screener

        try:
            create_aggregator(self.aggregation.name, **self.aggregation.params)
            for i, pre in enumerate(self.aggregation.pre):
                if "name" not in pre:
                    raise ConfigError(f"aggregation.pre[{i}] needs a 'name' key, e.g. {{ name = \"nnm\", f = 1 }}")
                create_pre_aggregator(pre["name"], **{k: v for k, v in pre.items() if k != "name"})
            create_screener(self.screening.name, **self.screening.params)
            check_model_params(self.model.name, self.model.params)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        at = self.adversarial_training
        if self.privacy.mode == "sample" and (at.enabled or any(o.enabled for o in at.sites.values())):
            raise ValueError("adversarial_training cannot be combined with privacy.mode = 'sample' yet: DP-SGD "
                             "clips per-example gradients of one forward pass, and PGD-AT adds a second one "
                             "whose gradients the privacy accounting would not cover. Use privacy.mode = "
                             "'client' with adversarial training, or turn one of them off")
        sa = self.secure_aggregation
        if sa.uses_ckks and sa.bucket_size is not None:
            raise ValueError("secure_aggregation.bucket_size applies to protocol 'secagg+' only; CKKS sums all "
                             "sites at once. Remove bucket_size or set protocol = 'secagg+'")
        return self

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True)


def _describe(err: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in err["loc"])
    given = err.get("input")
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown key {key!r} (given {given!r}); remove it or check its spelling"
    if kind == "value_error" and not key:  # a check across sections: the message says it all
        return err["msg"].removeprefix("Value error, ").rstrip(".")
    if kind == "literal_error":
        allowed = err.get("ctx", {}).get("expected", "")
        return f"the {key!r} key must be one of {allowed}. Got {given!r} instead"
    return f"the {key!r} key: {err['msg']}. Got {given!r} instead"


def validate_scenario(raw: dict[str, Any], *, source: str = "scenario") -> Scenario:
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"Invalid {source}: {problems}.") from None


def read_toml(path: str | Path, *, label: str, hint: str) -> dict[str, Any]:
    """A TOML file as a dict, or a ConfigError naming the file and how to fix it."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{label} {str(p)!r} does not exist. {hint}")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{label} {str(p)!r} is not valid TOML: {exc}.") from None


def load_scenario(path: str | Path | None, *, overrides: dict[str, Any] | None = None) -> Scenario:
    """Read and validate a scenario; ``None`` gives the embedded default."""
    raw: dict[str, Any] = {}
    source = "default scenario"
    if path is not None:
        source = f"scenario {str(path)!r}"
        raw = read_toml(path, label="Scenario file",
                        hint="Pass the path of a TOML file, e.g. examples/heart_disease.toml.")
    for key, value in (overrides or {}).items():
        if value is not None:
            raw[key] = value
    return validate_scenario(raw, source=source)
