"""What a run leaves behind: config, metrics.json, the model and report.html."""

from fedshield.reports.run_dir import metrics_document, write_run

__all__ = ["metrics_document", "write_run"]
