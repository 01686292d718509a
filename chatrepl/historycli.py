"""`chatrepl history list|search|show|export|delete|purge|import`: the history from the shell.

One row in subcommands.SUBCOMMANDS; each action is a small function over an open HistoryDB.
Unknown ids and bad dates exit 2, a database that cannot be used exits 1 (one line each).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatrepl.errors import EXIT_FAILURE, EXIT_OK, StateError, UsageError
from chatrepl.fsutil import write_atomic
from chatrepl.wording import plural

if TYPE_CHECKING:
    from chatrepl.historydb import Conversation, HistoryDB
    from chatrepl.subcommands import Call

LISTED = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The actions of `chatrepl history` and their arguments."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                    parser_class=type(parser))

    def action(name: str, help: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(
            name, help=help, description=help, **({"out": parser.out} if hasattr(parser, "out")
                                                  else {}))
        return sub

    listing = action("list", "recent conversations, newest first")
    listing.add_argument("-n", "--limit", type=int, default=LISTED, help="how many (default 20)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    search = action("search", "conversations with a message matching QUERY (plain words)")
    search.add_argument("query", nargs="+", metavar="QUERY")
    search.add_argument("-n", "--limit", type=int, default=LISTED, help="how many (default 20)")
    search.add_argument("--json", action="store_true", help="print JSON")
    show = action("show", "print a conversation (its current branch)")
    show.add_argument("id", metavar="ID", help="conversation id (or name)")
    show.add_argument("--json", action="store_true", help="print JSON")
    export = action("export", "write a conversation's current branch as Markdown or JSON")
    export.add_argument("id", metavar="ID", help="conversation id (or name)")
    export.add_argument("--format", choices=("md", "json"), default="md")
    export.add_argument("-o", "--output", metavar="PATH", help="write to PATH (default: stdout)")
    delete = action("delete", "delete a conversation")
    delete.add_argument("id", metavar="ID", help="conversation id (or name)")
    purge = action("purge", "delete conversations last updated before DATE")
    purge.add_argument("--before", required=True, metavar="DATE",
                       help="YYYY-MM-DD or YYYY-MM-DDTHH:MM (local time)")
    purge.add_argument("-y", "--yes", action="store_true", help="do not ask")
    imports = action("import", "import saved conversation JSON files (again is harmless)")
    imports.add_argument("paths", nargs="+", metavar="PATH")


def parse_date(text: str) -> float:
    """A local date or date-time as a timestamp; UsageError naming the format otherwise."""
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise UsageError(f"--before {text!r}: not a date; use YYYY-MM-DD or"
                         " YYYY-MM-DDTHH:MM") from None


def _found(db: HistoryDB, ref: str) -> Conversation:
    from chatrepl.historyuse import find_conversation

    found = find_conversation(db, ref)
    if found is None:
        raise UsageError(f"no conversation {ref!r} in the history (see `chatrepl history list`)")
    return found


def _dump(out: Any, data: Any) -> None:
    json.dump(data, out, indent=1, ensure_ascii=False)
    out.write("\n")


def _list(call: Call, db: HistoryDB) -> int:
    from chatrepl.historyview import listing

    rows = db.recent(max(1, call.args.limit))
    if call.args.json:
        _dump(call.out, [row.as_json() for row in rows])
    elif rows:
        call.out.write("\n".join(listing(rows)) + "\n")
    else:
        call.out.write("no conversations in the history yet\n")
    return EXIT_OK


def _search(call: Call, db: HistoryDB) -> int:
    from chatrepl.historyview import hit_lines

    query = " ".join(call.args.query)
    hits = db.search(query, max(1, call.args.limit))
    if call.args.json:
        _dump(call.out, [hit.as_json() for hit in hits])
        return EXIT_OK
    if not hits:
        call.out.write(f"nothing in the history matches {query!r}\n")
    for number, hit in enumerate(hits, 1):
        call.out.write("\n".join(hit_lines(hit, number)) + "\n")
    return EXIT_OK


def _show(call: Call, db: HistoryDB) -> int:
    from chatrepl.historyview import as_json, as_markdown

    found = _found(db, call.args.id)
    if call.args.json:
        _dump(call.out, as_json(found))
    else:
        call.out.write(as_markdown(found))
    return EXIT_OK


def _export(call: Call, db: HistoryDB) -> int:
    from chatrepl.historyview import as_json, as_markdown

    found = _found(db, call.args.id)
    text = (json.dumps(as_json(found), indent=1, ensure_ascii=False) + "\n"
            if call.args.format == "json" else as_markdown(found))
    if call.args.output:
        target = Path(call.args.output).expanduser()
        try:
            write_atomic(target, text)
        except OSError as exc:
            raise StateError(f"{target}: cannot write ({exc.strerror or exc})") from None
        call.err.write(f"wrote {target}\n")
    else:
        call.out.write(text)
    return EXIT_OK


def _delete(call: Call, db: HistoryDB) -> int:
    found = _found(db, call.args.id)
    db.delete(found.row.id)
    call.out.write(f"deleted #{found.row.id} ({found.row.title or 'empty'})\n")
    return EXIT_OK


def _purge(call: Call, db: HistoryDB) -> int:
    before = parse_date(call.args.before)
    count = sum(1 for row in db.recent(1_000_000) if row.updated < before)
    if not count:
        call.out.write("nothing to purge\n")
        return EXIT_OK
    what = f"delete {plural(count, 'conversation')} last updated before {call.args.before}"
    if not call.args.yes:
        if call.ask is None:
            raise UsageError(f"purge would {what}; pass --yes to go ahead")
        if not call.ask(f"{what}?"):
            call.err.write("nothing deleted\n")
            return EXIT_OK
    call.out.write(f"deleted {plural(db.purge(before), 'conversation')}\n")
    return EXIT_OK


def _import(call: Call, db: HistoryDB) -> int:
    from chatrepl.historyimport import import_file

    failed = 0
    for name in call.args.paths:
        path = Path(name).expanduser()
        try:
            done = import_file(db, path)
        except StateError as exc:
            failed += 1
            call.err.write(f"chatrepl: {exc}\n")
            continue
        if done.conversation_id is None:
            call.out.write(f"{path}: already in the history (or empty)\n")
        else:
            call.out.write(f"{path}: imported as #{done.conversation_id}\n")
    return EXIT_FAILURE if failed else EXIT_OK


ACTIONS: dict[str, Callable[[Call, HistoryDB], int]] = {
    "list": _list, "search": _search, "show": _show, "export": _export, "delete": _delete,
    "purge": _purge, "import": _import,
}


def cmd_history(call: Call) -> int:
    """Run one action on the history database (old JSON files imported the first time)."""
    from chatrepl.historyuse import open_history

    def warn(line: str) -> None:
        call.err.write(f"chatrepl: {line}\n")

    db = open_history(call.paths, warn)
    try:
        return ACTIONS[call.args.action](call, db)
    finally:
        db.close()
