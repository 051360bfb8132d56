"""One error class and one renderer: {"error": {"code", "message"}} with the right status."""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

_HTTP_MESSAGES = {
    400: ("bad_request", "The request could not be read; check its JSON and fields."),
    401: ("unauthorized", "Send a valid API token as 'Authorization: Bearer <token>'."),
    403: ("forbidden", "This token or user may not do that."),
    404: ("not_found", "Nothing exists at this address."),
    405: ("method_not_allowed", "This address does not accept that HTTP method."),
    413: ("too_large", "The request body is larger than this appliance accepts."),
    415: ("unsupported_media_type", "Send the body as application/json."),
    429: ("rate_limited", "Too many requests; wait and try again."),
}


class AppError(Exception):
    """An error a client can act on: HTTP status, snake_case code and a sentence."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, headers: dict | None = None):
    """The one error body: JSON, or a small HTML page for people on the admin pages."""
    if request and request.path.startswith("/admin") and request.accept_mimetypes.accept_html:
        response = Response(_error_page(status, code, message), status=status, mimetype="text/html")
    else:
        response = jsonify({"error": {"code": code, "message": message}})
        response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _error_page(status: int, code: str, message: str) -> str:
    """The admin console's error page, in the reader's language and the console's layout (a bare page if that fails)."""
    from flask import render_template

    from appliance.web.i18n import error_text

    try:
        return render_template("error.html", status=status, message=error_text(code, message))
    except Exception:  # an error page must never fail: the template or the database may be what broke
        log.exception("error page could not be rendered")
        return f"<!doctype html><title>Error</title><h1>{status}</h1><p>{escape(message)}</p><p><a href='/admin/'>Back</a></p>"


def register_error_handlers(app: Flask) -> None:
    """Route every error, expected or not, through the one renderer."""

    @app.errorhandler(AppError)
    def _app_error(exc: AppError):
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code, message = _HTTP_MESSAGES.get(exc.code or 500, ("http_error", exc.description or "Request failed."))
        return error_response(exc.code or 500, code, message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on the appliance; the log has the details.")
