"""Saved conversations: Message values, the versioned file model, files of older versions."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from chathelpers import KEY, REPLY, MakeSession, chat_manager, stop_after
from fakeserver import FakeOpenAIServer

from chatrepl.chat import ChatSession
from chatrepl.config import ChatSettings
from chatrepl.errors import StateError
from chatrepl.messages import Message
from chatrepl.reply import Usage
from chatrepl.sessionfile import SESSION_VERSION

FIXTURES = Path(__file__).parent / "fixtures"


def test_to_dict_from_dict_round_trip(make_session: MakeSession,
                                      fake_server: FakeOpenAIServer) -> None:
    session = make_session(system_prompt="Be brief.")
    session.send("hi")
    fake_server.behavior.chat_fault = "never_end"
    cancel = threading.Event()
    session.send("more", on_event=stop_after(1, cancel.set), cancel=cancel)
    data = json.loads(json.dumps(session.to_dict()))
    assert KEY not in json.dumps(data)

    restored = ChatSession.from_dict(data, session.manager, session.env, session.settings)
    assert restored.messages == session.messages
    assert restored.messages[-1].interrupted is True
    assert (restored.provider, restored.model, restored.system_prompt) == (
        "local", "fake-chat", "Be brief.")
    assert restored.totals == session.totals
    assert restored.to_dict() == data

    fake_server.behavior.chat_fault = None
    assert restored.send("go on").text == REPLY


@pytest.mark.parametrize("data", [
    [], "text", {"provider": "local"}, {"provider": "local", "model": "m", "messages": {}},
    {"provider": "local", "model": "m", "messages": [{"role": "robot", "content": "x"}]},
    {"provider": "local", "model": "m", "messages": [{"role": "user", "content": 3}]},
    {"provider": "local", "model": "m", "system_prompt": 5},
    {"format": "something-else", "provider": "local", "model": "m"},
    {"version": 99, "provider": "local", "model": "m"},
])
def test_from_dict_rejects_bad_data(data: object) -> None:
    manager = chat_manager("http://127.0.0.1:9/v1")
    with pytest.raises(StateError) as caught:
        ChatSession.from_dict(data, manager, {}, ChatSettings())
    assert "\n" not in str(caught.value)


def _load(data: object) -> ChatSession:
    return ChatSession.from_dict(data, chat_manager("http://127.0.0.1:9/v1"), {}, ChatSettings())


def test_messages_are_frozen_values() -> None:
    message = Message("assistant", "partial", interrupted=True)
    with pytest.raises(AttributeError):
        message.content = "changed"  # type: ignore[misc]
    assert message.wire() == {"role": "assistant", "content": "partial"}
    assert message.to_json() == {"role": "assistant", "content": "partial", "interrupted": True}
    assert Message("user", "hi").to_json() == {"role": "user", "content": "hi"}


def test_a_file_of_the_first_format_loads() -> None:
    """No format, version, totals or unsent: the first files chatrepl wrote."""
    session = _load(json.loads((FIXTURES / "session-first-format.json").read_text("utf-8")))
    assert session.messages == [Message("user", "hi"), Message("assistant", REPLY),
                                Message("user", "more"),
                                Message("assistant", "Hello from", interrupted=True)]
    assert (session.system_prompt, session.unsent, session.totals) == ("Be brief.", None, Usage())
    assert session.to_dict()["version"] == SESSION_VERSION


def test_later_fields_load_and_unknown_ones_are_ignored() -> None:
    data = json.loads((FIXTURES / "session-v1-later-fields.json").read_text("utf-8"))
    session = _load(data)
    assert session.unsent == "second"
    assert session.totals == Usage(12, 34)
    assert session.messages == [Message("user", "first"), Message("assistant", "answer")]
    saved = session.to_dict()
    assert "title" not in saved and "shown_at" not in json.dumps(saved)
    # What this version writes reads back as the same conversation (the old shape: role and
    # content, `interrupted` only when set).
    assert all(set(m) == {"role", "content"} for m in saved["messages"])
    assert _load(json.loads(json.dumps(saved))).to_dict() == saved


@pytest.mark.parametrize("totals", [{"prompt_tokens": -1}, {"prompt_tokens": 10**13}, "many", 7])
def test_unbelievable_totals_are_dropped_not_fatal(totals: object) -> None:
    session = _load({"provider": "local", "model": "m", "totals": totals,
                     "messages": [{"role": "user", "content": "kept"}]})
    assert session.totals == Usage() and session.messages == [Message("user", "kept")]


def test_a_damaged_message_is_named_by_number() -> None:
    with pytest.raises(StateError, match=r"message 2\.role") as caught:
        _load({"provider": "local", "model": "m",
               "messages": [{"role": "user", "content": "ok"}, {"role": "robot", "content": "x"}]})
    assert "\n" not in str(caught.value)
