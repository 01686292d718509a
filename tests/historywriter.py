"""A separate process writing turns to a history database, for the crash and concurrency tests.

    python historywriter.py DB TAG COUNT

Opens DB, starts a conversation, prints `ready ID`, waits for a line on stdin, then writes
COUNT turns (0: until killed), each one transaction, printing the turn's number once it is
committed. Exits 0 when done.
"""

from __future__ import annotations

import sys
from pathlib import Path

from chatrepl.historydb import HistoryDB, NewMessage
from chatrepl.messages import assistant, user


def main(argv: list[str]) -> int:
    db = HistoryDB(Path(argv[1]), busy_timeout=30.0)
    tag, count = argv[2], int(argv[3])
    conversation = db.new_conversation("prov", "mod")
    print("ready", conversation, flush=True)
    sys.stdin.readline()
    parent = None
    number = 0
    while count == 0 or number < count:
        ids = db.add_messages(conversation, parent, [
            NewMessage(user(f"{tag} question {number}")),
            NewMessage(assistant(f"{tag} answer {number} " + "padding " * 300), "prov", "mod")])
        parent = ids[-1]
        print(number, flush=True)
        number += 1
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
