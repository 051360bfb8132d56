"""White-label: the product name, logo and accent colour a reseller sets (settings product_name, logo_file,
accent_colour), for the admin, login and demo pages and the chat widget's config.

The settings table checks them when the appliance starts (a colour is #rgb or #rrggbb, the logo a picture inside the
data folder); pages escape the name like any other text, and the widget shows it as text."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response

from appliance.config import LOGO_TYPES
from appliance.errors import AppError
from appliance.web import public_base, services

blueprint = Blueprint("brand", __name__)


def logo_path(settings) -> Path | None:
    """The logo file, when one is set and present in the data folder."""
    if not settings.logo_file:
        return None
    path = Path(settings.data) / settings.logo_file
    return path if path.is_file() else None


def brand() -> dict:
    """Name, accent colour and logo URL (absolute, for the widget on other sites; None without a logo)."""
    settings = services().settings
    logo = public_base() + "/brand/logo" if logo_path(settings) else None
    return {"name": settings.product_name, "accent": settings.accent_colour, "logo": logo}


@blueprint.app_context_processor
def _brand_in_templates():
    return {"brand": brand()}


@blueprint.get("/brand/logo")
def logo():
    """The reseller's logo picture (public: the widget shows it on shops' sites)."""
    path = logo_path(services().settings)
    if path is None:
        raise AppError(404, "no_logo", "No logo is set; the logo_file setting names one inside the data folder.")
    return Response(path.read_bytes(), mimetype=LOGO_TYPES[path.suffix.lower()],
                    headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"})
