"""CKKS (TenSEAL) aggregation cost: ciphertext expansion, time and error.

Sites encrypt [w * x, w] under a public-only context, the server adds the
ciphertexts, the key owner (sites' side) decrypts the sum. Sizes are the
breast-cancer logistic model (31 parameters), a 10k-parameter MLP-sized vector
and the PneumoniaMNIST CNN (219,841 parameters); updates are synthetic
(N(0, 0.01)), weights are example-count-like integers.

    .venv/bin/python benchmarks/he.py [--sites N] [--quick]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import headline

from fedshield.he import CkksParams, HeAggregator, KeyOwner, encrypt_update, tenseal_available


def bench(d: int, n_sites: int, owner: KeyOwner, params: CkksParams, rng) -> dict:
    public = owner.public_context()
    updates = [rng.normal(0, 0.01, d) for _ in range(n_sites)]
    weights = [float(rng.integers(10, 450)) for _ in range(n_sites)]
    t0 = time.perf_counter()
    encrypted = [encrypt_update(public, x, weight=w, params=params, site_id=f"s{i}")
                 for i, (x, w) in enumerate(zip(updates, weights))]
    t_enc = (time.perf_counter() - t0) / n_sites
    t0 = time.perf_counter()
    server = HeAggregator(public)
    for enc in encrypted:
        server.add(enc)
    total = server.result()
    t_add = time.perf_counter() - t0
    t0 = time.perf_counter()
    mean, _ = owner.decrypt_mean(total, expected_contributors=n_sites, contributors=len(server.contributors))
    t_dec = time.perf_counter() - t0
    exact = sum(w * x for x, w in zip(updates, weights)) / sum(weights)
    return {
        "dim": d,
        "bytes_per_param": round(encrypted[0].nbytes / d, 2),
        "expansion_vs_float32": round(encrypted[0].nbytes / (4 * d), 2),
        "encrypt_s_per_site": round(t_enc, 4),
        "server_add_s": round(t_add, 4),
        "decrypt_s": round(t_dec, 4),
        "max_abs_error": float(f"{np.abs(mean - exact).max():.3g}"),
        "public_context_bytes": len(public),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="skip the 219,841-parameter CNN")
    args = ap.parse_args()
    if not tenseal_available():
        raise SystemExit("TenSEAL is not installed: pip install fedshield[he] (or tenseal)")
    t_all = time.perf_counter()
    params = CkksParams()
    owner = KeyOwner(params)
    rng = np.random.default_rng(0)
    dims = [31, 10_000] + ([] if args.quick else [219_841])
    rows = [bench(d, args.sites, owner, params, rng) for d in dims]
    print(f"CKKS N={params.poly_modulus_degree}, primes {params.coeff_mod_bit_sizes}, scale 2^{params.scale_bits}, "
          f"{args.sites} sites (SecAgg+ for comparison: 4 bytes/param)")
    print("| params | B/param | x float32 | encrypt s/site | server add s | decrypt s | max error |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dim']} | {r['bytes_per_param']} | {r['expansion_vs_float32']} | {r['encrypt_s_per_site']} | "
              f"{r['server_add_s']} | {r['decrypt_s']} | {r['max_abs_error']} |")
    headline({"ckks": rows, "sites": args.sites, "seconds": round(time.perf_counter() - t_all, 1)})


if __name__ == "__main__":
    main()
