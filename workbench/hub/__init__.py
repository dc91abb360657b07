"""The team server's front door: JupyterHub with NativeAuthenticator (sign-up, an administrator's
approval, password rules, lockout), each person's server started as their own Linux account
with their own catalog login (decision #69).

``settings``: what the hub reads from its environment; ``config``: JupyterHub's configuration
made from it; ``spawn``: what happens before a person's server starts (their Linux account,
database role, object-store identity and environment); ``run``: ``workbench hub``.
"""
