"""Role-based access control for the gRPC service, from a TOML policy."""

from fedshield.rbac.policy import Decision, Policy, load_policy

__all__ = ["Decision", "Policy", "load_policy"]
