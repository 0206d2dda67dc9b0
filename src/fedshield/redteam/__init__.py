"""The poisoning red team: attacks FedShield's own defenses, never imported by the server.

Why a separate package: attacks need to see what the server must never
see (honest updates, the malicious site list), so the server code stays free
of it; the simulation reaches it only through ``site_wrapper`` and
``transport_wrapper`` hooks. See ``fedshield.redteam.runner`` for the grid.
"""

from fedshield.redteam.attacks import ATTACKS, list_attacks
from fedshield.redteam.config import MaliciousConfig, RedTeamConfig, load_redteam
from fedshield.redteam.defenses import BUILTIN_DEFENSES, list_defenses

__all__ = [
    "ATTACKS",
    "BUILTIN_DEFENSES",
    "MaliciousConfig",
    "RedTeamConfig",
    "list_attacks",
    "list_defenses",
    "load_redteam",
]
