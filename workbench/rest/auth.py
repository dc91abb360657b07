"""Who a request is: its bearer token, checked through the API's service login, turned into a
Workbench acting as the token's owner (every query then runs as that person, under the
catalog's isolation). A read-only token may not change anything."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from workbench import tokens
from workbench.api import Workbench
from workbench.catalog import Catalog
from workbench.rest.problems import ScopeError

bearer = HTTPBearer(auto_error=False, description="a personal token: `workbench tokens create NAME`")


@dataclass
class Caller:
    bench: Workbench
    scope: str


def service(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.service
    return catalog


def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Iterator[Caller]:
    if credentials is None:
        raise tokens.AuthenticationError("a valid API token is needed: `workbench tokens create` makes one")
    owner, scope = tokens.authenticate(service(request), credentials.credentials)
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
