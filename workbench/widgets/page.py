"""What the dashboard notebook needs from its page: the URL's parameters, and a log file for
the errors people are spared (Voila hides tracebacks from them)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import parse_qs

ALLOWED_PARAMETERS = ("dataset",)


def page_parameters() -> dict[str, str]:
    """``?dataset=digits`` and friends. A preheated kernel runs the notebook before any page asks
    for it: ``get_query_string`` waits for the request. A kernel started for one page (Voila sets
    ``VOILA_PREHEAT=False`` there) has the query in its environment already, and skips importing
    ``voila.utils``, which costs seconds of that page's load."""
    query = ""
    if os.environ.get("VOILA_PREHEAT") == "True":
        from voila.utils import get_query_string

        query = get_query_string() or ""
    else:
        query = os.environ.get("QUERY_STRING", "")
    parsed = parse_qs(query, keep_blank_values=False)
    return {k: v[-1] for k, v in parsed.items() if k in ALLOWED_PARAMETERS and v}


def log_to(path: Path) -> None:
    """Send the widgets' error log to ``path`` (not to the page, where a kernel's stderr lands)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("workbench.widgets")
    if not any(isinstance(h, logging.FileHandler) for h in logger.handlers):
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.propagate = False
