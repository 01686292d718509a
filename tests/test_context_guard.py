"""The context guard at the loopback server: the toolbar's `ctx` figure, the overflow question
and what each answer sends, `/context`, and one-shot's refusal without `--yes`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from guardhelpers import ENTRIES, chat_bodies, guard_config, long_turns, one_shot
from test_repl import repl_runner

from chatrepl.repl import toolbar_text


@pytest.fixture
def guarded(chatrepl_home: Path, fake_server):
    """A REPL on fake/small (400-token window) with discovery done, and a long conversation
    that no longer fits it."""
    fake_server.behavior.models_entries = ENTRIES
    run = repl_runner(chatrepl_home, guard_config(fake_server.url), "fake", "small",
                      since_last_run=True)
    state, _ = run("/discover fake")
    state.chat.messages = long_turns(3)
    return run, state


def sent_contents(body: dict) -> list[str]:
    return [m["content"].split()[0] for m in body["messages"]]


def test_toolbar_shows_the_context_against_the_window(chatrepl_home: Path, fake_server) -> None:
    fake_server.behavior.models_entries = ENTRIES
    run = repl_runner(chatrepl_home, guard_config(fake_server.url), "fake", "big")
    state, _ = run("/discover fake")
    assert "ctx" not in toolbar_text(state, 200)  # no window known before the catalog loads
    len(state.runtime.catalog)  # as the REPL's background work does
    assert "ctx 0/100k" in toolbar_text(state, 200)
    fake_server.behavior.chat_reply = "one two three"
    state, _ = run("abcd " * 10)
    # The server's report: 10 words in, 3 out; exact, so no `~`.
    assert "ctx 13/100k" in toolbar_text(state, 200)
    fake_server.behavior.usage = False  # as llama.cpp's server: no usage, an estimate
    state, _ = run("again")
    assert "ctx ~" in toolbar_text(state, 200)
    narrow = toolbar_text(state, 32)  # the context gives way; model and tokens stay
    assert "ctx" not in narrow and "fake/big" in narrow and "tokens" in narrow


def test_cancel_sends_nothing_and_keeps_the_conversation(guarded, fake_server) -> None:
    run, state = guarded
    _state, printed = run("hello", "4")
    assert "do not fit fake/small's 400 window" in printed
    assert "not sent" in printed
    assert chat_bodies(fake_server) == [] and len(state.chat.messages) == 6


def test_dropping_the_oldest_turns_sends_the_rest_and_keeps_them_marked(
        guarded, fake_server, chatrepl_home: Path) -> None:
    run, state = guarded
    _state, printed = run("hello", "1")
    assert "left out 2 older messages" in printed
    [body] = chat_bodies(fake_server)
    assert sent_contents(body) == ["q1", "a1", "q2", "a2", "hello"]
    assert [m.left_out for m in state.chat.messages] == [True, True] + [False] * 6
    saved = json.loads((chatrepl_home / "state" / "autosave.json").read_text())
    assert [m.get("left_out", False) for m in saved["messages"]][:3] == [True, True, False]
    _state, printed = run("/context")
    assert "left out (not sent)" in printed and "2 messages" in printed
    _state, printed = run("/context --restore", "again", "3")  # overflows again: send anyway
    assert sent_contents(chat_bodies(fake_server)[-1])[:2] == ["q0", "a0"]


def test_switching_model_with_tab_completion_sends_everything_to_it(guarded,
                                                                     fake_server) -> None:
    run, state = guarded
    _state, printed = run("hello", "2", "bi\t")
    assert "model: fake/big" in printed
    [body] = chat_bodies(fake_server)
    assert body["model"] == "big"
    assert sent_contents(body) == ["q0", "a0", "q1", "a1", "q2", "a2", "hello"]
    assert state.current_model == "fake/big"


def test_a_bad_model_name_asks_again(guarded, fake_server) -> None:
    run, state = guarded
    _state, printed = run("hello", "2", "no-such-model", "4")
    assert "unknown model 'no-such-model'" in printed and "not sent" in printed
    assert chat_bodies(fake_server) == [] and state.current_model == "fake/small"


def test_send_anyway_sends_the_whole_history(guarded, fake_server) -> None:
    run, _state = guarded
    run("hello", "3")
    [body] = chat_bodies(fake_server)
    assert sent_contents(body) == ["q0", "a0", "q1", "a1", "q2", "a2", "hello"]


def test_context_shows_what_takes_the_room(guarded) -> None:
    run, _state = guarded
    _state, printed = run("/system Be brief.", "/context")
    assert "fake/small: ~" in printed and "of 400 tokens" in printed
    for label in ("system prompt", "turn 1", "turn 3", "reply reserve", "free"):
        assert label in printed
    assert "over the window" in printed


def test_one_shot_refuses_an_overflow_without_yes(chatrepl_home: Path, fake_server) -> None:
    fake_server.behavior.models_entries = ENTRIES
    (chatrepl_home / "config.yaml").write_text(guard_config(fake_server.url), encoding="utf-8")
    assert one_shot(chatrepl_home, "discover")[0] == 0  # the window comes from the listing
    code, out, err = one_shot(chatrepl_home, "-m", "fake/small", "abcd " * 1000)
    assert code == 2 and out == ""
    assert "do not fit fake/small's 400 window" in err and "--yes" in err
    assert chat_bodies(fake_server) == []
    code, out, _err = one_shot(chatrepl_home, "-m", "fake/small", "--yes", "abcd " * 1000)
    assert code == 0 and out.strip() == fake_server.behavior.chat_reply
    assert len(chat_bodies(fake_server)) == 1


def test_staged_attachments_count_when_the_message_is_weighed(chatrepl_home: Path, fake_server,
                                                               tmp_path: Path) -> None:
    """A file that fits the window alone but leaves no room for the reply with the message
    is asked about like a long conversation: here the answer is not to send."""
    fake_server.behavior.models_entries = ENTRIES
    run = repl_runner(chatrepl_home, guard_config(fake_server.url), "fake", "small",
                      since_last_run=True)
    run("/discover fake")
    notes = tmp_path / "notes.txt"
    notes.write_text("word " * 260, encoding="utf-8")  # about 330 tokens of a 400 window
    state, printed = run(f"/attach {notes}", "summarize", "4")
    assert "do not fit fake/small's 400 window" in printed and "not sent" in printed
    assert chat_bodies(fake_server) == [] and state.chat.messages == []


def test_one_shot_weighs_an_attached_file_with_the_prompt(chatrepl_home: Path, fake_server,
                                                          tmp_path: Path) -> None:
    fake_server.behavior.models_entries = ENTRIES
    (chatrepl_home / "config.yaml").write_text(
        guard_config(fake_server.url, "budget: {session_usd: 100}\n"), encoding="utf-8")
    assert one_shot(chatrepl_home, "discover")[0] == 0
    notes = tmp_path / "notes.txt"
    notes.write_text("word " * 260, encoding="utf-8")  # fits the 400 window, not with a reply
    code, out, err = one_shot(chatrepl_home, "-m", "fake/small", "-a", str(notes), "summarize")
    assert code == 2 and out == "" and "do not fit fake/small's 400 window" in err
    assert chat_bodies(fake_server) == []
