"""Personal API tokens: made and revoked by their owner, checked by the REST API.

A token reads ``wb_<id>_<secret>``. Only the SHA-256 of the secret is stored, so a leaked catalog
does not hand out tokens; the id finds the row in one lookup and the secret is compared in
constant time. A token is scoped (``read``, or ``read`` and ``write``) and expires.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import select, update

from workbench.catalog import Catalog
from workbench.catalog.models import ApiToken
from workbench.errors import ConfigError, NotFoundError, WorkbenchError

SCOPES = ("read", "write")
MAX_DAYS = 365
PREFIX = "wb"


class AuthenticationError(WorkbenchError):
    """No valid token: missing, malformed, unknown, revoked or expired."""


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    scope: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id, "name": self.name, "scope": self.scope, "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(), "revoked": self.revoked,
        }  # fmt: skip


def create_token(catalog: Catalog, name: str, scope: str = "read", days: int = 90) -> tuple[TokenInfo, str]:
    """A new token of the user's; returns it and its text, which is shown this once."""
    if scope not in SCOPES:
        raise ConfigError(f"a token's scope is 'read' or 'write', not {scope!r}")
    if not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"a token lasts 1 to {MAX_DAYS} days, not {days}")
    if not name.strip() or len(name) > 128:
        raise ConfigError("give the token a name of 1 to 128 characters (what it is for)")
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC)
    row = ApiToken(
        id=token_id, owner=catalog.user, name=name.strip(), secret_sha256=_digest(secret), scope=scope,
        created_at=now, expires_at=now + dt.timedelta(days=days),
    )  # fmt: skip
    with catalog.transaction() as session:
        session.add(row)
    return _info(row), f"{PREFIX}_{token_id}_{secret}"


def list_tokens(catalog: Catalog) -> list[TokenInfo]:
    query = select(ApiToken).where(ApiToken.owner == catalog.user).order_by(ApiToken.created_at)
    with catalog.sessions() as session:
        return [_info(row) for row in session.scalars(query)]


def revoke_token(catalog: Catalog, token_id: str) -> None:
    with catalog.transaction() as session:
        changed = session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.owner == catalog.user, ApiToken.revoked_at.is_(None))
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
        if not changed.rowcount:  # type: ignore[attr-defined]
            raise NotFoundError(
                f"no token {token_id!r} of yours that is still valid: `workbench tokens list`"
            )


class Holder(NamedTuple):
    owner: str
    scope: str
    expires_at: dt.datetime


def authenticate(service: Catalog, text: str) -> Holder:
    """Who holds a valid token, read through the API's service login; else AuthenticationError
    (the same message whatever was wrong: nothing to probe)."""
    prefix, _, rest = text.partition("_")
    token_id, _, secret = rest.partition("_")
    refused = AuthenticationError("a valid API token is needed: `workbench tokens create` makes one")
    if prefix != PREFIX or not token_id or not secret:
        raise refused
    with service.sessions() as session:
        row = session.get(ApiToken, token_id)
    now = dt.datetime.now(dt.UTC)
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
        raise refused
    if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        raise refused
    return Holder(row.owner, row.scope, _aware(row.expires_at))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite returns naive times


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        row.id,
        row.name,
        row.scope,
        _aware(row.created_at),
        _aware(row.expires_at),
        row.revoked_at is not None,
    )
