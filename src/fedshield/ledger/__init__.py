"""Tamper-evident audit ledger (HIPAA 45 CFR 164.312(b) audit controls, (c) integrity).

An RFC 9162 Merkle log in SQLite with Ed25519-signed tree heads: the engine
writes through ``AuditSink``, sites watch heads with ``TreeHeadWitness``, and
auditors run ``verify_ledger`` trusting only the coordinator's public key.
"""

from fedshield.ledger.heads import SignedTreeHead
from fedshield.ledger.keys import (
    generate_signing_key,
    key_fingerprint,
    load_public_key,
    load_signing_key,
)
from fedshield.ledger.merkle import verify_consistency, verify_inclusion
from fedshield.ledger.records import KINDS, SCHEMA_VERSION, Record, make_record
from fedshield.ledger.sink import AuditSink
from fedshield.ledger.store import Entry, LedgerStore
from fedshield.ledger.verify import LedgerReport, LedgerTamperError, verify_ledger
from fedshield.ledger.witness import TreeHeadWitness

__all__ = [
    "AuditSink",
    "Entry",
    "KINDS",
    "LedgerReport",
    "LedgerStore",
    "LedgerTamperError",
    "Record",
    "SCHEMA_VERSION",
    "SignedTreeHead",
    "TreeHeadWitness",
    "generate_signing_key",
    "key_fingerprint",
    "load_public_key",
    "load_signing_key",
    "make_record",
    "verify_consistency",
    "verify_inclusion",
    "verify_ledger",
]
