"""Differential privacy for FedShield: sample-level (DP-SGD at each hospital) and
client-level (DP-FedAvg), per-site budgets, and the accounting behind both.

Layout (Opacus style): ``analysis`` holds the pure math, ``accountants`` only
record histories, ``calibration`` finds noise for a budget; ``attach_privacy``
installs everything on a built federation.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Lazy: reading a scenario needs only PrivacyConfig; the accountants pull in
# Opacus and dp-accounting (seconds of imports) and load only when DP is used.
_EXPORTS = {
    "Accountant": "accountants",
    "create_accountant": "accountants",
    "attach_privacy": "attach",
    "validate_privacy": "attach",
    "find_noise_multiplier": "calibration",
    "PrivacyConfig": "config",
    "privacy_html": "report",
    "privacy_summary": "report",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from fedshield.privacy.accountants import Accountant, create_accountant
    from fedshield.privacy.attach import attach_privacy, validate_privacy
    from fedshield.privacy.calibration import find_noise_multiplier
    from fedshield.privacy.config import PrivacyConfig
    from fedshield.privacy.report import privacy_html, privacy_summary


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fedshield.privacy' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"fedshield.privacy.{module}"), name)
    globals()[name] = value
    return value
