"""/copy (which reply or code block, the clipboard tool, the report line) and /undo (turns
removed, the message back in the input line), through the REPL over typed lines."""

from __future__ import annotations

import base64
import os
import signal
from pathlib import Path

import pytest
from chathelpers import chat_bodies
from editorhelpers import env_runner, script, tool_env

from chatrepl.clipboard import ClipboardTool, copy_text, find_tool, osc52, run_tool

FIRST = "First answer:\n\n```python\nprint(1)\n```\n\nand\n\n```sh\necho two\n```\n"
SECOND = "Second answer, no code."


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """Where the fake xclip puts what it is given."""
    return tmp_path / "clipboard.txt"


@pytest.fixture
def repl(tmp_path: Path, chatrepl_home: Path, fake_server, clip: Path):
    """The REPL with an X display and a fake xclip on PATH; two turns already taken."""
    script(tmp_path / "bin", "xclip", f'cat > "{clip}"')
    run = env_runner(chatrepl_home, fake_server.url, tool_env(tmp_path / "bin", DISPLAY=":0"))
    fake_server.behavior.chat_reply = FIRST
    run("one")
    fake_server.behavior.chat_reply = SECOND
    run("two")
    return run


def test_copy_takes_the_last_reply_as_markdown(repl, clip: Path) -> None:
    _, printed = repl("/copy")
    assert clip.read_text(encoding="utf-8") == SECOND
    assert f"copied {len(SECOND)} characters (last reply) via OSC 52 and xclip" in printed


def test_copy_n_takes_the_nth_last_reply(repl, clip: Path) -> None:
    _, printed = repl("/copy 2")
    assert clip.read_text(encoding="utf-8") == FIRST
    assert f"copied {len(FIRST)} characters (reply 2 from the end)" in printed


def test_copy_code_k_takes_block_k_of_the_last_reply(repl, clip: Path, fake_server) -> None:
    fake_server.behavior.chat_reply = FIRST
    _, printed = repl("three", "/copy code 2")
    assert clip.read_text(encoding="utf-8") == "echo two"
    assert "copied 8 characters (code block 2) via OSC 52 and xclip" in printed
    repl("/copy code")
    assert clip.read_text(encoding="utf-8") == "print(1)"


@pytest.mark.parametrize(("line", "said"), [
    ("/copy 3", "error: there are 2 replies; /copy N takes N from 1 to 2"),
    ("/copy code 1", "error: the last reply has no code blocks"),
    ("/copy 0", "error: '0' is not a positive number; usage: /copy [N | code [K]]"),
    ("/copy code 1 2", "error: usage: /copy [N | code [K]]"),
])
def test_copy_out_of_range_says_what_there_is(repl, clip: Path, line: str, said: str) -> None:
    _, printed = repl(line)
    assert said in printed
    assert not clip.exists()


def test_copy_code_past_the_last_block_names_the_count(repl, clip: Path, fake_server) -> None:
    fake_server.behavior.chat_reply = FIRST
    _, printed = repl("three", "/copy code 3")
    assert "error: the last reply has 2 code blocks; /copy code K takes K from 1 to 2" in printed


def test_copy_before_any_reply(tmp_path: Path, chatrepl_home: Path, fake_server) -> None:
    run = env_runner(chatrepl_home, fake_server.url, tool_env(tmp_path / "bin"))
    _, printed = run("/copy")
    assert "error: no reply to copy yet" in printed


# -- the clipboard ways ------------------------------------------------------------------------

def test_osc52_carries_the_base64_of_the_utf8_text() -> None:
    sequence = osc52("héllo\n")
    assert sequence.startswith("\x1b]52;c;") and sequence.endswith("\x07")
    assert base64.b64decode(sequence[7:-1]).decode("utf-8") == "héllo\n"


def test_the_tool_depends_on_the_display(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    for name in ("wl-copy", "xclip"):
        script(bin_dir, name, "cat >/dev/null")
    only = {"PATH": str(bin_dir)}
    assert find_tool(only) is None  # no display: neither can reach a clipboard
    assert find_tool({**only, "DISPLAY": ":0"}).name == "xclip"  # type: ignore[union-attr]
    assert find_tool({**only, "DISPLAY": ":0", "WAYLAND_DISPLAY": "w"}).name == "wl-copy"  # type: ignore[union-attr]


def test_a_failing_tool_is_reported_and_osc52_still_copies(tmp_path: Path) -> None:
    script(tmp_path / "bin", "xclip", "exit 1")
    written: list[str] = []
    outcome = copy_text("abc", {"PATH": str(tmp_path / "bin"), "DISPLAY": ":0"}, written.append)
    assert written == [osc52("abc")]
    assert outcome.describe(3) == "copied 3 characters via OSC 52 (xclip failed with exit status 1)"


def test_nothing_to_copy_with_says_why(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    outcome = copy_text("abc", {"PATH": str(tmp_path / "empty")}, None)
    assert not outcome.copied
    assert outcome.describe(3, "last reply") == (
        "nothing copied (last reply): no terminal for OSC 52; no clipboard tool found"
        " (wl-copy, xclip, xsel, pbcopy, clip.exe)")


def test_a_tool_that_hangs_is_given_up_on(tmp_path: Path) -> None:
    tool = ClipboardTool("xclip", (str(script(tmp_path / "bin", "xclip", "exec sleep 60")),))
    assert run_tool(tool, "abc", {"PATH": os.environ.get("PATH", "")}, timeout=0.2) == \
        "xclip did not finish within 0.2 s"


def test_a_tool_leaving_a_child_behind_does_not_hold_the_copy(tmp_path: Path) -> None:
    # xclip and wl-copy fork a child that keeps serving the clipboard after they exit.
    pid_file = tmp_path / "child.pid"
    body = f'cat > "{tmp_path}/got"; sleep 60 & echo $! > "{pid_file}"'
    tool = ClipboardTool("xclip", (str(script(tmp_path / "bin", "xclip", body)),))
    try:
        assert run_tool(tool, "abc", {"PATH": os.environ.get("PATH", "")}, timeout=20) is None
        assert (tmp_path / "got").read_text() == "abc"
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


# -- /undo -------------------------------------------------------------------------------------

def test_undo_removes_the_last_turn_and_saves(repl, chatrepl_home: Path) -> None:
    state, printed = repl("/undo")
    assert "removed 1 turn; your message is back in the input line" in printed
    assert [m.content for m in state.chat.messages] == ["one", FIRST]
    assert '"two"' not in (chatrepl_home / "state" / "autosave.json").read_text()


def test_undo_puts_the_message_back_in_the_input_line(repl, fake_server) -> None:
    fake_server.behavior.chat_reply = "again"
    state, _ = repl("/undo", "")  # Enter on the restored line sends it again
    sent = chat_bodies(fake_server)[-1]["messages"]
    assert [m["content"] for m in sent] == ["one", FIRST, "two"]
    assert [m.content for m in state.chat.messages] == ["one", FIRST, "two", "again"]


def test_undo_n_goes_back_n_turns_and_restores_the_earliest_removed(repl, fake_server) -> None:
    fake_server.behavior.chat_reply = "anew"
    state, printed = repl("/undo 2", "")  # the line holds "one", where the conversation resumes
    assert "removed 2 turns;" in printed
    assert [m["content"] for m in chat_bodies(fake_server)[-1]["messages"]] == ["one"]
    assert [m.content for m in state.chat.messages] == ["one", "anew"]


def test_undo_more_than_there_is_removes_all_and_says_so(repl) -> None:
    state, printed = repl("/undo 5")
    assert "removed 2 turns (all there were)" in printed and state.chat.messages == []
    _, printed = repl("/undo")
    assert "error: nothing to undo" in printed


@pytest.mark.parametrize("line", ["/undo x", "/undo 0", "/undo 1 2"])
def test_undo_with_a_bad_count_changes_nothing(repl, line: str) -> None:
    state, printed = repl(line)
    assert "error:" in printed and "/undo [N]" in printed
    assert len(state.chat.messages) == 4


def test_undo_after_a_failed_turn_takes_back_the_failed_message(repl, fake_server) -> None:
    fake_server.behavior.chat_status = 500
    state, printed = repl("three")
    assert state.chat.unsent == "three" and "error:" in printed
    fake_server.behavior.chat_status = 200
    fake_server.behavior.chat_reply = "fixed"
    state, printed = repl("/undo", "")  # the failed message is back, the two turns are kept
    assert "removed 1 turn;" in printed
    assert [m.content for m in state.chat.messages] == ["one", FIRST, "two", SECOND, "three",
                                                         "fixed"]
    assert state.chat.unsent is None
