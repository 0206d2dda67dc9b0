"""HTML for the transparency report and the privacy impact assessment."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape

_ENV = Environment(loader=PackageLoader("fedshield", "reports/templates"), autoescape=select_autoescape())


def render_transparency(doc: dict) -> str:
    return _ENV.get_template("transparency.html").render(doc=doc)


def render_pia(doc: dict) -> str:
    return _ENV.get_template("pia.html").render(doc=doc)
