"""The smallest update a site sends when only secure aggregation stands between it and the server.

Why a floor: secure aggregation hides *which* site sent what, not what the sum shows. When every
site's update is one step on one record, the unmasked mean of 5 sites is one batch-5 gradient, and
inverting it re-identifies patients (benchmarks/privacy_attacks.py). DP noise added before masking
(DP-SGD, or client-level DP with distributed noise) covers that case; without it, a site refuses
to build when one update would mix fewer than ``MIN_RECORDS_PER_UPDATE`` records, unless the
scenario names the risk (``secure_aggregation.unsafe_allow_small_updates = true``).

Kernel: no I/O; the site calls it with its own record count, so a server cannot talk it out of it.
"""

from __future__ import annotations

from fedshield.errors import ConfigError

__all__ = ["MIN_RECORDS_PER_UPDATE", "noised_before_masking", "records_per_update", "check_update_size"]

# 16 records per site: inverting a secure mean of 5 such updates falls to the attack's failure
# floor (benchmarks/privacy_attacks.py: 11.3 dB, re-identification at its control) where one record
# each gives 14.4 dB and singles out 17.5 % of the patients among 100.
MIN_RECORDS_PER_UPDATE = 16


def noised_before_masking(*, mode: str, noise_placement: str | None) -> bool:
    """Does the site's update carry DP noise before it leaves (and before any masking)?

    DP-SGD noises every step at the site, and client-level DP with distributed placement adds each
    site's share there; client-level DP with server placement adds the noise after the server has
    seen the update (or the unmasked sum), so it does not count.
    """
    return mode == "sample" or (mode == "client" and noise_placement == "distributed")


def records_per_update(*, num_records: int, batch_size: int, local_steps: int) -> int:
    """How many distinct records one local update can mix: its steps' batches, capped by the data."""
    return min(int(num_records), int(batch_size) * int(local_steps))


def check_update_size(
    *,
    site_id: str,
    num_records: int,
    batch_size: int,
    local_steps: int,
    secure_aggregation: bool,
    noised_before_masking: bool,
    unsafe_allow_small_updates: bool,
) -> None:
    """Raise ``ConfigError`` when a secure-aggregation-only site would send a near-single-record update."""
    if not secure_aggregation or noised_before_masking or unsafe_allow_small_updates:
        return
    mixed = records_per_update(num_records=num_records, batch_size=batch_size, local_steps=local_steps)
    if mixed < MIN_RECORDS_PER_UPDATE:
        raise ConfigError(
            f"Site {site_id!r}: one update would mix only {mixed} record(s) (batch_size {batch_size} x "
            f"local_steps {local_steps}, {num_records} record(s) held), and secure aggregation alone lets the "
            f"server invert the sum of such updates. Use at least {MIN_RECORDS_PER_UPDATE} records per update "
            "(raise client.batch_size or client.local_steps), or add DP noise before masking "
            "(privacy.mode = 'sample', or 'client' with noise_placement = 'distributed'), or accept the risk "
            "with secure_aggregation.unsafe_allow_small_updates = true."
        )
