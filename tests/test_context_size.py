"""The context size estimate: what each kind of wire content counts, the reply reserve, the
correction by reported usage, and left-out messages (not sent, still saved)."""

from __future__ import annotations

from chatrepl.chat import ChatSession, TurnResult
from chatrepl.contextguard import fit, leave_out_oldest
from chatrepl.contextsize import (
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    ContextMeter,
    format_tokens,
    output_reserve,
    wire_tokens,
)
from chatrepl.messages import Message, assistant, user
from chatrepl.modelinfo import ModelInfo
from chatrepl.reply import Usage
from chatrepl.sessionfile import read_session


def test_text_and_parts_count_as_they_go_on_the_wire() -> None:
    assert wire_tokens([{"role": "user", "content": "x" * 40}]) == MESSAGE_OVERHEAD + 10
    parts = [{"type": "text", "text": "y" * 8},
             {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    assert wire_tokens([{"role": "user", "content": parts}]) == MESSAGE_OVERHEAD + 2 + IMAGE_TOKENS


def test_the_reply_reserve_fits_the_model() -> None:
    assert output_reserve(None, None) == 4096
    assert output_reserve(ModelInfo(context_window=4096), None) == 1024
    assert output_reserve(ModelInfo(context_window=200_000, max_output=2000), None) == 2000
    assert output_reserve(ModelInfo(context_window=4096), 3000) == 3000  # max_tokens wins


def test_token_counts_read_short() -> None:
    assert [format_tokens(n) for n in (850, 1000, 12345, 128_000, 1_234_567)] == [
        "850", "1k", "12.3k", "128k", "1.2M"]


def _chat(make_session) -> ChatSession:
    chat = make_session()
    chat.messages = [user("abcd " * 20), assistant("wxyz " * 20)]
    return chat


def test_a_report_makes_the_size_exact_and_corrects_later_estimates(make_session) -> None:
    chat = _chat(make_session)
    meter = ContextMeter()
    first = meter.size(chat)
    assert first.estimated and first.tokens == 2 * (MESSAGE_OVERHEAD + 25)
    sent = chat.wire_messages(chat.messages[:1])
    result = TurnResult(text=chat.messages[1].content, reasoning="", interrupted=False,
                        usage=Usage(58, 20), model=chat.model, provider=chat.provider)
    meter.observe(chat, result, sent)  # the server counted twice the estimate
    assert meter.size(chat).tokens == 78 and not meter.size(chat).estimated
    grown = meter.size(chat, [user("x" * 36)])  # 4 + 9 estimated, scaled by 2
    assert grown.estimated and grown.tokens == 78 + 26
    chat.system_prompt = "new"  # not what was measured: estimated again, still scaled
    assert meter.size(chat).estimated


def test_left_out_messages_are_not_sent_but_saved(make_session) -> None:
    chat = _chat(make_session)
    chat.messages = [Message("user", "old", left_out=True), *chat.messages]
    assert [m["content"][:4] for m in chat.wire_messages()] == ["abcd", "wxyz"]
    saved = read_session(chat.to_dict())
    assert [m.message().left_out for m in saved.messages] == [True, False, False]
    assert "left_out" not in chat.to_dict()["messages"][1]  # files without it read as before


def test_leaving_out_starts_from_the_size_the_guard_weighed(make_session) -> None:
    """A long reported reply makes the conversation larger than a fresh estimate of its text:
    what is left out is reckoned from the size that overflowed, so something is left out."""
    chat = _chat(make_session)
    meter = ContextMeter()
    sent = chat.wire_messages(chat.messages[:1])
    result = TurnResult(text=chat.messages[1].content, reasoning="", interrupted=False,
                        usage=Usage(wire_tokens(sent), 800), model=chat.model,
                        provider=chat.provider)
    meter.observe(chat, result, sent)
    needed = fit(meter, chat, ModelInfo(context_window=1000), "hello")
    assert needed.overflows and needed.window is not None
    assert leave_out_oldest(meter, chat, "hello", needed.window, needed.reserve) == 2
    assert [m.left_out for m in chat.messages] == [True, True]
