"""Who a request is: its bearer token, checked through the API's service login, or (behind the
hub) the hub login in its browser's cookie, turned into a Workbench acting as that person (every
query then runs as them, under the catalog's isolation). A read-only token may not change
anything; a browser session may, as the person may in their dashboard."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from workbench import tokens
from workbench.api import Workbench
from workbench.catalog import Catalog
from workbench.rest.browser_login import TOKEN_COOKIE, LoginRequired, wants_page
from workbench.rest.problems import ScopeError

bearer = HTTPBearer(auto_error=False, description="a personal token: `workbench tokens create NAME`")


@dataclass
class Caller:
    bench: Workbench
    scope: str


def service(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.service
    return catalog


async def browser_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str | None:
    """The hub user of the request's session cookie, when there is no token (async: it may ask
    the hub, and must not hold a thread meanwhile)."""
    login = request.app.state.hub_login
    if credentials is not None or login is None or TOKEN_COOKIE in request.cookies:
        return None
    user: str | None = await login.user(request)
    return user


def _holder(request: Request, token: str) -> tuple[str, str]:
    """(owner, scope) of a valid token: asked of the catalog at most every few seconds."""
    key = hashlib.sha256(token.encode()).digest()
    holder = request.app.state.recent_tokens.get(key, lambda: tokens.authenticate(service(request), token))
    if holder.expires_at <= dt.datetime.now(dt.UTC):
        raise tokens.AuthenticationError("a valid API token is needed: `workbench tokens create` makes one")
    return holder.owner, holder.scope


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    browser: Annotated[str | None, Depends(browser_user)],
) -> Iterator[Caller]:
    token = credentials.credentials if credentials is not None else request.cookies.get(TOKEN_COOKIE)
    if token:
        owner, scope = _holder(request, token)
    elif browser is not None:
        owner, scope = browser, "write"
    elif wants_page(request):
        raise LoginRequired()
    else:
        raise tokens.AuthenticationError("a valid API token is needed: `workbench tokens create` makes one")
    bench = Workbench(catalog=service(request).acting_as(owner))
    try:
        yield Caller(bench, scope)
    finally:
        bench.close()


def reader(who: Annotated[Caller, Depends(caller)]) -> Workbench:
    return who.bench


def writer(who: Annotated[Caller, Depends(caller)]) -> Workbench:
    if who.scope != "write":
        raise ScopeError("this token may only read: make one with `--scope write` to change things")
    return who.bench


Reader = Annotated[Workbench, Depends(reader)]
Writer = Annotated[Workbench, Depends(writer)]
