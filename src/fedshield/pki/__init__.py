"""Consortium PKI: one root CA, short-lived role certificates, a CRL the server
re-reads on change, and an m-of-n signed enrollment registry (Sybil defence)."""

from fedshield.pki.ca import ROLES, init_ca, issue_certificate
from fedshield.pki.enrollment import EnrollmentRegistry
from fedshield.pki.identity import Identity, identity_of
from fedshield.pki.revocation import RevocationList, revoke

__all__ = ["ROLES", "init_ca", "issue_certificate", "EnrollmentRegistry", "Identity", "identity_of",
           "RevocationList", "revoke"]
