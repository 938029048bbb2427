"""Users and tokens from the shell: ``createtoken``, and ``users`` (list, roles, disable, logins, locks)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("createtoken", help="print a new API token for a user (for scripts)")
    p.add_argument("user", help="user name")
    p.add_argument("name", help="what the token is for, e.g. nightly-export")
    p.set_defaults(func=createtoken)

    p = sub.add_parser("users", help="list users; set roles, disable, end logins, clear login locks")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    a = actions.add_parser("list", help="users with role, state, open logins (the default)")
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("role", help="make a user admin or member")
    a.add_argument("name")
    a.add_argument("role", choices=["admin", "member"])
    for name, help_text in (
        ("disable", "stop a user logging in (their logins end, their tokens stop working)"),
        ("enable", "let a disabled user log in again"),
        ("logout", "end every dashboard login of a user"),
        ("password", "set a user's password (asks for it; every login of the user ends)"),
    ):
        a = actions.add_parser(name, help=help_text)
        a.add_argument("name")
        if name == "password":
            a.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    a = actions.add_parser("unlock", help="clear the failed-login lock of a user (or of a client address)")
    a.add_argument("name", nargs="?", help="user name")
    a.add_argument("--address", help="a client IP address instead")
    p.set_defaults(func=users, action=None, json=False)


def createtoken(args: argparse.Namespace) -> int:
    from dva_ocr.db.session import session_scope
    from dva_ocr.users import get_user, issue_token

    with session_scope() as s:
        user = get_user(s, args.user)
        row, token = issue_token(session=s, user=user, name=args.name)
        print(f"token {row.name!r} for {user.name} (id {row.id}); it is shown only now:", file=sys.stderr)
    print(token)
    return 0


def users(args: argparse.Namespace) -> int:
    from dva_ocr import throttle
    from dva_ocr.db.session import session_scope
    from dva_ocr.errors import DvaOcrError
    from dva_ocr.sessions import end_sessions, live_sessions
    from dva_ocr.users import get_user, list_users, set_disabled, set_password, set_role

    with session_scope() as s:
        action = args.action or "list"
        if action == "list":
            rows = [
                {
                    "id": u.id,
                    "name": u.name,
                    "role": u.role,
                    "disabled": u.disabled_at is not None,
                    "live_sessions": live_sessions(s, u.id),
                }
                for u in list_users(s)
            ]
            locks = [
                {"key": f.key, "locked_until": f.locked_until.isoformat()}
                for f in throttle.locked(s)
                if f.locked_until
            ]
            if args.json:
                print(json.dumps({"users": rows, "locked": locks}, indent=2))
                return 0
            for r in rows:
                state = "disabled" if r["disabled"] else "active"
                print(
                    f"{r['id']:>4}  {r['name']:<24} {r['role']:<7} {state:<9} {r['live_sessions']} login(s)"
                )
            for lock in locks:
                print(f"locked: {lock['key']} until {lock['locked_until']}")
            return 0
        if action == "unlock":
            if not args.name and not args.address:
                raise DvaOcrError("say whose lock to clear: users unlock NAME, or users unlock --address IP")
            keys = [throttle.user_key(get_user(s, args.name).name)] if args.name else []
            keys += (
                [throttle.address_key(args.address), throttle.address_key(args.address, "token-addr")]
                if args.address
                else []
            )
            n = throttle.clear(s, keys)
            print(f"cleared {n} lock(s)")
            return 0
        user = get_user(s, args.name)
        if action == "role":
            set_role(session=s, user=user, role=args.role)
            print(f"{user.name} is now {args.role}")
        elif action in ("disable", "enable"):
            set_disabled(session=s, user=user, disabled=action == "disable")
            print(f"{user.name} {action}d")
        elif action == "logout":
            print(f"ended {end_sessions(s, user.id)} login(s) of {user.name}")
        elif action == "password":
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\n")
            else:
                password = getpass.getpass(f"new password for {user.name}: ")
                if getpass.getpass("again: ") != password:
                    raise DvaOcrError("the passwords differ")
            ended = set_password(session=s, user=user, password=password)
            print(f"password of {user.name} changed; {ended} login(s) ended")
    return 0
