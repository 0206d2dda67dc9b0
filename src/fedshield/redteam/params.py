"""Each attack's parameters as a pydantic model: unknown or out-of-range keys fail at load."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Knowledge = Literal["omniscient", "colluders"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(_Params):
    pass


class SignFlip(_Params):
    scale: float = Field(default=1.0, gt=0)


class Gaussian(_Params):
    sigma: float = Field(default=1.0, gt=0)


class LabelFlip(_Params):
    fraction: float = Field(default=1.0, gt=0, le=1)


class Alie(_Params):
    z: float | None = None  # None: Baruch et al.'s z_max for this round's n and m
    knowledge: Knowledge = "omniscient"


class Ipm(_Params):
    epsilon: float = Field(default=0.5, gt=0)
    knowledge: Knowledge = "omniscient"


class MinMax(_Params):
    perturbation: Literal["std", "unit_vec", "sign"] = "std"
    gamma_init: float = Field(default=10.0, gt=0)
    knowledge: Knowledge = "omniscient"


class Mimic(_Params):
    warmup: int = Field(default=3, ge=0)


class Fang(_Params):
    b: float = Field(default=2.0, gt=1)


class PixelBackdoor(_Params):
    fraction: float = Field(default=0.5, gt=0, le=1)
    size: int = Field(default=3, ge=1, le=14)
    corner: Literal["bottom_right", "bottom_left", "top_right", "top_left"] = "bottom_right"
    value: float = Field(default=1.0, ge=0, le=1)


class SemanticBackdoor(_Params):
    min_age: float = Field(default=55.0, ge=0)
    sex: Literal[0, 1] = 0  # UCI coding: 0 = female


class ModelReplacement(_Params):
    scale: float | None = Field(default=None, gt=0)  # None: n / eta (see craft.scaling)
    fraction: float = Field(default=0.5, gt=0, le=1)  # pixel payload only
    size: int = Field(default=3, ge=1, le=14)
    corner: Literal["bottom_right", "bottom_left", "top_right", "top_left"] = "bottom_right"
    min_age: float = Field(default=55.0, ge=0)  # semantic payload only
    sex: Literal[0, 1] = 0


class Sybil(_Params):
    payload: Literal["label_flip", "backdoor"] = "label_flip"
    jitter: float = Field(default=0.0, ge=0)  # noise std relative to the update's RMS
