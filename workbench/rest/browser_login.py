"""Browsers log in: programs send a personal token in a header, but a person opening the API's
pages (the docs, a model's file) has a browser. Behind the team server's hub (the hub sets
``JUPYTERHUB_*``), the browser is sent to the hub's OAuth page and comes back with a hub token in
a cookie; elsewhere a small page takes a personal token once and keeps it in a cookie. Both
cookies are HttpOnly and SameSite, so another site's page cannot make a browser use them.

JupyterHub's own ``HubOAuth`` does the protocol (the authorize URL, the code for a token, the
token for a user, the scope that grants access to this service); this module only keeps the
state and the token in cookies, since ``HubOAuth``'s helpers for that expect Tornado handlers."""

from __future__ import annotations

import datetime as dt
import html
import os
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from workbench import tokens
from workbench.tokens import AuthenticationError

HUB_COOKIE = "workbench-api-hub-token"
TOKEN_COOKIE = "workbench-api-token"
STATE_COOKIE = "workbench-api-oauth-state"
STATE_SECONDS = 600  # a login started and not finished within this is started again
IDENTITY_CACHE_SECONDS = 60  # how long the hub's answer about a token is trusted


class LoginRequired(Exception):
    """A browser without a session asked for a page: send it to the hub."""


class HubLogin:
    def __init__(self, auth: Any) -> None:
        self.auth = auth  # jupyterhub.services.auth.HubOAuth
        self.prefix: str = auth.base_url  # the service's path behind the proxy: /services/NAME/

    @classmethod
    def from_env(cls) -> HubLogin | None:
        """The hub's login when this API runs as a hub service; None otherwise."""
        if not (os.environ.get("JUPYTERHUB_API_TOKEN") and os.environ.get("JUPYTERHUB_SERVICE_PREFIX")):
            return None
        from jupyterhub.services.auth import HubOAuth

        return cls(HubOAuth(cache_max_age=IDENTITY_CACHE_SECONDS))

    @property
    def callback_path(self) -> str:
        return self.prefix + "oauth_callback"

    async def user(self, request: Request) -> str | None:
        """The hub user whose token the request's cookie holds, if it may use this service."""
        token = request.cookies.get(HUB_COOKIE)
        if not token:
            return None
        model = await self.auth.user_for_token(token, sync=False)
        if not model or model.get("kind", "user") != "user":
            return None
        if not self.auth.check_scopes(self.auth.access_scopes, model):
            return None
        return str(model["name"])

    def to_login(self, request: Request) -> RedirectResponse:
        """To the hub's authorize page; the state cookie remembers where the person was going."""
        state = secrets.token_urlsafe(24)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        answer = RedirectResponse(f"{self.auth.login_url}&{urlencode({'state': state})}", status_code=302)
        answer.set_cookie(
            STATE_COOKIE, f"{state} {target}", max_age=STATE_SECONDS, path=self.prefix, httponly=True,
            samesite="lax", secure=request.url.scheme == "https",
        )  # fmt: skip
        return answer

    async def finish(self, request: Request, code: str, state: str) -> RedirectResponse:
        """The hub sent the browser back with a code: swap it for a token, keep it in a cookie."""
        expected, _, target = request.cookies.get(STATE_COOKIE, "").partition(" ")
        if not expected or not secrets.compare_digest(expected, state):
            raise AuthenticationError("this login link has expired or is not yours: open the page again")
        token = await self.auth.token_for_code(code, sync=False)
        if not target.startswith(self.prefix):
            target = self.prefix + "docs"
        answer = RedirectResponse(target, status_code=302)
        # SameSite=Lax: another site's form or script cannot make a person's browser send it.
        answer.set_cookie(
            HUB_COOKIE, token, path=self.prefix, httponly=True, samesite="lax",
            secure=request.url.scheme == "https",
        )  # fmt: skip
        answer.delete_cookie(STATE_COOKIE, path=self.prefix)
        return answer


def wants_page(request: Request) -> bool:
    """A browser navigating (a GET for HTML), not a program asking for JSON."""
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>workbench API: log in</title>
<style>body{{font:16px system-ui;max-width:34em;margin:4em auto}}input{{width:100%;padding:.4em}}
button{{margin-top:1em;padding:.4em 1.2em}}.error{{color:#b00020}}</style></head><body>
<h1>workbench API</h1><p>Paste a personal token (<code>workbench tokens create NAME</code>, or the
dashboard's API tab). It is kept in this browser until it expires.</p>{error}
<form method="post"><input type="hidden" name="next" value="{next}">
<input name="token" type="password" autocomplete="off" placeholder="wb_..." autofocus>
<button type="submit">Log in</button></form></body></html>"""


def _local_target(target: str, base: str) -> str:
    """Only a path of this API's own: a login link must not send anyone elsewhere."""
    return target if target.startswith(base + "/") and not target.startswith("//") else base + "/docs"


def install(app: FastAPI, login: HubLogin | None) -> None:
    app.state.hub_login = login

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _: LoginRequired) -> RedirectResponse:
        if login is not None:
            return login.to_login(request)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{app.root_path}/login?{urlencode({'next': target})}", status_code=302)

    if login is not None:

        @app.get("/oauth_callback", include_in_schema=False)
        async def oauth_callback(request: Request, code: str = "", state: str = "") -> RedirectResponse:
            return await login.finish(request, code, state)

    @app.get("/login", include_in_schema=False)
    def login_page(next: str = "") -> HTMLResponse:
        return HTMLResponse(LOGIN_PAGE.format(error="", next=html.escape(next)))

    @app.post("/login", include_in_schema=False, response_model=None)
    async def log_in(request: Request) -> HTMLResponse | RedirectResponse:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        text, target = form.get("token", [""])[0].strip(), form.get("next", [""])[0]
        try:
            holder = await run_in_threadpool(tokens.authenticate, request.app.state.service, text)
        except AuthenticationError as error:
            page = LOGIN_PAGE.format(
                error=f"<p class=error>{html.escape(str(error))}</p>", next=html.escape(target)
            )
            return HTMLResponse(page, status_code=401)
        answer = RedirectResponse(_local_target(target, app.root_path), status_code=303)
        answer.set_cookie(
            TOKEN_COOKIE, text, path=app.root_path or "/", httponly=True, samesite="strict",
            secure=request.url.scheme == "https",
            max_age=max(0, int((holder.expires_at - dt.datetime.now(dt.UTC)).total_seconds())),
        )  # fmt: skip
        return answer
