"""NativeAuthenticator as JupyterHub 6 can run it. Its 1.3.0 login handler times each login with
``self.statsd``, which JupyterHub 6 removed (jupyterhub/jupyterhub#5407): every login answered
500. A timer that does nothing stands in; the rest is NativeAuthenticator's own."""

from __future__ import annotations

from typing import Any

from nativeauthenticator import NativeAuthenticator
from nativeauthenticator import handlers as native


class _Timer:
    def start(self) -> _Timer:
        return self

    def stop(self, send: bool = True) -> None:
        pass


class _NoStatsd:
    def timer(self, name: str) -> _Timer:
        return _Timer()


class LoginHandler(native.LoginHandler):
    statsd = _NoStatsd()


class WorkbenchAuthenticator(NativeAuthenticator):
    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        handlers: list[tuple[str, Any]] = super().get_handlers(app)
        return [(path, LoginHandler if cls is native.LoginHandler else cls) for path, cls in handlers]
