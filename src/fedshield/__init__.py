"""FedShield: secure federated learning for healthcare diagnostics."""

__version__ = "0.1.0"
