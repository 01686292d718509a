"""One message to several models at once: each answers in a worker thread, with the same history.

No printing and no prompt_toolkit here. `run_comparison` runs on the caller's (main) thread: it
starts one worker per model, each a `ChatSession` turn over a copy of the base conversation,
and hands the caller every `CompareEvent` the workers put on one queue, in the order they
arrived; the caller draws. Ctrl-C (KeyboardInterrupt on the main thread) sets the cancel event
the workers check after each chunk, closes their open streams and waits for them a bounded
time (`join(timeout)`). One model failing ends only its own reply.

The outcome is a `Comparison`: one `Answer` per model, with its figures (time to first token,
tokens per second, tokens, cost when known). `Comparison.kept(K)` is the conversation that goes
on with reply K; `Comparison.branches(K)` are the other replies, for the history to store as
sibling branches of that turn.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from chatrepl.chat import ChatSession, TurnResult
from chatrepl.clients import import_sdk
from chatrepl.config import ChatSettings
from chatrepl.errors import ChatError, UsageError
from chatrepl.messages import Message, assistant, user
from chatrepl.reply import StreamEvent, Usage
from chatrepl.sigint import interrupt_latch
from chatrepl.usagetext import estimate_usage

if TYPE_CHECKING:
    from chatrepl.manager import ProviderManager
    from chatrepl.modelinfo import ModelInfo

MIN_MODELS = 2
MIN_RATE_SECONDS = 0.05  # a reply streamed faster than this shows no tokens per second
MAX_MODELS = 6  # columns side by side stop being readable beyond this
JOIN_SECONDS = 5.0  # after Ctrl-C, how long the workers are waited for
TICK_SECONDS = 0.05  # the caller's `tick` runs at least this often while replies stream

EventKind = Literal["content", "reasoning", "done", "failed"]
InfoLookup = Callable[[str, str], "ModelInfo | None"]


@dataclass(frozen=True, slots=True)
class Contender:
    """One model of a comparison."""

    provider: str
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


def distinct_contenders(resolve: Callable[[str], Contender], names: Sequence[str],
                        usage: str) -> list[Contender]:
    """The models named (`resolve` raises why one is not known), each once; UsageError ending
    with `usage` for fewer than MIN_MODELS or more than MAX_MODELS different ones."""
    found: list[Contender] = []
    for name in names:
        contender = resolve(name)
        if contender not in found:
            found.append(contender)
    if not MIN_MODELS <= len(found) <= MAX_MODELS:
        raise UsageError(f"{usage.split()[0]} takes {MIN_MODELS} to {MAX_MODELS} different"
                         f" models (got {len(found)}): {usage}")
    return found


@dataclass(frozen=True, slots=True)
class CompareEvent:
    """What a worker hands the main thread: a piece of reply `index`'s text, or its end
    (`done` with the turn's result and conversation, `failed` with the one-line error)."""

    index: int
    kind: EventKind
    text: str = ""
    at: float = 0.0  # time.monotonic() when it happened, on the worker
    result: TurnResult | None = None
    messages: tuple[Message, ...] = ()


@dataclass(frozen=True, slots=True)
class Figures:
    """How one reply went: seconds to the first token and in all, tokens (reported, or a local
    estimate: `estimated`) and cost (None when the price is unknown)."""

    first_token_seconds: float | None = None
    seconds: float = 0.0
    usage: Usage | None = None
    estimated: bool = False
    cost: float | None = None

    @property
    def tokens_per_second(self) -> float | None:
        """Reply tokens per second after the first token; None when not measurable (a reply
        that came in one burst, in less than MIN_RATE_SECONDS, has no rate worth showing)."""
        if self.usage is None or self.first_token_seconds is None:
            return None
        streaming = self.seconds - self.first_token_seconds
        if streaming < MIN_RATE_SECONDS or not self.usage.completion_tokens:
            return None
        return self.usage.completion_tokens / streaming

    def as_json(self) -> dict[str, Any]:
        usage = self.usage
        return {
            "first_token_seconds": _rounded(self.first_token_seconds),
            "seconds": _rounded(self.seconds),
            "tokens_per_second": _rounded(self.tokens_per_second),
            "prompt_tokens": usage.prompt_tokens if usage else None,
            "completion_tokens": usage.completion_tokens if usage else None,
            "tokens_estimated": self.estimated,
            "cost_usd": self.cost,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass(frozen=True, slots=True)
class Answer:
    """One model's reply: its text (partial when `interrupted`), or `error` (one line) when it
    failed; `messages` is the conversation that goes on with it (empty when there is none)."""

    contender: Contender
    text: str = ""
    reasoning: str = ""
    interrupted: bool = False
    error: str | None = None
    figures: Figures = field(default_factory=Figures)
    messages: tuple[Message, ...] = ()
    finish_reason: str | None = None

    @property
    def keepable(self) -> bool:
        """True when the conversation can go on with this reply."""
        return bool(self.messages) and self.messages[-1].role == "assistant"

    @property
    def reply(self) -> Message | None:
        """The assistant message of this reply, when there is one."""
        return self.messages[-1] if self.keepable else None

    def as_json(self) -> dict[str, Any]:
        return {"model": self.contender.label, "provider": self.contender.provider,
                "text": self.text, "reasoning": self.reasoning or None,
                "interrupted": self.interrupted, "error": self.error,
                "finish_reason": self.finish_reason, **self.figures.as_json()}


@dataclass(frozen=True, slots=True)
class Branch:
    """A reply of a compared turn that the conversation did not go on with: the model that
    wrote it and its assistant message (for the history's sibling branches)."""

    contender: Contender
    message: Message

    @property
    def model(self) -> str:
        """`provider/model`, for display."""
        return self.contender.label


@dataclass(frozen=True, slots=True)
class Comparison:
    """The outcome of one compared message: the base conversation, the question, the answers."""

    question: str
    base: tuple[Message, ...]
    answers: tuple[Answer, ...]
    interrupted: bool = False

    @property
    def all_failed(self) -> bool:
        return all(a.error is not None for a in self.answers)

    def kept(self, number: int) -> Answer:
        """Answer `number` (1-based); ValueError (one line) when it cannot be kept."""
        if not 1 <= number <= len(self.answers):
            raise ValueError(f"there is no reply {number}; choose 1 to {len(self.answers)}")
        answer = self.answers[number - 1]
        if not answer.keepable:
            why = f"failed ({answer.error})" if answer.error else "has no text"
            raise ValueError(f"reply {number} ({answer.contender.label}) {why}; keep another")
        return answer

    def branches(self, number: int) -> list[Branch]:
        """The replies other than `number` (1-based) that have text, as sibling branches."""
        return [Branch(a.contender, a.reply) for i, a in enumerate(self.answers, 1)
                if i != number and a.reply is not None]

    def as_json(self) -> list[dict[str, Any]]:
        return [answer.as_json() for answer in self.answers]


class _OpenStreams:
    """The HTTP streams the workers are reading, so Ctrl-C can close them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: list[Any] = []
        self.closed = False

    def add(self, stream: Any) -> None:
        with self._lock:
            self._streams.append(stream)
            closed = self.closed
        if closed:
            self._close(stream)

    def close_all(self) -> None:
        with self._lock:
            self.closed = True
            streams, self._streams = self._streams, []
        for stream in streams:
            self._close(stream)

    @staticmethod
    def _close(stream: Any) -> None:
        close = getattr(stream, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()


class _ContenderSession(ChatSession):
    """A ChatSession whose open stream is registered, so another thread can close it."""

    def __init__(self, manager: ProviderManager, env: Mapping[str, str], settings: ChatSettings,
                 streams: _OpenStreams, **kwargs: Any) -> None:
        super().__init__(manager, env, settings, **kwargs)
        self._streams = streams

    def _open(self, *args: Any, **kwargs: Any) -> Any:
        stream = super()._open(*args, **kwargs)
        self._streams.add(stream)
        return stream


def _work(index: int, session: ChatSession, text: str, events: queue.Queue[CompareEvent],
          cancel: threading.Event) -> None:
    """One model's turn on a worker thread; every outcome ends with one done/failed event."""
    def on_event(event: StreamEvent) -> None:
        events.put(CompareEvent(index, event.kind, event.text, time.monotonic()))

    try:
        result = session.send(text, on_event=on_event, cancel=cancel)
    except ChatError as exc:
        kind: EventKind = "done" if cancel.is_set() else "failed"
        events.put(CompareEvent(index, kind, str(exc), time.monotonic()))
    except BaseException as exc:  # reported: the main thread must hear of every end
        line = "" if cancel.is_set() else f"internal error: {type(exc).__name__}: {exc}"
        events.put(CompareEvent(index, "done" if cancel.is_set() else "failed", line,
                                time.monotonic()))
    else:
        events.put(CompareEvent(index, "done", "", time.monotonic(), result,
                                tuple(session.messages)))


class _Progress:
    """What the main thread knows of one reply so far."""

    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.first: float | None = None
        self.end: CompareEvent | None = None


def run_comparison(base: ChatSession, contenders: Sequence[Contender], text: str, *,
                   on_event: Callable[[CompareEvent], None] | None = None,
                   tick: Callable[[], None] | None = None,
                   info_for: InfoLookup | None = None,
                   join_seconds: float = JOIN_SECONDS) -> Comparison:
    """Send `text` to every contender with `base`'s conversation and system prompt, at once.

    Runs on the calling thread (the main thread, where Ctrl-C arrives): `on_event` gets each
    event as it arrives, `tick` runs at least every TICK_SECONDS (a renderer draws there).
    `base` is not changed. `info_for(provider, model)` gives the catalog facts for the cost.
    """
    import_sdk()  # once, here: not in every worker, and not in the time to first token
    events: queue.Queue[CompareEvent] = queue.Queue()
    cancel = threading.Event()
    streams = _OpenStreams()
    history = tuple(base.messages)
    threads = []
    started = time.monotonic()
    for index, contender in enumerate(contenders):
        session = _ContenderSession(base.manager, base.env, base.settings, streams,
                                    provider=contender.provider, model=contender.model,
                                    system_prompt=base.system_prompt)
        session.messages = list(history)
        session.parameters = base.parameters  # in force for each model as it takes them
        threads.append(threading.Thread(target=_work, args=(index, session, text, events, cancel),
                                        name=f"chatrepl-compare-{index}", daemon=True))
    progress = [_Progress() for _ in contenders]
    try:
        # A Ctrl-C sets `cancel` at once, even when its KeyboardInterrupt is swallowed on the way
        # (see sigint.py): the workers then stop at their next chunk all the same.
        with interrupt_latch(cancel):
            for thread in threads:
                thread.start()
            _drain(events, progress, on_event, tick, until_all_ended=True)
    except KeyboardInterrupt:
        cancel.set()
        streams.close_all()
        _join(threads, join_seconds)
        with contextlib.suppress(KeyboardInterrupt):
            _drain(events, progress, on_event, None, until_all_ended=False)
    interrupted = cancel.is_set()
    answers = tuple(_answer(contender, p, started, base, text, info_for, interrupted)
                    for contender, p in zip(contenders, progress, strict=True))
    return Comparison(text, history, answers, interrupted)


def _join(threads: Sequence[threading.Thread], seconds: float) -> None:
    """Wait for the workers at most `seconds` in all; a second Ctrl-C stops waiting."""
    deadline = time.monotonic() + seconds
    try:
        for thread in threads:
            if thread.ident is not None:  # Ctrl-C may have come before every one started
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
    except KeyboardInterrupt:
        return


def _drain(events: queue.Queue[CompareEvent], progress: list[_Progress],
           on_event: Callable[[CompareEvent], None] | None, tick: Callable[[], None] | None,
           *, until_all_ended: bool) -> None:
    """Hand events to `on_event` until every reply has ended (or, without `until_all_ended`,
    until the queue is empty), running `tick` at least every TICK_SECONDS."""
    next_tick = time.monotonic() + TICK_SECONDS
    while True:
        if all(p.end is not None for p in progress):
            break
        try:
            if until_all_ended:
                event = events.get(timeout=max(0.0, next_tick - time.monotonic()))
            else:
                event = events.get_nowait()
        except queue.Empty:
            if not until_all_ended:
                break
            event = None
        if event is not None:
            _note(progress[event.index], event)
            if on_event is not None:
                on_event(event)
        now = time.monotonic()
        if tick is not None and now >= next_tick:
            tick()
            next_tick = now + TICK_SECONDS
    if tick is not None:
        tick()


def _note(progress: _Progress, event: CompareEvent) -> None:
    if event.kind in ("content", "reasoning"):
        if progress.first is None:
            progress.first = event.at
        (progress.content if event.kind == "content" else progress.reasoning).append(event.text)
    else:
        progress.end = event


def _answer(contender: Contender, progress: _Progress, started: float, base: ChatSession,
            question: str, info_for: InfoLookup | None, interrupted: bool) -> Answer:
    """The Answer of one reply from what the main thread saw of it."""
    end = progress.end
    text, reasoning = "".join(progress.content), "".join(progress.reasoning)
    finished = end.at if end is not None else time.monotonic()
    first = None if progress.first is None else progress.first - started
    if end is not None and end.kind == "failed":
        return Answer(contender, text, reasoning, error=end.text or "failed",
                      figures=Figures(first, finished - started))
    result = end.result if end is not None else None
    usage, estimated = (result.usage if result is not None else None), False
    if usage is None and (text or reasoning):
        sent = base.wire_messages([*base.messages, user(question)])
        usage, estimated = estimate_usage(sent, reasoning + text), True
    info = info_for(contender.provider, contender.model) if info_for is not None else None
    cost = info.cost(usage.prompt_tokens, usage.completion_tokens) \
        if info is not None and usage is not None else None
    figures = Figures(first, finished - started, usage, estimated, cost)
    messages = end.messages if end is not None and end.messages else ()
    if result is None and text:  # stopped before its worker ended: the partial reply
        messages = (*base.messages, user(question), assistant(text, interrupted=True))
    stopped = result.interrupted if result is not None else interrupted
    return Answer(contender, text, reasoning, interrupted=stopped, figures=figures,
                  messages=tuple(messages),
                  finish_reason=result.finish_reason if result is not None else None)
