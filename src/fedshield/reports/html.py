"""Render report.html from the metrics document (the same numbers as metrics.json)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape

from fedshield.reports.plots import metric_per_round

_ENV = Environment(loader=PackageLoader("fedshield", "reports/templates"), autoescape=select_autoescape())


def render_report(doc: dict) -> str:
    plots = {m: metric_per_round(doc, m) for m in ("accuracy", "auc", "sensitivity", "specificity")} if doc["rounds"] else {}
    privacy = None
    if doc.get("privacy", {}).get("mode", "off") != "off":
        from fedshield.privacy import privacy_html

        privacy = privacy_html(doc["privacy"])
    return _ENV.get_template("report.html").render(doc=doc, plots=plots, privacy_section=privacy)
