"""/api/v1/knowledge: upload, list, delete and search a tenant's documents.

| method | path                              | does                                           |
|--------|-----------------------------------|------------------------------------------------|
| POST   | /knowledge/documents              | multipart `file` -> 202 queued (200 if known)  |
| GET    | /knowledge/documents              | the tenant's documents with status, progress   |
| GET    | /knowledge/documents/<id>         | one document                                   |
| PATCH  | /knowledge/documents/<id>         | {"fields": {...}}: a table's columns by meaning |
| DELETE | /knowledge/documents/<id>         | remove it, its chunks and vectors              |
| POST   | /knowledge/search                 | {"query", "k"} -> hits with text, document, scores |
"""
from __future__ import annotations

from flask import Blueprint, request

from appliance import tasks
from appliance.assistant import cache, ingest, rows
from appliance.assistant.answer import assistant_config, min_similarity, retrieve
from appliance.auth import api_auth, tenant_id_required
from appliance.errors import AppError
from appliance.records import Document, Tenant
from appliance.web import services
from appliance.web.api import ADMINS, ANY_ROLE, TEXT, _text, accepts, json_body

blueprint = Blueprint("knowledge", __name__, url_prefix="/api/v1/knowledge")
MAX_K = 50


@blueprint.post("/documents")
@accepts({"file": {"type": "string", "format": "binary"}}, required=("file",), content="multipart/form-data")
@api_auth(*ADMINS)
def post_document():
    """Upload a .txt, .md, .csv or .pdf document; it is processed in the background."""
    body = upload_document(tenant_id_required(), request.files.get("file"))
    return body, 200 if body["duplicate"] else 202


def upload_document(tenant_id: str, upload) -> dict:
    """Store an uploaded file (the API's or the admin form's) and queue it; its JSON with `duplicate`."""
    if upload is None or not upload.filename:
        raise AppError(400, "file_required", "Send the document as a multipart form field named 'file'.")
    limit = services().settings.upload_max_bytes
    data = upload.stream.read(limit + 1)
    document, queued = ingest.store_upload(services().settings, tenant_id, upload.filename, data)
    if queued:
        tasks.ingest_document(document.id)
        document = Document.get_by_id(document.id)
    body = ingest.document_json(document)
    body["duplicate"] = not queued
    return body


@blueprint.get("/documents")
@api_auth(*ANY_ROLE)
def list_documents():
    """The tenant's documents, newest first."""
    rows = Document.select().where(Document.tenant == tenant_id_required()).order_by(Document.id.desc())
    return {"documents": [ingest.document_json(d) for d in rows]}


@blueprint.get("/documents/<int:document_id>")
@api_auth(*ANY_ROLE)
def get_document(document_id: int):
    """One document: status (queued, processing, ready, failed), progress 0..1, chunks and error."""
    return ingest.document_json(Document.get_for_tenant(tenant_id_required(), document_id, "document"))


@blueprint.patch("/documents/<int:document_id>")
@accepts({"fields": {"type": "object", "properties": {role: {"type": ["string", "null"]} for role in rows.ROLES}}},
         required=("fields",))
@api_auth(*ADMINS)
def patch_document(document_id: int):
    """Say which column of a table is the product name, price, stock, colour, warranty, code or description."""
    document = Document.get_for_tenant(tenant_id_required(), document_id, "document")
    body = json_body()
    if "fields" not in body:
        raise AppError(422, "fields_required", "Send {\"fields\": {\"name\": \"<column>\", \"price\": \"<column>\"}}.")
    columns = rows.columns_of(document)
    if document.kind != "csv" or not columns:
        raise AppError(422, "not_a_table", f"{document.name} is not a processed table (.csv); only tables have fields.")
    document.fields = rows.check_fields(body["fields"], columns, document.fields)
    document.save()
    cache.knowledge_changed(document.tenant_id)  # cached answers were composed with the old mapping
    return {**ingest.document_json(document), "columns": columns}


@blueprint.delete("/documents/<int:document_id>")
@api_auth(*ADMINS)
def delete_document(document_id: int):
    """Remove a document from the knowledge base."""
    remove_document(tenant_id_required(), document_id)
    return "", 204


def remove_document(tenant_id: str, document_id: int) -> str:
    """Delete a tenant's document (the API's or the admin form's); its name."""
    document = Document.get_for_tenant(tenant_id, document_id, "document")
    ingest.delete_document(services(), document)
    return document.name


@blueprint.post("/search")
@accepts({"query": TEXT, "k": {"type": "integer", "minimum": 1, "maximum": MAX_K}}, required=("query",))
@api_auth(*ANY_ROLE)
def search():
    """The knowledge base's best chunks for a query, with their documents and similarity scores."""
    return search_documents(tenant_id_required(), json_body())


def search_documents(tenant_id: str, body: dict) -> dict:
    """Search a tenant's knowledge from a request body ({"query", "k"?}, the API's or the admin form's)."""
    query = _text(body, "query", services().settings.widget_max_chars)
    k = body.get("k", services().settings.rag_top_k)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise AppError(422, "invalid_k", f"'k' must be a whole number from 1 to {MAX_K}.")
    threshold = min_similarity(services(), assistant_config(Tenant.get_by_id(tenant_id)))
    hits = retrieve(services(), tenant_id, query, k, threshold=threshold)  # no embedder: a 503 model_unavailable
    return {"query": query, "min_similarity": threshold,
            "hits": [{"text": h["text"], "score": h["score"], "relevant": h["relevant"], "lexical": h["lexical"],
                      "fused": h["fused"], "strong": h["strong"],
                      "chunk_id": h["chunk_id"], "page": h["page"], "row": h["row"],
                      "document": {"id": h["document_id"], "name": h["document"]}} for h in hits]}
