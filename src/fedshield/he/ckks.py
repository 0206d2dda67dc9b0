"""CKKS aggregation: sites encrypt, the server adds ciphertexts, the key owner decrypts the sum.

Roles (the point of the design is who holds which key):

* ``KeyOwner`` lives on the sites' side: in simulation one object the sites
  share; in deployment every site holds a copy, sealed to its certificate by
  the key steward (``keyshare``, ``fedshield he-keys``). It hands out
  ``public_context()`` — the context with the secret key stripped (TenSEAL
  ``make_context_public``) — and decrypts only aggregates (``collect.HeSiteRole``
  says which it will decrypt).
* Sites call ``encrypt_update(public_context, update, weight)``: the update is
  scaled by its weight *before* encryption and the weight rides in one extra
  slot, so the decrypted sum yields both sum_i w_i x_i and sum_i w_i, and no
  individual weight is visible to the server either.
* ``HeAggregator`` (server) loads the public context, refuses one that carries
  a secret key (fail closed: a server that could decrypt defeats the purpose),
  and only adds ciphertexts.

Addition only, so the parameters default to one 60-bit data prime with scale
2^40 (depth 0): 32 bytes per parameter on the wire instead of 57 to 81 bytes
for the usual multiplication-ready chains. The price is headroom: every
partial sum must stay below 2^(60 - 40 - 1) = 2^19 in absolute value, hence
``max_abs_value``, which encryption enforces per site.

Threat model limits (honest): CKKS hides updates from an honest-but-curious
server only; a key holder cannot verify that the ciphertext it is asked to
decrypt is really the sum (see ``collect`` and docs/robust_secure.md), so it
binds decryption to a count of contributors and to one decryption per round.
CKKS is approximate: the error is ~2^-40 relative to the scale per addition,
far below SGD noise.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedshield.errors import ConfigError, ProtocolError, SecurityError, param_error

__all__ = ["CkksParams", "CkksPublicKey", "KeyOwner", "EncryptedUpdate", "HeAggregator", "encrypt_update",
           "tenseal_available"]


def _ts() -> Any:
    try:
        import tenseal
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "Homomorphic aggregation needs TenSEAL, which is not installed; "
            "install the extra with `pip install fedshield[he]` (or `pip install tenseal`)."
        ) from exc
    return tenseal


def tenseal_available() -> bool:
    try:
        _ts()
    except ConfigError:
        return False
    return True


@dataclass(frozen=True)
class CkksParams:
    """Public CKKS parameters; everything here is known to every party."""

    poly_modulus_degree: int = 8192
    coeff_mod_bit_sizes: tuple[int, ...] = (60, 60)
    scale_bits: int = 40
    max_contributors: int = 64

    def __post_init__(self) -> None:
        owner = "CkksParams"
        n = self.poly_modulus_degree
        if n not in (4096, 8192, 16384, 32768):
            raise param_error("poly_modulus_degree", owner, "one of 4096, 8192, 16384, 32768", n)
        if len(self.coeff_mod_bit_sizes) < 2:
            raise param_error("coeff_mod_bit_sizes", owner, "at least 2 primes (data + special)",
                              self.coeff_mod_bit_sizes)
        if not 20 <= self.scale_bits < self.coeff_mod_bit_sizes[0]:
            raise param_error("scale_bits", owner, f"an int in [20, {self.coeff_mod_bit_sizes[0] - 1}]",
                              self.scale_bits)

    @property
    def slots(self) -> int:
        return self.poly_modulus_degree // 2

    @property
    def max_abs_value(self) -> float:
        """Largest |w * x| one site may encrypt so that max_contributors of them still decode."""
        data_bits = self.coeff_mod_bit_sizes[0]
        return 2.0 ** (data_bits - self.scale_bits - 1) / self.max_contributors


@dataclass(frozen=True)
class CkksPublicKey:
    """What the coordinator holds: the public context and its id (SHA-256 of the context)."""

    context: bytes
    params: CkksParams
    key_id: str


@dataclass(frozen=True)
class EncryptedUpdate:
    """Serialized CKKS ciphertexts of [w * x, w], ``slots`` values per chunk."""

    site_id: str
    dim_params: int
    chunks: tuple[bytes, ...]

    @property
    def nbytes(self) -> int:
        return sum(len(c) for c in self.chunks)


class KeyOwner:
    """Holds the secret key on the sites' side; the server only ever gets ``public_context()``.

    ``key_id`` names the key pair: the SHA-256 of the public context the
    consortium distributed (TenSEAL serialization is randomized, so the id is
    fixed once, by whoever generated the key, and travels with it).
    """

    def __init__(self, params: CkksParams | None = None, *, _context: Any = None, _key_id: str | None = None) -> None:
        ts = _ts()
        self.params = params or CkksParams()
        if _context is None:
            _context = ts.context(
                ts.SCHEME_TYPE.CKKS,
                poly_modulus_degree=self.params.poly_modulus_degree,
                coeff_mod_bit_sizes=list(self.params.coeff_mod_bit_sizes),
            )
            _context.global_scale = 2.0**self.params.scale_bits
        self._ctx = _context
        public = self._ctx.copy()
        public.make_context_public()
        self._public_ctx = public
        self._public_bytes = public.serialize(save_secret_key=False)
        self.key_id = _key_id or hashlib.sha256(self._public_bytes).hexdigest()

    @classmethod
    def from_secret_context(cls, data: bytes, *, params: CkksParams, key_id: str) -> KeyOwner:
        """Rebuild a key pair from ``secret_context()`` bytes (a site opening its sealed key)."""
        ts = _ts()
        try:
            ctx = ts.context_from(data)
        except Exception:  # noqa: BLE001 - TenSEAL raises bare ValueError/RuntimeError on garbage
            raise SecurityError("The CKKS key does not deserialize; it is damaged. Ask the key steward for a "
                                "fresh one (`fedshield he-keys`).") from None
        if not ctx.has_secret_key():
            raise SecurityError("The CKKS key file holds no secret key, so this site could not decrypt; ask the "
                                "key steward for the site's sealed key (`fedshield he-keys`).")
        if ctx.global_scale != 2.0**params.scale_bits:
            raise SecurityError(f"The CKKS key's scale is {ctx.global_scale}, its manifest says "
                                f"2^{params.scale_bits}; the key file does not match its manifest.")
        return cls(params, _context=ctx, _key_id=key_id)

    def secret_context(self) -> bytes:
        """The context *with* the secret key: for sealing to a site's certificate only, never for the wire."""
        return self._ctx.serialize(save_secret_key=True)

    def public_context(self) -> bytes:
        """The serialized context without the secret key (safe to give the server and sites)."""
        return self._public_bytes

    def public_key(self) -> CkksPublicKey:
        return CkksPublicKey(self._public_bytes, self.params, self.key_id)

    def encryption_context(self) -> Any:
        """A public-only TenSEAL context object, for this site's own encryption."""
        return self._public_ctx

    def decrypt_mean(
        self, total: EncryptedUpdate, *, expected_contributors: int | None = None, contributors: int | None = None
    ) -> tuple[np.ndarray, float]:
        """Decrypt a *sum* into (weighted mean, total weight).

        ``expected_contributors``/``contributors``: refuse to decrypt fewer than the
        sites the key owner knows took part, so a server cannot pass off one site's
        ciphertext as the aggregate.
        """
        if expected_contributors is not None and (contributors or 0) < expected_contributors:
            raise SecurityError(
                f"Refusing to decrypt: the server claims {contributors} contributors, "
                f"at least {expected_contributors} are required (one site's ciphertext must never be decrypted)."
            )
        ts = _ts()
        values = []
        for chunk in total.chunks:
            vec = ts.lazy_ckks_vector_from(chunk)
            vec.link_context(self._ctx)
            values.append(np.asarray(vec.decrypt(), dtype=np.float64))
        flat = np.concatenate(values) if values else np.zeros(0)
        if flat.shape[0] != total.dim_params + 1:
            raise ProtocolError(
                f"The decrypted aggregate has {flat.shape[0]} values, expected {total.dim_params + 1}; "
                "the ciphertext chunks do not match the model."
            )
        weight = float(flat[-1])
        if not weight > 1e-6:
            raise ProtocolError(f"The aggregate's total weight is {weight:.3g}; nothing to average.")
        return flat[:-1] / weight, weight


def _load_public(ts: Any, context: bytes) -> Any:
    ctx = ts.context_from(context)
    if ctx.has_secret_key() or ctx.is_private():
        raise SecurityError(
            "This CKKS context carries a secret key; the server and the sites must only get "
            "KeyOwner.public_context(). Refusing to use it."
        )
    return ctx


def encrypt_update(
    public_context: bytes | Any,
    update: np.ndarray,
    *,
    weight: float,
    params: CkksParams | None = None,
    site_id: str = "",
) -> EncryptedUpdate:
    """Site side: encrypt [weight * update, weight] under the public key, chunk by chunk."""
    ts = _ts()
    params = params or CkksParams()
    ctx = _load_public(ts, public_context) if isinstance(public_context, bytes) else public_context
    x = np.asarray(update, dtype=np.float64)
    if x.ndim != 1 or not np.isfinite(x).all():
        raise param_error("update", "encrypt_update", "a finite 1-D float array", x.shape)
    if not (isinstance(weight, int | float) and math.isfinite(weight) and weight > 0):
        raise param_error("weight", "encrypt_update", "a finite number > 0 (e.g. the example count)", weight)
    payload = np.append(x * float(weight), float(weight))
    n_slots, limit = params.slots, params.max_abs_value
    peak = float(np.abs(payload).max())
    if peak > limit:
        raise param_error(
            "update", "encrypt_update",
            f"values with |weight * x| and weight <= {limit:.4g} (CKKS headroom for "
            f"{params.max_contributors} sites); clip the update or scale the weights down",
            f"max {peak:.4g}",
        )
    chunks = tuple(
        ts.ckks_vector(ctx, payload[i : i + n_slots].tolist()).serialize()
        for i in range(0, payload.shape[0], n_slots)
    )
    return EncryptedUpdate(site_id, int(x.shape[0]), chunks)


class HeAggregator:
    """Server side: adds ciphertexts; it can neither decrypt nor see a plaintext."""

    def __init__(self, public_context: bytes) -> None:
        self._ts = _ts()
        self._ctx = _load_public(self._ts, public_context)
        self._sum: list[Any] | None = None
        self._dim: int | None = None
        self.contributors: list[str] = []

    def add(self, enc: EncryptedUpdate) -> None:
        if self._dim is not None and (enc.dim_params != self._dim or len(enc.chunks) != len(self._sum)):
            raise ProtocolError(
                f"Site {enc.site_id!r} sent {len(enc.chunks)} chunks for {enc.dim_params} parameters; "
                f"this round expects {len(self._sum)} chunks for {self._dim}. Its update is rejected."
            )
        if enc.site_id in self.contributors:
            raise ProtocolError(f"Site {enc.site_id!r} already contributed to this aggregate; duplicates are rejected.")
        vecs = []
        for chunk in enc.chunks:
            v = self._ts.lazy_ckks_vector_from(chunk)
            v.link_context(self._ctx)
            vecs.append(v)
        if self._sum is None:
            self._sum, self._dim = vecs, enc.dim_params
        else:
            for acc, v in zip(self._sum, vecs):
                acc.add_(v)
        self.contributors.append(enc.site_id)

    def result(self) -> EncryptedUpdate:
        if self._sum is None:
            raise ProtocolError("No site contributed an encrypted update; there is no aggregate to release.")
        return EncryptedUpdate("aggregate", int(self._dim), tuple(v.serialize() for v in self._sum))
