"""SecAgg+ secure aggregation: the server learns only the weighted sum of site updates.

Why: even over TLS the coordinator would otherwise see each hospital's update,
and updates can be inverted into patient data. ``messages`` lists the stage
messages; a transport drives the two state machines like this::

    cfg = SecAggConfig.for_round(round_id=..., client_ids=..., dim_params=d,
                                 graph_seed=..., clip_range=1.0, max_weight=10_000)
    server = SecAggServer(config=cfg)                  # coordinator
    client = SecAggClient(client_id=i, config=cfg)     # at each site
    # each stage: clients answer the server's last messages, the server
    # receive()s what arrives before the deadline, then close_stage():
    server.receive(client.advertise_keys()); rosters = server.close_stage()
    server.receive(client.share_keys(rosters[i])); inboxes = server.close_stage()
    server.receive(client.masked_input(inboxes[i], update=flat, weight=n_examples))
    requests = server.close_stage()                    # SurvivorList if active security
    # active security only: server.receive(client.consistency_check(requests[i]))
    #                       requests = server.close_stage()
    server.receive(client.unmask(requests[i])); result = server.close_stage()

``run_secagg`` does exactly this in memory; ``buckets`` runs it per random bucket.
"""

from fedshield.secagg.client import SecAggClient
from fedshield.secagg.config import SecAggConfig
from fedshield.secagg.driver import SecAggRun, Transcript, run_secagg
from fedshield.secagg.messages import (
    AggregateResult,
    EncryptedShare,
    KeyAdvert,
    KeyRoster,
    MaskedInput,
    ShareBundle,
    ShareInbox,
    Stage,
    SurvivorList,
    SurvivorSignature,
    UnmaskRequest,
    UnmaskShares,
)
from fedshield.secagg.buckets import BucketedResult, assign_buckets, bucket_configs, run_bucketed_secagg
from fedshield.secagg.quantize import mean_error_bound
from fedshield.secagg.server import SecAggServer

__all__ = [
    "SecAggConfig",
    "SecAggClient",
    "SecAggServer",
    "run_secagg",
    "SecAggRun",
    "Transcript",
    "mean_error_bound",
    "assign_buckets",
    "bucket_configs",
    "run_bucketed_secagg",
    "BucketedResult",
    "Stage",
    "KeyAdvert",
    "KeyRoster",
    "EncryptedShare",
    "ShareBundle",
    "ShareInbox",
    "MaskedInput",
    "SurvivorList",
    "SurvivorSignature",
    "UnmaskRequest",
    "UnmaskShares",
    "AggregateResult",
]
