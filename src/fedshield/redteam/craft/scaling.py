"""Model replacement (Bagdasaryan et al., AISTATS 2020): boost a backdoored update.

With server learning rate eta and n equally weighted participants, sending
gamma (X - G) with gamma = n / eta makes the new global model ~X. Under
FedAvg weighted by example counts the same reasoning gives
gamma = total_weight / (eta * attackers' weight), which reduces to n / (eta m)
when m colluders share the replacement.
"""

from __future__ import annotations

from fedshield.errors import param_error


def replacement_scale(*, total_weight: float, malicious_weight: float, server_lr: float) -> float:
    if not server_lr > 0:
        raise param_error("server_lr", "replacement_scale", "a float > 0", server_lr)
    if not 0 < malicious_weight <= total_weight:
        expected = f"in (0, total_weight={total_weight}]"
        raise param_error("malicious_weight", "replacement_scale", expected, malicious_weight)
    return float(total_weight) / (float(server_lr) * float(malicious_weight))
