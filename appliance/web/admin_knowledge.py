"""Admin console, Knowledge: the tenant's documents (status, chunks, progress), upload, re-upload, delete with a
confirmation, and a search box showing the hits with their scores. Every change goes through the JSON API's own
functions (appliance/web/knowledge.py), so both check files the same way."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from appliance.errors import AppError
from appliance.records import Document, Tenant, User
from appliance.web.admin import ADMINS, blueprint, tenant_page
from appliance.web.i18n import error_text, gettext
from appliance.web.knowledge import remove_document, search_documents, upload_document

UNFINISHED = ("queued", "processing")


def _search(tenant: Tenant, query: str) -> tuple[dict | None, str | None]:
    """The search's hits, or the sentence saying why there are none."""
    if not query.strip():
        return None, None
    try:
        return search_documents(tenant.id, {"query": query}), None
    except AppError as exc:
        return None, error_text(exc.code, exc.message)


@blueprint.route("/t/<tenant_id>/knowledge", methods=["GET", "POST"])
@tenant_page(*ADMINS)
def knowledge(user: User, tenant: Tenant):
    """Documents, the upload form and the search box."""
    errors = {}
    if request.method == "POST":
        errors = upload_from_form(tenant)
        if not errors:
            return redirect(url_for("admin.knowledge", tenant_id=tenant.id))
    query = request.args.get("q", "")
    results, search_error = _search(tenant, query)
    documents = Document.of_tenant(tenant.id)
    return render_template("knowledge.html", tenant=tenant, documents=documents, errors=errors, query=query,
                           results=results, search_error=search_error,
                           polling=any(d.status in UNFINISHED for d in documents)), 422 if errors else 200


def upload_from_form(tenant: Tenant, replacing: Document | None = None) -> dict[str, str]:
    """Store the form's file through the API's upload; {field: error} when it was refused."""
    try:
        body = upload_document(tenant.id, request.files.get("file"))
    except AppError as exc:
        return {"file": error_text(exc.code, exc.message)}
    if replacing is not None and body["id"] != replacing.id:
        remove_document(tenant.id, replacing.id)
    if body["duplicate"]:
        flash(gettext("%(name)s is already in the knowledge base with the same content.", name=body["name"]), "ok")
    else:
        flash(gettext("%(name)s was uploaded; it is being read now.", name=body["name"]), "ok")
    return {}


@blueprint.get("/t/<tenant_id>/knowledge/status")
@tenant_page(*ADMINS)
def knowledge_status(user: User, tenant: Tenant):
    """Each document's status and progress, for the page's live progress bars."""
    return {"documents": [{"id": d.id, "status": d.status, "progress": d.progress, "chunks": d.chunks}
                          for d in Document.of_tenant(tenant.id)]}


@blueprint.post("/t/<tenant_id>/knowledge/<int:document_id>/replace")
@tenant_page(*ADMINS)
def replace_document(user: User, tenant: Tenant, document_id: int):
    """Upload a new version of a document: the new file is stored and queued, then the old one goes."""
    document = Document.get_for_tenant(tenant.id, document_id, "document")
    errors = upload_from_form(tenant, replacing=document)
    if errors:
        flash(gettext("%(name)s was not replaced: %(reason)s", name=document.name, reason=errors["file"]), "error")
    return redirect(url_for("admin.knowledge", tenant_id=tenant.id))


@blueprint.route("/t/<tenant_id>/knowledge/<int:document_id>/delete", methods=["GET", "POST"])
@tenant_page(*ADMINS)
def delete_document(user: User, tenant: Tenant, document_id: int):
    """Ask first (GET), then delete the document, its chunks and vectors (POST)."""
    document = Document.get_for_tenant(tenant.id, document_id, "document")
    back = url_for("admin.knowledge", tenant_id=tenant.id)
    if request.method == "POST":
        name = remove_document(tenant.id, document.id)
        flash(gettext("%(name)s was deleted from the knowledge base.", name=name), "ok")
        return redirect(back)
    return render_template("confirm.html", question=gettext("Delete %(name)s?", name=document.name),
                           detail=gettext("The assistant stops using it at once. This cannot be undone."),
                           action=request.path, button=gettext("Delete"), back=back)
