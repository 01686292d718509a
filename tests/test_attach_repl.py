"""/attach, /detach and `@path` in the REPL: what the loopback server receives, and what is
refused before any request (one line; the conversation and the staged items as they were)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import threading
from pathlib import Path

import pytest
from attachhelpers import PDF, PNG, Run, chat_bodies, last_user_content, repl_with_catalog
from fakeserver import FakeOpenAIServer
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from prompt_toolkit.utils import get_cwidth
from replhelpers import END_KEYS

from chatrepl.attachments import MAX_TEXT_BYTES
from chatrepl.repl import Prepared, run_repl
from chatrepl.replstate import ReplState
from chatrepl.replterminal import PromptTerminal
from chatrepl.toolbar import toolbar_text


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _staged(home: Path, server: FakeOpenAIServer, folder: Path, word: str = "a.txt",
            files: dict[str, str] | None = None) -> tuple[Run, ReplState]:
    """A REPL (repl_with_catalog) with `files` (default a.txt: "alpha") written in `folder` and
    `/attach WORD` read and staged."""
    for name, text in (files or {"a.txt": "alpha\n"}).items():
        (folder / name).write_text(text, encoding="utf-8")
    run = repl_with_catalog(home, server)
    state, _ = run(f"/attach {word}")
    state.attachments.wait()
    return run, state


def test_a_text_file_goes_with_the_next_message_under_a_header(chatrepl_home: Path, fake_server,
                                                               folder: Path) -> None:
    (folder / "notes.txt").write_text("the answer is 42\n", encoding="utf-8")
    run = repl_with_catalog(chatrepl_home, fake_server)
    state, _ = run("/attach notes.txt")
    assert chat_bodies(fake_server) == []  # never sent alone
    state.attachments.wait()
    assert [i.name for i in state.attachments.items] == ["notes.txt"]
    state, _ = run("what is the answer?")
    content = last_user_content(fake_server)
    assert content == ("===== notes.txt =====\nthe answer is 42\n===== end of notes.txt =====\n\n"
                       "what is the answer?")
    stored = state.chat.messages[0]
    assert stored.content == "what is the answer?"
    (record,) = stored.attachments
    assert {k: record[k] for k in ("source", "kind", "size", "sha256")} == {
        "source": "notes.txt", "kind": "text", "size": 17,
        "sha256": hashlib.sha256(b"the answer is 42\n").hexdigest()}
    assert state.attachments.items == ()  # sent: no longer staged
    run("and again?")
    assert last_user_content(fake_server) == "and again?"  # only with the message it went with
    assert chat_bodies(fake_server)[-1]["messages"][0]["content"] == content  # history resent


def test_an_image_goes_as_a_data_url_part_to_a_model_that_takes_images(
        chatrepl_home: Path, fake_server, folder: Path) -> None:
    (folder / "dot.png").write_bytes(PNG)
    run = repl_with_catalog(chatrepl_home, fake_server, "seeing")
    run("/attach dot.png", "what is this?")
    text_part, image_part = last_user_content(fake_server)
    assert text_part == {"type": "text", "text": "what is this?"}
    assert image_part == {"type": "image_url", "image_url": {
        "url": "data:image/png;base64," + base64.b64encode(PNG).decode()}}


def test_an_image_to_a_model_the_catalog_does_not_know_is_sent(chatrepl_home: Path, fake_server,
                                                               folder: Path) -> None:
    (folder / "dot.png").write_bytes(PNG)
    run = repl_with_catalog(chatrepl_home, fake_server, "fake-chat")
    run("/attach dot.png", "what is this?")
    assert last_user_content(fake_server)[1]["type"] == "image_url"


def test_an_image_to_a_text_only_model_is_refused_before_any_request(
        chatrepl_home: Path, fake_server, folder: Path) -> None:
    (folder / "dot.png").write_bytes(PNG)
    run = repl_with_catalog(chatrepl_home, fake_server, "text-only")
    state, text = run("/attach dot.png", "what is this?")
    assert chat_bodies(fake_server) == []
    refusal = [line for line in text.splitlines() if "takes no images" in line]
    assert len(refusal) == 1 and "`/models --vision`" in refusal[0]
    assert state.chat.messages == []
    assert [i.kind for i in state.attachments.items] == ["image"]  # still staged
    state, _ = run("/model fake/seeing", "what is this?")
    assert last_user_content(fake_server)[1]["type"] == "image_url"
    assert state.attachments.items == ()


def test_an_attachment_larger_than_the_context_window_is_refused(chatrepl_home: Path, fake_server,
                                                                 folder: Path) -> None:
    (folder / "big.txt").write_text("word " * 2000, encoding="utf-8")  # ~2,500 tokens
    run = repl_with_catalog(chatrepl_home, fake_server, "tiny")
    state, text = run("/attach big.txt", "summarize")
    assert chat_bodies(fake_server) == []
    assert "larger than fake/tiny's context window (1,000)" in text
    assert len(state.attachments.items) == 1


@pytest.mark.parametrize(("make", "said"), [
    (lambda f: None, "no such file"),
    (lambda f: (f / "missing.txt").write_bytes(b"\x00\x01\x02binary"), "binary (not UTF-8 text)"),
    (lambda f: (f / "missing.txt").write_bytes(b"x" * (MAX_TEXT_BYTES + 1)),
     "over the 2 MB cap for one text attachment"),
])
def test_a_file_that_cannot_be_attached_is_one_line_and_nothing_is_staged(
        chatrepl_home: Path, fake_server, folder: Path, make, said: str) -> None:
    make(folder)
    run = repl_with_catalog(chatrepl_home, fake_server)
    state, text = run("/attach missing.txt", "hello")
    (line,) = [line for line in text.splitlines() if "missing.txt" in line]
    assert line.startswith(f"error: missing.txt: {said}")
    assert last_user_content(fake_server) == "hello"
    assert state.chat.messages[0].attachments == ()


def test_at_path_in_a_message_attaches_the_file_and_a_missing_one_sends_nothing(
        chatrepl_home: Path, fake_server, folder: Path) -> None:
    (folder / "code.py").write_text("print('hi')\n", encoding="utf-8")
    run = repl_with_catalog(chatrepl_home, fake_server)
    # Refused, the message is back in the input line: Enter sends it again (refused again).
    _, text = run("explain @./nope.py please", end="\r" + END_KEYS)
    assert chat_bodies(fake_server) == []
    assert text.count("nope.py: no such file") == 2
    run("explain @code.py, mail me @home")
    content = last_user_content(fake_server)
    assert content.startswith("===== code.py =====\nprint('hi')\n")
    assert content.endswith("explain @code.py, mail me @home")


def test_list_detach_and_the_toolbar(chatrepl_home: Path, fake_server, folder: Path) -> None:
    (folder / "a.txt").write_text("alpha\n", encoding="utf-8")
    (folder / "b.txt").write_text("beta\n", encoding="utf-8")
    (folder / "dot.png").write_bytes(PNG)
    run = repl_with_catalog(chatrepl_home, fake_server, "seeing")
    state, _ = run("/attach a.txt b.txt", "/attach dot.png")
    state.attachments.wait()
    assert "📎 3: 2 text, 1 image ~" in toolbar_text(state, 200)
    state, text = run("/attach")
    assert "1. a.txt (text" in text and "2. b.txt (text" in text and "3. dot.png (image" in text
    state, text = run("/detach 1", "/detach 9")
    assert "dropped a.txt" in text and "no staged attachment 9" in text
    run("go")
    content = last_user_content(fake_server)
    assert "beta" in content[0]["text"] and "alpha" not in content[0]["text"]
    state, _ = run("/attach a.txt", "/detach")
    assert state.attachments.items == () and "📎" not in toolbar_text(state, 200)


def test_a_pdf_goes_whole_as_a_file_part_to_a_model_that_takes_pdfs(
        chatrepl_home: Path, fake_server, folder: Path) -> None:
    (folder / "paper.pdf").write_bytes(PDF)
    run = repl_with_catalog(chatrepl_home, fake_server, "pdf-reader")
    run("/attach paper.pdf", "summarize")
    _text, part = last_user_content(fake_server)
    assert part == {"type": "file", "file": {
        "filename": "paper.pdf",
        "file_data": "data:application/pdf;base64," + base64.b64encode(PDF).decode()}}


def test_a_pdf_without_text_to_a_model_that_takes_none_is_one_line(
        chatrepl_home: Path, fake_server, folder: Path) -> None:
    (folder / "paper.pdf").write_bytes(PDF)  # no text layer (and pypdf may be missing)
    run = repl_with_catalog(chatrepl_home, fake_server, "text-only")
    state, text = run("/attach paper.pdf", "summarize")
    assert chat_bodies(fake_server) == []
    line = next(line for line in text.splitlines() if "paper.pdf" in line and "error" in line)
    assert "takes no PDF files" in line
    assert len(state.attachments.items) == 1


def test_command_output_is_attached_and_a_failing_command_is_one_line(
        chatrepl_home: Path, fake_server, folder: Path) -> None:
    run = repl_with_catalog(chatrepl_home, fake_server)
    state, text = run("/attach !echo oops >&2; exit 3")
    assert "!echo oops >&2; exit 3: failed (exit 3): oops" in text
    assert state.attachments.items == ()
    run("/attach !printf 'line one\\n'", "what did it say?")
    assert last_user_content(fake_server).startswith(
        "===== !printf 'line one\\n' =====\nline one\n")


def test_a_resumed_conversation_sends_the_same_content_without_the_file(
        chatrepl_home: Path, fake_server, folder: Path) -> None:
    (folder / "notes.txt").write_text("first version\n", encoding="utf-8")
    (folder / "dot.png").write_bytes(PNG)
    run = repl_with_catalog(chatrepl_home, fake_server, "seeing")
    run("/attach notes.txt dot.png", "look", "/save kept")
    first = chat_bodies(fake_server)[-1]["messages"][0]
    (folder / "notes.txt").write_text("changed since\n", encoding="utf-8")
    (folder / "dot.png").unlink()
    run("/clear", "/load kept", "and now?")
    again = chat_bodies(fake_server)[-1]["messages"]
    assert again[0] == first
    assert [m["content"] for m in again[1:]] == ["Hello from the fake server.", "and now?"]


def test_a_failed_turn_keeps_the_staged_items_and_retry_sends_them(
        chatrepl_home: Path, fake_server, folder: Path) -> None:
    (folder / "notes.txt").write_text("kept\n", encoding="utf-8")
    (folder / "later.txt").write_text("later\n", encoding="utf-8")
    run = repl_with_catalog(chatrepl_home, fake_server)
    fake_server.behavior.chat_status = 500
    state, _ = run("/attach notes.txt", "read it")
    assert state.chat.messages == [] and [i.name for i in state.attachments.items] == ["notes.txt"]
    fake_server.behavior.chat_status = 200
    state, _ = run("/attach later.txt", "/retry")
    assert last_user_content(fake_server).startswith("===== notes.txt =====\nkept\n")
    assert "later" not in last_user_content(fake_server)
    assert [i.name for i in state.attachments.items] == ["later.txt"]  # staged after: still there


def test_staged_attachments_are_not_sent_in_compare_mode(chatrepl_home: Path, fake_server,
                                                         folder: Path) -> None:
    (folder / "notes.txt").write_text("n\n", encoding="utf-8")
    run = repl_with_catalog(chatrepl_home, fake_server)
    state, text = run("/attach notes.txt", "/compare fake/fake-chat fake/seeing", "compare this")
    assert chat_bodies(fake_server) == []
    assert "attachments go with a message to one model: /compare off first" in text
    assert len(state.attachments.items) == 1


def test_detach_drops_a_read_that_never_ends_and_attaching_goes_on(
        chatrepl_home: Path, fake_server, folder: Path) -> None:
    """A FIFO nobody writes to: its read never ends. /detach drops it, a message goes without
    waiting for it, a later /attach is read on a new worker, and no worker holds up the exit."""
    os.mkfifo(folder / "pipe")
    (folder / "notes.txt").write_text("the notes\n", encoding="utf-8")
    run = repl_with_catalog(chatrepl_home, fake_server)
    try:
        _, text = run("/attach pipe", "/detach", "hello", "/attach notes.txt", "with notes")
        assert "dropped 1 read still running" in text
        first, second = (body["messages"][-1]["content"] for body in chat_bodies(fake_server))
        assert first == "hello"
        assert "the notes" in str(second) and "with notes" in str(second)
        assert all(t.daemon for t in threading.enumerate() if t.name == "chatrepl-attach")
    finally:  # end the read if it started (its result is not staged: it was dropped)
        with contextlib.suppress(OSError):  # ENXIO: dropped before it opened the FIFO
            os.close(os.open(folder / "pipe", os.O_WRONLY | os.O_NONBLOCK))


def test_the_same_file_attached_twice_is_staged_once(chatrepl_home: Path, fake_server,
                                                     folder: Path) -> None:
    run, _ = _staged(chatrepl_home, fake_server, folder,
                     files={"a.txt": "alpha\n", "b.txt": "beta\n"})
    state, _ = run("/attach ./a.txt b.txt a.txt")
    state.attachments.wait()  # its report is printed before the wait ends
    assert [item.name for item in state.attachments.items] == ["a.txt", "b.txt"]
    assert run.everything().count("a.txt is already staged") == 2
    run("go")
    assert last_user_content(fake_server).count("===== a.txt =====") == 1


def test_ctrl_d_with_staged_attachments_asks_for_a_second_one(chatrepl_home: Path, fake_server,
                                                              folder: Path) -> None:
    run, _ = _staged(chatrepl_home, fake_server, folder)
    warning = "1 attachment staged and not sent: Ctrl-D again exits without them"
    # One Ctrl-D, then a message: the REPL was still there to send it, with the file. (A line
    # first: a Ctrl-D before the REPL has its state, staged items unknown yet, ends it.)
    state, text = run("/attach", end="\x04go\r\x04")
    assert text.count(warning) == 1
    assert last_user_content(fake_server).startswith("===== a.txt =====\nalpha\n")
    # Nothing staged now: one Ctrl-D ends the REPL without a word.
    state, text = run("/attach", end="\x04")
    assert "nothing staged" in text and "staged and not sent" not in text
    # Staged again: two Ctrl-D in a row end it, and nothing more was sent.
    requests = len(chat_bodies(fake_server))
    state, _ = run("/attach a.txt")
    state.attachments.wait()
    state, text = run("/attach", end="\x04\x04")
    assert text.count(warning) == 1 and len(chat_bodies(fake_server)) == requests


def test_ctrl_d_as_the_first_key_knows_what_the_start_staged(chatrepl_home: Path, fake_server,
                                                             folder: Path) -> None:
    """`chatrepl -a FILE` then Ctrl-D at once: the start-up work (which stages FILE) has run
    before Ctrl-D is judged, so it warns instead of exiting with the file dropped."""
    (folder / "a.txt").write_text("alpha\n", encoding="utf-8")
    run = repl_with_catalog(chatrepl_home, fake_server)
    state, _ = run("/attach")  # nothing staged yet
    state.attachments.drop()

    def stage_a() -> None:
        state.attachments.start_paths(["a.txt"], folder, lambda lines, error: None)

    def load_after_the_first_prompt(terminal: PromptTerminal) -> Prepared:
        """The state is handed over only once the first prompt has ended (on that Ctrl-D)."""
        prompt_over = threading.Event()
        ended = terminal.prompt_ended

        def prompt_ended() -> None:
            ended()
            prompt_over.set()

        terminal.prompt_ended = prompt_ended  # type: ignore[method-assign]
        prompt_over.wait(timeout=10)  # bounded: the prompt may have ended before this began
        return Prepared(state, on_ready=stage_a)

    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("\x04go\r\x04")
        assert run_repl(load_after_the_first_prompt, input=pipe, output=DummyOutput(),
                        history_path=state.runtime.paths.history_file) == 0
    assert "1 attachment staged and not sent" in run.everything()
    assert last_user_content(fake_server).startswith("===== a.txt =====\nalpha\n")


def test_the_same_file_by_another_path_or_as_at_path_goes_once(chatrepl_home: Path, fake_server,
                                                               folder: Path) -> None:
    (folder / "a.txt").write_text("alpha\n", encoding="utf-8")
    run = repl_with_catalog(chatrepl_home, fake_server)
    state, _ = run(f"/attach {folder / 'a.txt'}", "/attach ../work/a.txt a.txt a.txt")
    state.attachments.wait()
    assert len(state.attachments.items) == 1
    assert run.everything().count("attached ") == 1
    run("see @a.txt again")
    assert last_user_content(fake_server).count("===== ") == 2  # one header, one end line


def test_a_file_name_with_a_newline_is_shown_on_one_line(chatrepl_home: Path, fake_server,
                                                         folder: Path) -> None:
    run, _ = _staged(chatrepl_home, fake_server, folder, "new?line.txt",
                     files={"new\nline.txt": "x\n"})
    _, text = run("/attach", "/detach 1")
    assert "attached new\\nline.txt (text" in run.everything()
    assert "1. new\\nline.txt (text" in text and "dropped new\\nline.txt" in text


def test_a_narrow_toolbar_keeps_the_count_of_staged_items(chatrepl_home: Path, fake_server,
                                                          folder: Path) -> None:
    _, state = _staged(chatrepl_home, fake_server, folder)
    for width in (40, 50):
        text = toolbar_text(state, width)
        assert "📎 1" in text and "tokens" in text and get_cwidth(text) < width
    assert "📎 1: 1 text ~" in toolbar_text(state, 100)
