"""Users, password hashing, API tokens and the tenant scoping of every API request."""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets

from flask import g, request

from appliance.errors import AppError
from appliance.records import ApiToken, Tenant, User, utcnow

TOKEN_PREFIX = "apl_"


def hash_password(password: str) -> str:
    """scrypt hash with a random salt, as 'scrypt$salt$hash'."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return "scrypt$%s$%s" % (base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


def check_password(password: str, stored: str) -> bool:
    """True if the password matches the stored scrypt hash."""
    try:
        _, salt, digest = stored.split("$")
        again = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=2**14, r=8, p=1)
    except ValueError:
        return False
    return hmac.compare_digest(again, base64.b64decode(digest))


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def check_login(email: str, password: str) -> User | None:
    """The user with this e-mail and password, else None; an unknown e-mail costs the same hash check as a known
    one, so the answer's timing does not tell which e-mails have accounts."""
    user = User.get_or_none(User.email == (email or "").strip().lower())
    matches = check_password(password or "", user.password_hash if user else _dummy_hash())
    return user if user is not None and matches else None


def token_digest(token: str) -> str:
    """Tokens are stored as SHA-256: they are long random strings, so no salt is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(email: str, password: str, role: str, tenant: Tenant | None) -> User:
    """A new user; platform admins belong to no tenant, the others to exactly one."""
    email = (email or "").strip().lower()
    if role not in User.ROLES:
        raise AppError(422, "invalid_role", f"Role must be one of {', '.join(User.ROLES)}.")
    if "@" not in email:
        raise AppError(422, "invalid_email", "Give the user's e-mail address, such as owner@example.com.")
    if len(password or "") < 8:
        raise AppError(422, "weak_password", "The password needs at least 8 characters.")
    if role != "platform-admin" and tenant is None:
        raise AppError(422, "tenant_required", "Tenant admins and agents belong to a tenant; pass --tenant.")
    if User.get_or_none(User.email == email):
        raise AppError(409, "email_taken", f"A user with e-mail {email} already exists.")
    return User.create(email=email, password_hash=hash_password(password), role=role,
                       tenant=None if role == "platform-admin" else tenant)


def set_password(user: User, password: str) -> None:
    """Give a user a new password (at least 8 characters); every admin session of that user ends."""
    if len(password or "") < 8:
        raise AppError(422, "weak_password", "The password needs at least 8 characters.")
    User.update(password_hash=hash_password(password), session_version=User.session_version + 1) \
        .where(User.id == user.id).execute()


def remove_user(acting: User, user: User) -> None:
    """Remove a staff member (their API tokens go with them); nobody removes their own account."""
    if acting.id == user.id:
        raise AppError(409, "cannot_remove_self", "You cannot remove your own account; ask another admin.")
    user.delete_instance()


def issue_token(role: str, tenant: Tenant | None, user: User | None = None, name: str = "") -> str:
    """Create an API token and return it; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.create(token_hash=token_digest(token), role=role, tenant=tenant, user=user, name=name)
    return token


def create_api_token(role: str, tenant_id: str | None) -> tuple[str, Tenant | None]:
    """A new API token for `role` (`appliance token create`); agents and tenant admins need their tenant,
    platform admins have none."""
    roles = ("agent", "tenant-admin", "platform-admin")
    if role not in roles:
        raise AppError(422, "invalid_role", f"Role must be one of {', '.join(roles)}.")
    if role == "platform-admin":
        if tenant_id:
            raise AppError(422, "tenant_not_allowed",
                           "A platform-admin token belongs to no tenant; leave out --tenant.")
        return issue_token(role, None, name="created with `appliance token create`"), None
    if not tenant_id:
        raise AppError(422, "tenant_required", f"Tokens for the {role} role belong to a tenant; pass --tenant ID.")
    tenant = Tenant.get_or_none(Tenant.id == tenant_id)
    if tenant is None:
        raise AppError(404, "not_found", f"No tenant with id {tenant_id}; `appliance tenant create NAME` makes one.")
    return issue_token(role, tenant, name="created with `appliance token create`"), tenant


def create_tenant(name: str) -> tuple[Tenant, str]:
    """A new tenant with its first (tenant-admin) API token."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise AppError(422, "invalid_name", "Give the tenant a name of 1 to 200 characters.")
    tenant = Tenant.create(name=name)
    return tenant, issue_token("tenant-admin", tenant, name="created with the tenant")


def _authenticate() -> ApiToken:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AppError(401, "unauthorized", "Send your API token as 'Authorization: Bearer <token>'.")
    row = ApiToken.get_or_none(ApiToken.token_hash == token_digest(token.strip()))
    if row is None:
        raise AppError(401, "unauthorized", "This API token is not valid; create one with `appliance tenant create`.")
    ApiToken.update(last_used_at=utcnow()).where(ApiToken.id == row.id).execute()
    return row


def api_auth(*roles: str):
    """Require a bearer token with one of `roles`; sets g.token and g.tenant_id (None for platform admins)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            token = _authenticate()
            if roles and token.role not in roles:
                raise AppError(403, "forbidden", "This token's role may not do that.")
            g.token = token
            g.tenant_id = token.tenant_id
            return view(*args, **kwargs)

        return wrapper

    return decorate


def tenant_id_required() -> str:
    """The calling token's tenant; platform-admin tokens name one with the X-Tenant-Id header."""
    if g.tenant_id:
        return g.tenant_id
    wanted = request.headers.get("X-Tenant-Id", "")
    if g.token.role == "platform-admin" and wanted and Tenant.get_or_none(Tenant.id == wanted):
        return wanted
    raise AppError(400, "tenant_required", "A platform-admin token must name a tenant with the X-Tenant-Id header.")
