"""One exception tree for every error a FedShield user can act on.

Why: the CLI maps each family to a stable exit code, and callers can catch
``FedShieldError`` without swallowing programming errors (``TypeError`` & co.).
Every message says what was wrong and how to fix it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FedShieldError",
    "ConfigError",
    "DataError",
    "SecurityError",
    "VerificationError",
    "AuthorizationError",
    "PrivacyBudgetExceeded",
    "AggregationError",
    "ProtocolError",
    "TransportError",
    "param_error",
    "EXIT_OK",
]

EXIT_OK = 0


class FedShieldError(Exception):
    """Base of every error FedShield raises on purpose."""

    exit_code = 1


class ConfigError(FedShieldError, ValueError):
    """A scenario, parameter or option is invalid (caught at load time)."""

    exit_code = 2


class DataError(FedShieldError, ValueError):
    """A dataset file is missing, malformed or does not match its checksum."""

    exit_code = 3


class SecurityError(FedShieldError):
    """A security check failed or could not be made; FedShield fails closed."""

    exit_code = 4


class VerificationError(SecurityError):
    """A signature, proof, certificate or hash did not verify."""


class AuthorizationError(SecurityError):
    """The caller is authenticated but not allowed to do this."""


class PrivacyBudgetExceeded(FedShieldError):
    """Training further would spend more privacy budget than a site allows."""

    exit_code = 5


class AggregationError(FedShieldError, ValueError):
    """An aggregator's preconditions do not hold (e.g. too many Byzantine sites)."""

    exit_code = 6


class ProtocolError(FedShieldError):
    """A multi-party protocol cannot complete (e.g. too few SecAgg survivors)."""

    exit_code = 7


class TransportError(FedShieldError):
    """A site or the server could not be reached or answered out of protocol."""

    exit_code = 8


def param_error(
    name: str, owner: str, expected: str, got: Any, *, cls: type[FedShieldError] = ConfigError
) -> FedShieldError:
    """Build the one error template used across FedShield.

    >>> str(param_error("rounds", "simulate", "an int >= 1", -3))
    "The 'rounds' parameter of simulate must be an int >= 1. Got -3 instead."
    """
    return cls(f"The {name!r} parameter of {owner} must be {expected}. Got {got!r} instead.")
