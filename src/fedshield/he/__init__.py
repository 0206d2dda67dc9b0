"""CKKS homomorphic aggregation (optional extra: ``pip install fedshield[he]``, i.e. TenSEAL).

Why a second secure-aggregation option next to SecAgg+: with CKKS the server
needs no interaction with the sites beyond one upload each (no key adverts, no
shares, no unmask round), so dropouts cost nothing; the price is about 8x the
upload of SecAgg+ (32 bytes per parameter against 4) and key holders on the
sites' side who must not collude with the server. See ``ckks`` for the roles,
``keyshare`` for how the secret key reaches the sites, ``collect`` for the round.

TenSEAL is imported lazily, so ``import fedshield.he`` works without it and
only using it raises a ConfigError that says how to install it.
"""

from fedshield.he.ckks import (
    CkksParams,
    CkksPublicKey,
    EncryptedUpdate,
    HeAggregator,
    KeyOwner,
    encrypt_update,
    tenseal_available,
)

__all__ = ["CkksParams", "CkksPublicKey", "EncryptedUpdate", "HeAggregator", "KeyOwner", "encrypt_update",
           "tenseal_available"]
