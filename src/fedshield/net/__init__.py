"""Deployment over the network: mutual-TLS gRPC between the coordinator and
hospital sites. ``GrpcTransport`` implements the engine's ``Transport``, so
``run_round`` is the same code as in simulation."""

from fedshield.net.coordinator import Coordinator
from fedshield.net.transport import GrpcTransport

__all__ = ["Coordinator", "GrpcTransport"]
