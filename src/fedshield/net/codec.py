"""Arrays on the wire: float32 little-endian for models, ``.npy`` (no pickle)
for evaluation labels/scores so their dtype survives and metrics match the
in-process simulation bit for bit; and the SecAgg+ and CKKS stage messages (below)."""

from __future__ import annotations

import dataclasses as _dc
import io
import json as _json
import struct as _struct

import numpy as np

from fedshield.errors import FedShieldError, VerificationError


def params_to_bytes(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype="<f4").tobytes()


def bytes_to_params(data: bytes | bytearray | memoryview, expected: int, *, what: str = "update") -> np.ndarray:
    if len(data) != 4 * expected:
        raise VerificationError(f"The {what} has {len(data)} bytes; {4 * expected} (float32 x {expected}) expected. "
                                "Send a vector of the global model's shape.")
    arr = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if not np.isfinite(arr).all():
        raise VerificationError(f"The {what} contains NaN or infinite values; it is refused. Check local training.")
    return arr


def npy_bytes(array: np.ndarray | None) -> bytes:
    if array is None:
        return b""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def from_npy(data: bytes, *, max_items: int = 10_000_000) -> np.ndarray | None:
    if not data:
        return None
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise VerificationError("An evaluation array is not a valid .npy payload; it is refused.") from None
    if arr.ndim != 1 or arr.size > max_items or arr.dtype.kind not in "fiub":
        raise VerificationError(f"An evaluation array must be a 1-D numeric vector; got {arr.dtype} {arr.shape}.")
    return arr


# --- multi-stage protocol messages (SecAgg+, CKKS) ---------------------------------
#
# Why not pickle: a stage message comes from another party. The encoding below
# rebuilds only the dataclasses named in ``_STAGE_TYPES`` (and only those allowed
# in the message's direction), from JSON scalars, byte strings and fixed-dtype
# arrays; anything else is refused. Layout: MAGIC, u32 length of a JSON header,
# the header, then the raw blobs (bytes and array data) the header points into.

_MAGIC = b"FSSTAGE1"
_DTYPES = {"<u4", "<f4", "<f8", "<i8", "|u1"}
_MAX_DEPTH = 8


def _stage_types() -> dict[str, type]:
    from fedshield.client.secagg_role import SecAggBegin
    from fedshield.he import collect as he
    from fedshield.he.ckks import CkksParams, EncryptedUpdate
    from fedshield.messages import FitIns
    from fedshield.secagg import messages as m
    from fedshield.secagg.config import SecAggConfig

    return {t.__name__: t for t in (SecAggBegin, FitIns, SecAggConfig, m.KeyAdvert, m.KeyRoster, m.EncryptedShare,
                                    m.ShareBundle, m.ShareInbox, m.MaskedInput, m.SurvivorList, m.SurvivorSignature,
                                    m.UnmaskRequest, m.UnmaskShares, he.HeBegin, he.HeDecryptRequest,
                                    he.HeDecrypted, CkksParams, EncryptedUpdate)}


# What the server may send a site, and what a site may answer (top-level types).
STAGE_REQUESTS = frozenset({"SecAggBegin", "KeyRoster", "ShareInbox", "SurvivorList", "UnmaskRequest",
                            "HeBegin", "HeDecryptRequest"})
STAGE_REPLIES = frozenset({"KeyAdvert", "ShareBundle", "MaskedInput", "SurvivorSignature", "UnmaskShares",
                           "EncryptedUpdate", "HeDecrypted"})


def encode_stage(msg: object) -> bytes:
    types = _stage_types()
    blobs: list[bytes] = []
    pos = [0]

    def blob(data: bytes) -> list[int]:
        blobs.append(data)
        ref = [pos[0], len(data)]
        pos[0] += len(data)
        return ref

    def enc(v, depth=0):
        if depth > _MAX_DEPTH:
            raise ValueError("stage message nested too deeply")
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, (bytes, bytearray)):
            return {"b": blob(bytes(v))}
        if isinstance(v, np.ndarray):
            arr = np.ascontiguousarray(v)
            dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
            if dt.str not in _DTYPES:
                raise ValueError(f"arrays of dtype {arr.dtype} cannot be sent as a stage message")
            return {"a": blob(arr.astype(dt, copy=False).tobytes()), "dt": dt.str, "sh": list(arr.shape)}
        if isinstance(v, (np.integer, np.floating)):
            return v.item()
        if isinstance(v, (list, tuple)):
            return {"l": [enc(x, depth + 1) for x in v]}
        if isinstance(v, dict) or (hasattr(v, "items") and hasattr(v, "keys")):
            return {"m": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
        name = type(v).__name__
        if _dc.is_dataclass(v) and types.get(name) is type(v):
            return {"c": name, "v": {f.name: enc(getattr(v, f.name), depth + 1) for f in _dc.fields(v) if f.init}}
        raise ValueError(f"a {name} cannot be sent as a stage message")

    head = _json.dumps(enc(msg), separators=(",", ":"), allow_nan=False).encode("ascii")
    return _MAGIC + _struct.pack("<I", len(head)) + head + b"".join(blobs)


def decode_stage(data: bytes | bytearray | memoryview, *, allowed: frozenset[str], max_items: int = 1 << 28) -> object:
    """Rebuild a stage message whose top-level type is in ``allowed``; anything malformed is a VerificationError."""
    data = bytes(data)
    types = _stage_types()

    def bad(why: str):
        return VerificationError(f"A stage message is malformed ({why}); it is refused.")

    if len(data) < len(_MAGIC) + 4 or not data.startswith(_MAGIC):
        raise bad("no stage header")
    (n,) = _struct.unpack_from("<I", data, len(_MAGIC))
    start = len(_MAGIC) + 4 + n
    if start > len(data):
        raise bad("truncated header")
    try:
        tree = _json.loads(data[len(_MAGIC) + 4:start].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise bad("header is not JSON") from None
    body = memoryview(data)[start:]

    def ref(r) -> bytes:
        if not (isinstance(r, list) and len(r) == 2 and all(isinstance(x, int) and x >= 0 for x in r)
                and r[0] + r[1] <= len(body)):
            raise bad("a blob points outside the message")
        return bytes(body[r[0]:r[0] + r[1]])

    def dec(v, depth=0):
        if depth > _MAX_DEPTH:
            raise bad("nested too deeply")
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if not isinstance(v, dict):
            raise bad(f"unexpected {type(v).__name__}")
        if set(v) == {"b"}:
            return ref(v["b"])
        if set(v) == {"a", "dt", "sh"}:
            if v["dt"] not in _DTYPES or not (isinstance(v["sh"], list) and all(isinstance(s, int) and s >= 0
                                                                                  for s in v["sh"])):
                raise bad("array dtype or shape")
            raw = ref(v["a"])
            count = int(np.prod(v["sh"], dtype=np.int64)) if v["sh"] else 1
            dt = np.dtype(v["dt"])
            if count > max_items or count * dt.itemsize != len(raw):
                raise bad("array size")
            return np.frombuffer(raw, dtype=dt).reshape(v["sh"]).copy()
        if set(v) == {"l"} and isinstance(v["l"], list):
            return tuple(dec(x, depth + 1) for x in v["l"])
        if set(v) == {"m"} and isinstance(v["m"], list):
            if not all(isinstance(kv, list) and len(kv) == 2 for kv in v["m"]):
                raise bad("mapping entries")
            return {dec(k, depth + 1): dec(x, depth + 1) for k, x in v["m"]}
        if set(v) == {"c", "v"} and v["c"] in types and isinstance(v["v"], dict):
            cls = types[v["c"]]
            names = {f.name for f in _dc.fields(cls) if f.init}
            if set(v["v"]) - names:
                raise bad(f"unknown fields of {v['c']}")
            kwargs = {k: dec(x, depth + 1) for k, x in v["v"].items()}
            try:
                return cls(**kwargs)
            except (TypeError, ValueError, FedShieldError) as exc:
                raise bad(f"{v['c']}: {exc}") from None
        raise bad("unknown value")

    if not (isinstance(tree, dict) and tree.get("c") in allowed):
        raise bad(f"its type is not one of {sorted(allowed)}")
    return dec(tree)
