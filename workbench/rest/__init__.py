"""The REST API (``workbench api``): FastAPI on uvicorn, a front end beside the CLI and the
dashboard. Every request acts as its token's owner, under the catalog's isolation (decision #71).

``problems``: errors as RFC 9457 problem details; ``auth``: tokens to a Workbench acting as their
owner; ``uploads``: a request body streamed to a file; ``routes_*``: the resources; ``app``: the
application. It never imports torch (the workers train).
"""
