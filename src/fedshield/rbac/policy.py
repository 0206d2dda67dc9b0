"""Which role may call which RPC on which resource.

The policy is data (TOML), so a consortium can review and version it; the
decision function fails closed: an unknown role, an unknown RPC or a missing
identity is a deny, never a default allow.

    [roles.site]
    rpcs = ["Join", "FetchTask", "SubmitUpdate", "SubmitEval", "Heartbeat"]
    resources = ["own"]          # a site only acts as itself
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from fedshield.errors import ConfigError

KNOWN_RPCS = frozenset({"Join", "FetchTask", "SubmitUpdate", "SubmitEval", "Heartbeat",
                        "Start", "Stop", "Status"})


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


@dataclass(frozen=True)
class Policy:
    roles: dict[str, frozenset[str]]
    resources: dict[str, frozenset[str]]

    def decide(self, role: str | None, rpc: str, resource: str = "own") -> Decision:
        if not role:
            return Decision(False, "no verified identity")
        if rpc not in KNOWN_RPCS:
            return Decision(False, f"unknown RPC {rpc!r}")
        if role not in self.roles:
            return Decision(False, f"role {role!r} is not in the policy")
        if rpc not in self.roles[role]:
            return Decision(False, f"role {role!r} may not call {rpc} (allowed: {sorted(self.roles[role])})")
        if resource not in self.resources.get(role, frozenset({"own"})) and "*" not in self.resources.get(role, ()):
            return Decision(False, f"role {role!r} may not act on resource {resource!r}")
        return Decision(True, f"role {role!r} may call {rpc}")


DEFAULT_POLICY = """
[roles.site]
rpcs = ["Join", "FetchTask", "SubmitUpdate", "SubmitEval", "Heartbeat"]
resources = ["own"]
[roles.coordinator]
rpcs = ["Start", "Stop", "Status", "Heartbeat"]
resources = ["*"]
[roles.auditor]
rpcs = ["Status"]
resources = ["*"]
[roles.observer]
rpcs = ["Status"]
resources = ["own"]
"""


def parse_policy(text: str, *, source: str = "policy") -> Policy:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"RBAC {source} is not valid TOML: {exc}.") from None
    unknown_top = set(raw) - {"roles"}
    if unknown_top or not isinstance(raw.get("roles"), dict):
        raise ConfigError(f"RBAC {source} must hold only [roles.<name>] tables; got keys {sorted(raw)}.")
    roles, resources = {}, {}
    for role, spec in raw["roles"].items():
        if not isinstance(spec, dict) or set(spec) - {"rpcs", "resources"}:
            raise ConfigError(f"RBAC {source}: [roles.{role}] may only have 'rpcs' and 'resources'.")
        rpcs = spec.get("rpcs", [])
        bad = [r for r in rpcs if r not in KNOWN_RPCS]
        if bad:
            raise ConfigError(f"RBAC {source}: [roles.{role}] names unknown RPCs {bad}; "
                              f"known: {sorted(KNOWN_RPCS)}.")
        roles[role] = frozenset(rpcs)
        resources[role] = frozenset(spec.get("resources", ["own"]))
    return Policy(roles, resources)


def load_policy(path: str | Path | None) -> Policy:
    if path is None:
        return parse_policy(DEFAULT_POLICY, source="default policy")
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"RBAC policy {str(p)!r} does not exist; pass the path of a TOML policy "
                          "such as examples/deploy/rbac.toml.")
    return parse_policy(p.read_text(encoding="utf-8"), source=f"policy {str(p)!r}")
