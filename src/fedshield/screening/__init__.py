"""Update screening: drop or clip bad updates before robust aggregation, with an audit trail.

Round engine entry point::

    from fedshield.screening import create_screener
    screener = create_screener("robust")
    result = screener.screen(updates, weights, site_ids, round_num=t)   # ScreeningResult
    update = pipeline(result.updates, result.weights, client_ids=result.site_ids)
    audit_log.extend(v.to_dict() for v in result.verdicts)
"""

from fedshield.screening.reputation import ReputationBook
from fedshield.screening.robust_stats import robust_z
from fedshield.screening.screener import NoScreening, RobustScreener, Screener, create_screener, list_screeners
from fedshield.screening.verdict import ScreeningResult, Verdict

__all__ = [
    "Screener",
    "NoScreening",
    "RobustScreener",
    "ScreeningResult",
    "Verdict",
    "ReputationBook",
    "create_screener",
    "list_screeners",
    "robust_z",
]
