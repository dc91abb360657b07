"""Commands of a team: share and delete what is yours, and (an administrator) the database roles
of a team server's users."""

from __future__ import annotations

import argparse
import sys

from workbench.api import Workbench
from workbench.cli.common import Commands, command, print_json
from workbench.errors import ConfigError


def register(commands: Commands) -> None:
    share = command(commands, "share", _share, "let other users read a dataset or a model of yours")
    share.add_argument("what", choices=["dataset", "model"])
    share.add_argument("name", help="the dataset's name, or the model's id")
    share.add_argument("--with", dest="users", action="append", required=True, metavar="USER",
                       help="a user (or a team's group) to share with; repeat for more")  # fmt: skip
    share.add_argument("--stop", action="store_true", help="stop sharing it with them instead")

    delete = command(commands, "delete", _delete, "delete a dataset (with its images) or a model of yours")
    delete.add_argument("what", choices=["dataset", "model"])
    delete.add_argument("name", help="the dataset's name, or the model's id")

    tokens = command(commands, "tokens", _tokens, "personal tokens for the REST API: create, list, revoke")
    tokens.add_argument("action", choices=["create", "list", "revoke"])
    tokens.add_argument("name", nargs="?", help="create: what it is for; revoke: its id")
    tokens.add_argument("--scope", choices=["read", "write"], default="read",
                        help="read, or read and write (default: read)")  # fmt: skip
    tokens.add_argument("--days", type=int, default=90, help="how long it lasts (default: 90)")
    tokens.add_argument("--json", action="store_true")

    users = command(commands, "users", _users, "team server: the database roles of users (administrators)")
    users.add_argument(
        "action", choices=["prepare", "add", "remove"],
        help="prepare: the group and the workers' service role, once; add/remove: a user's login role",
    )  # fmt: skip
    users.add_argument("name", nargs="?", help="the user (add, remove)")
    users.add_argument("--group", default=None, help="the group role every user joins")
    users.add_argument("--service", default=None, help="the role the workers log in as")
    users.add_argument("--password-stdin", action="store_true", help="read the password from stdin")


def _share(workbench: Workbench, args: argparse.Namespace) -> int:
    if args.what == "dataset":
        if args.stop:
            workbench.unshare_dataset(args.name, args.users)
        else:
            everyone = workbench.share_dataset(args.name, args.users)
            print(f"dataset {args.name!r} is shared read-only with: {', '.join(everyone)}")
        return 0
    model_id = _model_id(args.name)
    if args.stop:
        workbench.unshare_model(model_id, args.users)
    else:
        everyone = workbench.share_model(model_id, args.users)
        print(f"model {model_id} is shared read-only with: {', '.join(everyone)}")
    return 0


def _delete(workbench: Workbench, args: argparse.Namespace) -> int:
    if args.what == "dataset":
        images = workbench.delete_dataset(args.name)
        print(f"dataset {args.name!r} deleted with its {images:,} images")
    else:
        workbench.delete_model(_model_id(args.name))
        print(f"model {args.name} deleted with its files")
    return 0


def _tokens(workbench: Workbench, args: argparse.Namespace) -> int:
    if args.action == "list":
        rows = [token.to_dict() for token in workbench.tokens()]
        if args.json:
            print_json(rows)
        for row in [] if args.json else rows:
            state = "revoked" if row["revoked"] else f"until {str(row['expires_at'])[:10]}"
            print(f"{row['id']}  {row['scope']:<5}  {state:<17}  {row['name']}")
        return 0
    if not args.name:
        raise ConfigError(
            f"`workbench tokens {args.action}` needs " + ("a name" if args.action == "create" else "an id")
        )
    if args.action == "revoke":
        workbench.revoke_token(args.name)
        print(f"token {args.name} revoked")
        return 0
    info, text = workbench.create_token(args.name, args.scope, args.days)
    print(text)  # alone on stdout, for a script to keep
    print(
        f"token {info.id} ({info.scope}) until {info.expires_at:%Y-%m-%d}: shown once, keep it",
        file=sys.stderr,
    )
    return 0


def _users(workbench: Workbench, args: argparse.Namespace) -> int:
    """Run with an administrator's WORKBENCH_DATABASE_URL (a role that may create roles)."""
    from workbench.catalog import db, roles

    if workbench.settings.is_sqlite:
        raise ConfigError(
            "users need a team server's Postgres: set WORKBENCH_DATABASE_URL (an administrator's)"
        )
    if args.action != "prepare" and not args.name:
        raise ConfigError(f"`workbench users {args.action}` needs the user's name")
    names = {"group": args.group or roles.GROUP_ROLE, "service": args.service or roles.SERVICE_ROLE}
    engine = db.make_engine(workbench.settings.catalog_url)
    try:
        if args.action == "remove":
            roles.remove_user(engine, args.name)
            print(f"user {args.name!r} removed (their rows stay, readable by no user)")
            return 0
        password = _password(args)
        if args.action == "prepare":
            roles.prepare(engine, service_password=password, **names)
            print(f"roles ready: group {names['group']!r}, service {names['service']!r}")
        else:
            roles.add_user(engine, args.name, password, **names)
            print(f"user {args.name!r} may log in to the catalog as themself")
    finally:
        engine.dispose()
    return 0


def _password(args: argparse.Namespace) -> str:
    if not args.password_stdin:
        raise ConfigError("give the password on stdin with --password-stdin (never on the command line)")
    password = sys.stdin.readline().rstrip("\n")
    if len(password) < 12:
        raise ConfigError("the password is shorter than 12 characters")
    return password


def _model_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"a model is named by its id (a number), not {text!r}: `workbench models` lists them"
        ) from None
