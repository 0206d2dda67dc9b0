"""``fedshield he-keys``: a site's key steward generates the consortium's CKKS key pair.

    fedshield he-keys --ca-cert ca.crt --cert me.crt --key me.key \\
        --site-cert other1.crt --site-cert other2.crt ... --out ckks-keys/

Writes ``public.ckks.json`` (for the coordinator's ``[he] public_key``) and one
``<site>.ckks-key.json`` per site (its ``[he] sealed_key``), the steward's own
included. The secret key exists in plaintext only in this process's memory:
each copy on disk is sealed to one site's certificate (``fedshield.he.keyshare``).
Run it on a site, never on the coordinator.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fedshield.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("he-keys", help="key steward: generate the CKKS key pair and seal it to every site")
    p.add_argument("--ca-cert", required=True, help="the consortium CA certificate")
    p.add_argument("--cert", required=True, help="the steward site's own certificate")
    p.add_argument("--key", required=True, help="the steward site's own private key (signs the key files)")
    p.add_argument("--site-cert", action="append", default=[], help="another site's certificate (repeatable)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--poly-modulus-degree", type=int, default=8192, choices=[4096, 8192, 16384, 32768])
    p.add_argument("--max-contributors", type=int, default=64,
                   help="most sites one aggregate may sum (sets each site's value headroom; default 64)")
    p.add_argument("--force", action="store_true", help="replace key files already in --out")
    p.set_defaults(handler=_he_keys)


def _he_keys(args) -> int:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from fedshield.he import CkksParams, KeyOwner
    from fedshield.he.keyshare import seal_key, sign_public_bundle
    from fedshield.pki._files import write_private, write_public
    from fedshield.pki.identity import identity_of, load_certificate, verify_chain

    ca, steward = load_certificate(args.ca_cert), load_certificate(args.cert)
    try:
        key = serialization.load_pem_private_key(Path(args.key).read_bytes(), password=None)
    except (FileNotFoundError, ValueError, TypeError):
        raise ConfigError(f"--key {args.key!r} is not a readable, unencrypted PEM private key.") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key().public_numbers() != \
            steward.public_key().public_numbers():
        raise ConfigError(f"--key {args.key!r} is not the private key of --cert {args.cert!r}.")
    verify_chain(steward, ca)
    if identity_of(steward).role != "site":
        raise ConfigError("The key steward must be a site (role 'site'); the coordinator must never generate "
                          "or hold the CKKS secret key.")
    recipients = {identity_of(c).subject_id: c for c in [steward, *map(load_certificate, args.site_cert)]}
    out = Path(args.out)
    targets = [out / "public.ckks.json", *(out / f"{sid}.ckks-key.json" for sid in recipients)]
    clash = [str(t) for t in targets if t.exists()]
    if clash and not args.force:
        raise ConfigError(f"{clash} already exist; a new key pair makes the old files useless. Pass --force to "
                          "replace them deliberately, or choose another --out.")
    owner = KeyOwner(CkksParams(poly_modulus_degree=args.poly_modulus_degree,
                                max_contributors=args.max_contributors))
    # Seal everything first, so a bad certificate leaves no half-written key set behind.
    sealed = {sid: seal_key(owner, recipient=c, ca_cert=ca, steward_cert=steward, steward_key=key)
              for sid, c in recipients.items()}
    bundle = sign_public_bundle(owner, steward_cert=steward, steward_key=key)
    for sid, s in sealed.items():
        write_private(out / f"{sid}.ckks-key.json", s.to_json().encode())
    write_public(out / "public.ckks.json", bundle.to_json().encode())
    print(f"CKKS key {bundle.key_id[:16]}... (N = {args.poly_modulus_degree}): public.ckks.json for the "
          f"coordinator and sealed keys for {sorted(sealed)} written to {out}")
    return 0
