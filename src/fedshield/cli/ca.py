"""``fedshield ca``: the consortium's PKI and enrollment registry.

    fedshield ca init   --dir D [--admins 3 --threshold 2]
    fedshield ca issue  --dir D --site ID --role ROLE [--hours 72] [--host 127.0.0.1]
    fedshield ca enroll --dir D --site ID --cert C --legal-entity NAME --admin-key K ... (m of n)
    fedshield ca revoke --dir D --cert C
    fedshield ca verify --dir D
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fedshield.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ca", help="consortium PKI: root CA, certificates, revocation, enrollment")
    ca = p.add_subparsers(dest="ca_command", metavar="ACTION", required=True)
    i = ca.add_parser("init", help="create the root CA, an empty CRL and administrator keys")
    i.add_argument("--dir", required=True)
    i.add_argument("--admins", type=int, default=3, help="number of administrators n (default 3)")
    i.add_argument("--threshold", type=int, default=2, help="signatures m needed to enroll (default 2)")
    i.add_argument("--days", type=int, default=365)
    i.set_defaults(handler=_init)
    s = ca.add_parser("issue", help="issue a short-lived certificate for a site, coordinator, auditor or server")
    s.add_argument("--dir", required=True)
    s.add_argument("--site", required=True, help="identity, e.g. cleveland")
    s.add_argument("--role", required=True, choices=["coordinator", "site", "auditor", "observer", "server"])
    s.add_argument("--hours", type=float, default=72.0)
    s.add_argument("--host", action="append", default=[], help="server only: DNS name or IP (repeatable)")
    s.add_argument("--out", help="output folder (default: DIR/issued)")
    s.add_argument("--renew-key", help="re-certify this existing key (renewal keeps the enrollment valid)")
    s.set_defaults(handler=_issue)
    e = ca.add_parser("enroll", help="sign (m of n admins) and append an enrollment record")
    e.add_argument("--dir", required=True)
    e.add_argument("--site", required=True)
    e.add_argument("--cert", required=True)
    e.add_argument("--legal-entity", required=True)
    e.add_argument("--admin-key", action="append", required=True, help="an administrator key file (repeat m times)")
    e.set_defaults(handler=_enroll)
    r = ca.add_parser("revoke", help="revoke a certificate (the server picks the CRL up on the next call)")
    r.add_argument("--dir", required=True)
    r.add_argument("--cert", required=True)
    r.set_defaults(handler=_revoke)
    v = ca.add_parser("verify", help="verify the enrollment registry's signatures and hash chain")
    v.add_argument("--dir", required=True)
    v.set_defaults(handler=_verify)


def _init(args) -> int:
    from fedshield.pki.ca import init_ca
    from fedshield.pki.enrollment import create_admins

    init_ca(args.dir, days=args.days)
    create_admins(args.dir, args.admins, args.threshold)
    print(f"CA, CRL and {args.admins} administrator keys (threshold {args.threshold}) written to {args.dir}")
    return 0


def _issue(args) -> int:
    from fedshield.pki.ca import issue_certificate

    if args.host and args.role != "server":
        raise ConfigError("--host is only for --role server; client certificates carry no host names.")
    paths = issue_certificate(args.dir, identity=args.site, role=args.role, out_dir=args.out, hours=args.hours,
                              hosts=tuple(args.host), renew_key=args.renew_key)
    print(f"certificate {paths.cert}\nkey         {paths.key} (mode 0600)")
    return 0


def registry_of(ca_dir: str | Path):
    from fedshield.pki.enrollment import Admins, EnrollmentRegistry

    return EnrollmentRegistry(Path(ca_dir) / "registry.jsonl", Admins.load(Path(ca_dir) / "admins.json"))


def _enroll(args) -> int:
    from cryptography import x509

    from fedshield.pki.enrollment import body_for, load_admin_key, sign_body

    cert = x509.load_pem_x509_certificate(Path(args.cert).read_bytes())
    body = body_for(cert, args.legal_entity)
    if body["identity"] != args.site:
        raise ConfigError(f"--site {args.site!r} does not match the certificate's identity {body['identity']!r}.")
    sigs = [sign_body(body, *load_admin_key(k)) for k in args.admin_key]
    head = registry_of(args.dir).append(body, sigs)
    print(f"enrolled {args.site!r} ({args.legal_entity}); registry head {head}")
    return 0


def _revoke(args) -> int:
    from fedshield.pki.revocation import revoke

    serial = revoke(args.dir, args.cert)
    print(f"revoked serial {serial:x}; servers refuse it from their next call")
    return 0


def _verify(args) -> int:
    head = registry_of(args.dir).verify()
    print(f"registry verified; head {head}")
    return 0
