"""A model in the browser: the offline web app export (``export_web``, ``zip_web``) and the way
back for a head personalised on a device (``import_head``). The app's sources are in ``web/``."""

from workbench.web.export import export_web, zip_web
from workbench.web.head import import_head

__all__ = ["export_web", "import_head", "zip_web"]
