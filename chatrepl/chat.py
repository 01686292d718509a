"""ChatSession: the conversation, streaming a reply through the openai SDK, cancel, save/load.

No prompt_toolkit and no printing here: the caller gets `StreamEvent`s through a callback and a
`TurnResult` (or a `ChatError`) at the end of each turn.

Conversation rules (what `ChatSession.messages` holds after a turn):

* Success: the user message and the assistant reply are appended.
* Interrupted (Ctrl-C, i.e. `KeyboardInterrupt` while streaming, or the `cancel` event set; on
  the main thread a Ctrl-C whose KeyboardInterrupt was swallowed on the way still stops the
  reply at the next chunk, see `sigint.py`):
  the HTTP stream is closed. If some reply text had arrived, the user message and the partial
  reply are appended; the reply `Message` has `interrupted=True` (its `content` is exactly
  the text received). Only role and content are sent again, so the provider sees a plain
  assistant message. If no reply text had arrived, the conversation is left as it was.
  No exception escapes; the result has `interrupted=True`.
* Error (HTTP error, timeout, connection refused, error event in the stream, connection cut
  mid-reply, a reply over `limits`' bounds): `ChatError` is raised with one line to show, and
  the conversation is exactly as it was before the turn. Text that had already arrived is on
  the error as `.partial` only. The message that failed is kept as `unsent`, and `retry()`
  sends it (until a later turn succeeds or `clear()`).
* A reply is complete when the server says so: a finish reason, the usage chunk or `[DONE]`.

Reasoning text (`delta.reasoning_content` / `delta.reasoning`) is delivered as 'reasoning'
events and on `TurnResult.reasoning`; it is never stored in `messages` and never sent back.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chatrepl.apierrors import MAY_BE_TOO_LONG, provider_message
from chatrepl.attachwire import content_tokens
from chatrepl.clients import (
    describe_api_error,
    make_client,
    mentions_stream_options,
    names_missing_model,
    redact,
    transport_error_types,
)
from chatrepl.config import ChatSettings, ProviderConfig
from chatrepl.errors import ChatError, ChatReplError, ProviderError, UnknownProviderError
from chatrepl.limits import (
    MAX_REPLY_CHARS,
    MAX_SHOWN_ERROR_CHARS,
    BoundExceeded,
    DeadlinePassed,
    bound_of,
    reply_deadline,
)
from chatrepl.manager import ProviderManager
from chatrepl.messages import Message, assistant
from chatrepl.parameters import NO_PARAMETERS, RequestParameters
from chatrepl.reply import EventCallback, Reply, Usage
from chatrepl.sessionfile import SESSION_FORMAT, SESSION_VERSION, read_session
from chatrepl.sigint import interrupt_latch
from chatrepl.streamchunks import MalformedChunk, iter_chunks

if TYPE_CHECKING:
    from openai import OpenAI

    from chatrepl.paramsettings import ParameterSettings

# A conversation this large (in ~4-character tokens) may not fit a small model's context: a
# server that drops it without answering is said to have likely run out of context.
CONTEXT_HINT_TOKENS = 1000


def _long(wire: list[dict[str, Any]]) -> bool:
    """True when the conversation sent may be too long for a small model's context."""
    return sum(content_tokens(m["content"]) for m in wire) >= CONTEXT_HINT_TOKENS


@dataclass(frozen=True, slots=True)
class TurnResult:
    """The outcome of one turn that did not fail."""

    text: str
    reasoning: str
    interrupted: bool
    usage: Usage | None
    model: str
    provider: str
    finish_reason: str | None = None


class ChatSession:
    """One conversation with one model at a time.

    `messages` holds frozen `Message`s (an interrupted reply has `interrupted=True`); the
    system prompt is kept apart in `system_prompt` and put first when sending. `totals` sums
    the usage reported over the session (`clear()` keeps it).

    A session runs one turn at a time. `messages` is replaced by a new list at the end of a turn
    (never edited in place), so another thread (autosave) sees the old or the new conversation.
    """

    def __init__(self, manager: ProviderManager, env: Mapping[str, str], settings: ChatSettings,
                 *, provider: str, model: str, system_prompt: str | None = None) -> None:
        self.manager = manager
        self.env = env
        self.settings = settings
        self.provider = provider
        self.model = model
        self.system_prompt = system_prompt
        self.messages: list[Message] = []
        self.totals = Usage()
        self.unsent: str | None = None  # the user message of a turn that failed; retry() sends it
        self.unsent_attachments: tuple[Mapping[str, Any], ...] = ()  # and what went with it
        # Providers that answered 400 to `stream_options`; asked without it from then on.
        self._no_stream_options: set[str] = set()
        # Request parameters (temperature, ...) in force; None sends none.
        self.parameters: ParameterSettings | None = None

    # -- conversation ----------------------------------------------------------------------
    def set_model(self, provider_id: str, model: str) -> None:
        """Talk to `model` of `provider_id` from the next turn on; the conversation is kept."""
        self.provider = self.manager.provider_named(provider_id).id
        self.model = model

    def clear(self) -> None:
        """Start a new conversation (same model and system prompt; usage totals are kept)."""
        self.messages = []
        self.unsent = None
        self.unsent_attachments = ()

    def send(self, text: str, on_event: EventCallback | None = None,
             cancel: threading.Event | None = None,
             attachments: tuple[Mapping[str, Any], ...] = ()) -> TurnResult:
        """Send `text` and stream the reply; see the module docstring for what happens to
        `messages` on success, interruption and error. Raises only ChatError.

        `on_event` runs on the calling thread for each piece of text as it arrives. `cancel` is
        checked after each chunk (a server that stalls is bounded by the read timeout);
        Ctrl-C on the main thread interrupts a blocked read at once. `attachments` (records as
        `Attachment.record()` makes them) go with the message and are stored on it.
        """
        try:
            result = self._turn(list(self.messages), text, on_event, cancel, attachments)
        except ChatError:
            self.unsent, self.unsent_attachments = text, attachments
            raise
        unsent = result.interrupted and not result.text
        self.unsent = text if unsent else None
        self.unsent_attachments = attachments if unsent else ()
        return result

    def can_retry(self) -> bool:
        """True when there is a message for `retry()` to send."""
        return self.unsent is not None or any(m.role == "user" for m in self.messages)

    def retry(self, on_event: EventCallback | None = None,
              cancel: threading.Event | None = None) -> TurnResult:
        """Send the message of the last turn that failed (`unsent`); else send the last user
        message again, its reply replacing the previous one.

        On error the conversation (including the previous reply) is kept as it was. ChatError
        when there is no user message yet.
        """
        if self.unsent is not None:
            return self.send(self.unsent, on_event, cancel, self.unsent_attachments)
        messages = list(self.messages)
        for index in range(len(messages) - 1, -1, -1):
            if messages[index].role == "user":
                return self._turn(messages[:index], messages[index].content, on_event, cancel,
                                  messages[index].attachments)
        raise ChatError("nothing to retry: no message has been sent yet",
                        provider=self.provider, model=self.model)

    def wire_messages(self, messages: list[Message] | None = None) -> list[dict[str, Any]]:
        """What is sent to the provider: the system prompt, then role and content only (of the
        messages not `left_out`)."""
        wire = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        wire += [m.wire() for m in (self.messages if messages is None else messages)
                 if not m.left_out]
        return wire

    # -- one turn --------------------------------------------------------------------------
    def _provider_config(self) -> ProviderConfig:
        try:
            return self.manager.provider_named(self.provider)
        except ChatReplError as exc:
            raise ChatError(f"{self.provider}/{self.model}: {exc}", provider=self.provider,
                            model=self.model) from None

    def _client(self, provider: ProviderConfig) -> OpenAI:
        try:
            settings = self.settings
            return make_client(provider, self.env, timeout=settings.read_timeout_seconds,
                               connect_timeout=settings.connect_timeout_seconds,
                               max_retries=settings.max_retries,
                               deadline_seconds=reply_deadline(settings.read_timeout_seconds,
                                                               settings.reply_deadline_seconds))
        except ProviderError as exc:
            raise ChatError(str(exc), provider=provider.id, model=self.model) from None

    def _turn(self, base: list[Message], text: str, on_event: EventCallback | None,
              cancel: threading.Event | None,
              attachments: tuple[Mapping[str, Any], ...] = ()) -> TurnResult:
        """One request and its reply; see the module docstring for `messages`."""
        import openai

        provider = self._provider_config()
        client = self._client(provider)
        asked = Message("user", text, attachments=attachments)
        wire = self.wire_messages([*base, asked])
        sent = self.request_parameters()
        reply = Reply(on_event)
        stream: Any = None
        interrupted = threading.Event()  # set by Ctrl-C even when its KeyboardInterrupt is lost

        def stopped() -> bool:
            return interrupted.is_set() or (cancel is not None and cancel.is_set())

        try:
            try:
                with interrupt_latch(interrupted):
                    stream = self._open(client, provider, wire, sent)
                    if isinstance(stream, openai.Stream):
                        if self._is_plain_json(stream):
                            reply.add_completion(self._read_json(stream, provider))
                        else:
                            for chunk in iter_chunks(stream, on_done=reply.mark_done):
                                reply.add_chunk(chunk)
                                if stopped():
                                    reply.interrupted = True
                                    break
                    else:  # an SDK that handed back a whole ChatCompletion
                        reply.add_completion(stream.model_dump())
            except KeyboardInterrupt:
                reply.interrupted = True
            except openai.APIError as exc:
                raise self._api_error(exc, provider, reply, wire) from None
            except BoundExceeded as exc:
                raise self._bound_failure(exc, provider, reply.text) from None
            except MalformedChunk as exc:
                raise self._failure(provider, f"{exc}; try again", reply.text) from None
            except (ValueError, RecursionError, OverflowError):  # absurd data in a chunk
                raise self._failure(provider, "sent a reply chatrepl cannot read; try again",
                                    reply.text) from None
            except transport_error_types():  # a read error the SDK did not wrap
                raise self._failure(provider, "lost the connection in the middle of the reply; "
                                    "try again", reply.text) from None
        finally:
            self._close(stream, client)

        if reply.interrupted:
            if reply.text:
                self.messages = [*base, asked, assistant(reply.text, interrupted=True,
                                                         parameters=sent.values)]
        elif not reply.complete:
            if reply.text:
                what = "closed the connection in the middle of the reply; try again"
            else:
                what = "closed the connection without sending a reply; " + (
                    MAY_BE_TOO_LONG if _long(wire) else "try again")
            raise self._failure(provider, what, reply.text)
        else:
            self.messages = [*base, asked, assistant(reply.text, parameters=sent.values)]
        if reply.usage is not None:
            self.totals = self.totals + reply.usage
        return TurnResult(text=reply.text, reasoning="".join(reply.reasoning),
                          interrupted=reply.interrupted, usage=reply.usage, model=self.model,
                          provider=provider.id, finish_reason=reply.finish_reason)

    def request_parameters(self) -> RequestParameters:
        """The parameters the next request to the current model is sent (chatrepl.parameters)."""
        if self.parameters is None:
            return NO_PARAMETERS
        return self.parameters.for_request(self.provider, self.model)

    def _open(self, client: OpenAI, provider: ProviderConfig, wire: list[dict[str, Any]],
              sent: RequestParameters = NO_PARAMETERS) -> Any:
        """Start the request; once without `stream_options` if the server rejects it."""
        import openai

        create: Any = client.chat.completions.create
        # In the body as they are: an SDK older than a parameter (reasoning_effort,
        # max_completion_tokens) would refuse it as an unknown keyword.
        extra = {"extra_body": dict(sent.kwargs)} if sent.kwargs else {}
        if provider.id in self._no_stream_options:
            return create(model=self.model, messages=wire, stream=True, **extra)
        try:
            return create(model=self.model, messages=wire, stream=True,
                          stream_options={"include_usage": True}, **extra)
        except openai.APIStatusError as exc:
            if exc.status_code not in (400, 422) or not mentions_stream_options(exc):
                raise
        self._no_stream_options.add(provider.id)
        return create(model=self.model, messages=wire, stream=True, **extra)

    @staticmethod
    def _is_plain_json(stream: Any) -> bool:
        content_type = str(stream.response.headers.get("content-type", "")).lower()
        return "json" in content_type and "event-stream" not in content_type

    def _read_json(self, stream: Any, provider: ProviderConfig) -> dict[str, Any]:
        """The body of a server that answered plain JSON although a stream was asked for."""
        body = bytearray()
        try:
            for block in stream.response.iter_bytes():
                body += block
                if len(body) > 2 * MAX_REPLY_CHARS:
                    raise self._failure(provider, "sent a reply larger than chatrepl reads", "")
        except transport_error_types():
            raise self._failure(provider, "lost the connection while reading the reply; "
                                "try again", "") from None
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict) and (data.get("error") or data.get("object") == "error"):
            detail = redact(provider_message(data), [provider.resolve_api_key(self.env)])
            raise self._failure(provider, f"reported an error ({detail[:MAX_SHOWN_ERROR_CHARS]});"
                                " try again", "")
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise self._failure(provider, "answered something that is not a chat reply; "
                                "check base_api_url", "")
        return data

    @staticmethod
    def _close(stream: Any, client: OpenAI) -> None:
        """Close the HTTP stream and the client; an interrupt while closing is ignored."""
        ignored: tuple[type[BaseException], ...] = (KeyboardInterrupt, OSError, *transport_error_types())
        for close in (getattr(stream, "close", None), client.close):
            if close is None:
                continue
            with contextlib.suppress(*ignored):
                close()

    # -- errors ----------------------------------------------------------------------------
    def _failure(self, provider: ProviderConfig, what: str, partial: str) -> ChatError:
        line = redact(f"{provider.id}/{self.model}: {what}", [provider.resolve_api_key(self.env)])
        return ChatError(" ".join(line.split()), provider=provider.id, model=self.model,
                         partial=partial)

    def _bound_failure(self, bound: BoundExceeded, provider: ProviderConfig,
                       partial: str) -> ChatError:
        hint = "; if the model is just slow, raise chat.reply_deadline_seconds" \
            if isinstance(bound, DeadlinePassed) else ""
        return self._failure(provider, f"{bound}{hint}", partial)

    def _api_error(self, exc: Exception, provider: ProviderConfig, reply: Reply,
                   wire: list[dict[str, Any]]) -> ChatError:
        bound = bound_of(exc)
        if bound is not None:
            return self._bound_failure(bound, provider, reply.text)
        line = describe_api_error(exc, provider, self.env, self.model,
                                  started=reply.chunks > 0, long_prompt=_long(wire))
        status = getattr(exc, "status_code", None)
        status = status if isinstance(status, int) else None
        not_found = status is not None and names_missing_model(exc, self.model)
        if not_found:
            line += "; choose another model"
        return ChatError(" ".join(line.split()), provider=provider.id, model=self.model,
                         status=status, model_not_found=not_found, partial=reply.text)

    # -- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to resume this conversation, as JSON-ready data (no keys)."""
        return {
            "format": SESSION_FORMAT,
            "version": SESSION_VERSION,
            "provider": self.provider,
            "model": self.model,
            "system_prompt": self.system_prompt,
            "messages": [m.to_json() for m in self.messages],
            **({"unsent": self.unsent} if self.unsent is not None else {}),
            "totals": {"prompt_tokens": self.totals.prompt_tokens,
                       "completion_tokens": self.totals.completion_tokens},
        }

    @classmethod
    def from_dict(cls, data: Any, manager: ProviderManager, env: Mapping[str, str],
                  settings: ChatSettings) -> ChatSession:
        """A session from `to_dict()` data; StateError (one line) when the data is not one.

        The provider is not checked against `manager` here: a session whose provider has gone
        loads, and `rehome` switches it to another model and says so.
        """
        saved = read_session(data)
        session = cls(manager, env, settings, provider=saved.provider, model=saved.model,
                      system_prompt=saved.system_prompt)
        session.messages = [m.message() for m in saved.messages]
        session.unsent = saved.unsent
        if saved.totals is not None:
            session.totals = Usage(saved.totals.prompt_tokens, saved.totals.completion_tokens)
        return session


def rehome(session: ChatSession, fallback: tuple[str, str]) -> str | None:
    """When a loaded session's provider is no longer known: switch it to `fallback`
    ((provider, model); ("", "") leaves it with none) and return the one line saying so.
    None when its provider is known."""
    gone = session.provider
    try:
        session.manager.provider_named(gone)
        return None
    except UnknownProviderError:
        pass
    provider, model = fallback
    session.provider, session.model = provider, model
    instead = (f"using {provider}/{model} instead" if provider
               else "no other model is known; pick one with /model or -m")
    return f"the conversation's provider {gone!r} is not configured any more; {instead}"
