"""How the server reaches sites. The engine only knows ``Transport``."""

from fedshield.transport.base import Transport
from fedshield.transport.memory import InMemoryTransport

__all__ = ["Transport", "InMemoryTransport"]
