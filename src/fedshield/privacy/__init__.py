"""Differential privacy for FedShield: sample-level (DP-SGD at each hospital) and
client-level (DP-FedAvg), per-site budgets, and the accounting behind both.

Layout (Opacus style): ``analysis`` holds the pure math, ``accountants`` only
record histories, ``calibration`` finds noise for a budget; ``attach_privacy``
installs everything on a built federation.
"""

from fedshield.privacy.accountants import Accountant, create_accountant
from fedshield.privacy.attach import attach_privacy, validate_privacy
from fedshield.privacy.calibration import find_noise_multiplier
from fedshield.privacy.config import PrivacyConfig
from fedshield.privacy.report import privacy_html, privacy_summary

__all__ = [
    "Accountant",
    "PrivacyConfig",
    "attach_privacy",
    "create_accountant",
    "find_noise_multiplier",
    "privacy_html",
    "privacy_summary",
    "validate_privacy",
]
