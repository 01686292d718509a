"""What an interactive session works on, and one chat turn (send, show, autosave)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatrepl.attachtray import AttachmentTray
from chatrepl.attachwire import stored_bytes
from chatrepl.branching import start_edit
from chatrepl.chat import ChatSession, TurnResult, rehome
from chatrepl.errors import ChatError, ChatReplError, StateError
from chatrepl.historyuse import snapshot
from chatrepl.modelinfo import format_cost
from chatrepl.recent import remember_model
from chatrepl.render import Printer
from chatrepl.reply import StreamEvent
from chatrepl.runtime import Runtime
from chatrepl.sendguard import Asker, SendGuards
from chatrepl.sessions import SessionStore
from chatrepl.usagetext import estimate_usage, sent_messages, usage_line
from chatrepl.wording import plural

if TYPE_CHECKING:
    from chatrepl.comparemode import CompareMode
    from chatrepl.historyrecorder import HistoryRecorder
    from chatrepl.localserver import LocalServer
    from chatrepl.manager import ModelRecord
    from chatrepl.replterminal import PromptTerminal

MAX_RECENT = 20
_EXCERPT = 60


def _excerpt(text: str, limit: int = _EXCERPT) -> str:
    """One line of at most `limit` characters: whitespace collapsed, control characters gone."""
    flat = "".join(ch for ch in " ".join(text.split()) if ch.isprintable())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def resumed_lines(chat: ChatSession, what: str) -> list[str]:
    """What was resumed: `resumed NAME: model M · 4 messages`, then the last exchange, trimmed."""
    model = f"{chat.provider}/{chat.model}" if chat.model else "none"
    lines = [f"{what}: model {model} · {plural(len(chat.messages), 'message')}"]
    users = [i for i, m in enumerate(chat.messages) if m.role == "user"]
    if users:
        lines.append(f"  you: {_excerpt(chat.messages[users[-1]].content)}")
        after = chat.messages[users[-1] + 1:]
        reply = next((m for m in after if m.role == "assistant"), None)
        if reply is not None:
            lines.append(f"  {chat.model or 'assistant'}: {_excerpt(reply.content)}")
    return lines


@dataclass
class ReplState:
    """The runtime, the conversation, and the REPL's own small state."""

    runtime: Runtime
    chat: ChatSession
    store: SessionStore
    printer: Printer
    recent: list[str] = field(default_factory=list)
    should_exit: bool = False
    redraw: Callable[[], None] = lambda: None
    # Set by the REPL: the one way another thread writes while the prompt owns the terminal.
    terminal: PromptTerminal | None = None
    session_cost: float = 0.0
    cost_unknown: bool = False  # some turn's price is not known
    cost_known: bool = False  # some turn's price is known (session_cost sums those)
    estimated_tokens: int = 0  # of replies whose server reported no usage: a local estimate
    cost_estimated: bool = False
    local_server: LocalServer | None = None
    # Put in the input line of the next prompt (/undo, /editor), then emptied by the REPL.
    next_input: str = ""
    # Set by the REPL: writes bytes to the terminal through the prompt's output (OSC 52).
    write_terminal: Callable[[str], None] | None = None
    # default_model when it did not resolve at start-up: tried again after each discovery
    # round until it resolves or the user picks a model or starts talking.
    pending_default: str | None = None
    # The context and cost guards; `asker` (set by the REPL) asks on the terminal before a
    # message is sent; without one, what would be asked is refused.
    guards: SendGuards = field(default_factory=SendGuards)
    asker: Asker | None = None
    compare: CompareMode | None = None  # /compare: messages go to several models at once
    history: HistoryRecorder | None = None  # None: this run keeps no history
    pending_edit: int | None = None  # /edit: the next message replaces messages from here on
    # Files, images and command output staged for the next message (/attach).
    attachments: AttachmentTray = field(default_factory=AttachmentTray)

    def __post_init__(self) -> None:
        self.chat.parameters = self.runtime.parameters

    def say(self, lines: Sequence[str], *, error: bool = False) -> None:
        """Show `lines` (as errors with `error`), from any thread: above the prompt while it
        is shown, else before it is drawn again; at once when there is no REPL."""
        if not lines:
            return

        def write() -> None:
            for line in lines:
                if error:
                    self.printer.error(line)
                else:
                    self.printer.line(line)

        if self.terminal is None:
            write()
        else:
            self.terminal.run_in_terminal(write)

    @property
    def current_model(self) -> str:
        return f"{self.chat.provider}/{self.chat.model}" if self.chat.model else ""

    def recent_models(self) -> list[str]:
        """Scoped names of recently used models, most recent first."""
        return list(self.recent)

    def mark_used(self, scoped: str) -> None:
        self.recent = [scoped, *[r for r in self.recent if r != scoped]][:MAX_RECENT]

    def retry_default_model(self, _results: object = None) -> None:
        """Select `pending_default` if it resolves now (a refresher callback: any thread)."""
        name = self.pending_default
        if not name or self.chat.messages:
            return
        try:
            provider, long = self.runtime.manager.resolve(name)
            self.chat.set_model(provider.id, long)
        except ChatReplError:
            return
        self.pending_default = None
        self.mark_used(self.current_model)
        self.say([f"default_model {name}: found by discovery; model: {self.current_model}"])
        self.redraw()

    def select_model(self, name: str) -> str:
        """Switch to `name` (resolved by the manager); the errors say why not.

        A model named as `provider/model` is remembered (in this run and across runs), so a
        probed provider chosen that way serves bare names from then on.
        """
        manager = self.runtime.manager
        provider, long = manager.resolve(name)
        self.chat.set_model(provider.id, long)
        self.pending_default = None  # the user chose
        scoped = f"{provider.id}/{long}"
        self.mark_used(scoped)
        if manager.named_provider(name) is provider:
            manager.choose([provider.id])
            remember_model(self.runtime.paths.recent_models_file, scoped)
        return scoped

    def model_meta(self, record: ModelRecord) -> str:
        """Catalog facts shown beside a model in the completion menu."""
        return self.runtime.record_meta(record)

    def conversation_tokens(self) -> int:
        """The size of the conversation in tokens (estimated, corrected by reported usage)."""
        return self.guards.meter.size(self.chat).tokens

    def context_text(self) -> str:
        """The conversation against the model's window for the toolbar: `ctx 12.3k/128k`
        (without the window until the catalog has loaded: a redraw never waits for it)."""
        runtime = self.runtime
        info = runtime.model_info(self.chat.provider, self.chat.model) \
            if self.chat.model and runtime.catalog_loaded else None
        return self.guards.context_text(self.chat, info)

    def context_warning(self) -> str | None:
        """Said when the conversation no longer fits the current model's context window."""
        info = self.runtime.model_info(self.chat.provider, self.chat.model)
        size = self.conversation_tokens()
        if info is None or not info.context_window or size <= info.context_window:
            return None
        return (f"the conversation (~{size:,} tokens) is larger than {self.current_model}'s"
                f" context window ({info.context_window:,}); /clear or pick a larger model")

    def cost_text(self) -> str:
        """Session cost for the toolbar, e.g. `$0.0031` (`≥$0.0031`, at least, when some turns'
        prices are unknown; `~$0.0031` when some is estimated); nothing when no price is known
        or the known cost is nil."""
        if not self.cost_known or (not self.session_cost and not self.cost_unknown):
            return ""
        cost = format_cost(self.session_cost)
        if self.cost_unknown and cost.startswith("<"):  # `≥<$0.0001` would read as nonsense
            cost = f"${self.session_cost:.8f}".rstrip("0").rstrip(".")
        return (("≥" if self.cost_unknown else "") + ("~" if self.cost_estimated else "")
                + cost)

    def tokens_text(self) -> str:
        """Tokens used for the toolbar: `tokens 123`, `~tokens 123` when partly estimated."""
        totals = self.chat.totals
        total = totals.prompt_tokens + totals.completion_tokens + self.estimated_tokens
        return f"{'~' if self.estimated_tokens else ''}tokens {total}"

    def _report_usage(self, result: TurnResult) -> float | None:
        """`123 in · 45 out · $0.0001` after a reply (estimated, `~`, when the server reported no
        usage), and the session's running cost; the turn's cost when known."""
        usage, estimated = result.usage, result.usage is None
        self.guards.meter.observe(self.chat, result, sent_messages(self.chat))
        if usage is None:
            if not result.text and not result.reasoning:
                return None
            usage = estimate_usage(sent_messages(self.chat), result.reasoning + result.text)
            self.estimated_tokens += usage.total_tokens
        info = self.runtime.model_info(result.provider, result.model)
        cost = info.cost(usage.prompt_tokens, usage.completion_tokens) if info else None
        if cost is None:
            self.cost_unknown = True
        else:
            self.cost_known = True
            self.session_cost += cost
            self.cost_estimated = self.cost_estimated or estimated
        self.printer.info(usage_line(usage, cost, estimated=estimated))
        return cost

    def load_conversation(self, data: dict[str, Any]) -> None:
        """Replace the conversation with a saved one (model, system prompt, messages).

        When its provider is no longer known, another model is used and a line says so.
        """
        runtime = self.runtime
        chat = ChatSession.from_dict(data, runtime.manager, runtime.env, runtime.config.chat)
        fallback = runtime.manager.starting_model(runtime.config.default_model)[:2]
        note = rehome(chat, fallback)
        chat.parameters = runtime.parameters
        self.chat = chat
        if note is not None:
            self.printer.warning(note)

    def autosave(self) -> None:
        """Save the conversation; a failure is reported, never fatal."""
        try:
            self.store.autosave(self.chat.to_dict())
        except (OSError, StateError) as exc:
            self.printer.warning(f"autosave failed: {exc}")

    def run_turn(self, text: str | None) -> TurnResult | None:
        """Send `text` (or resend the last message when None) and show the reply as it streams."""
        if not self.chat.model:
            self.printer.error("no model selected; pick one with /model NAME (Tab completes)")
            return None
        records: tuple[Any, ...] = ()
        if text is not None:  # AttachmentError propagates: one line, nothing sent, no question
            try:
                records = self.attachments.for_message(
                    text, Path.cwd(), self.runtime.model_info(self.chat.provider, self.chat.model),
                    self.current_model, self.conversation_tokens(),
                    stored_bytes(self.chat.messages))
            except KeyboardInterrupt:
                self.printer.info("[interrupted] nothing sent (/detach drops a read that does not end)")
                return None
        edit = start_edit(self, text)  # /edit: the conversation up to the edited message
        if not self._local_server_ready() or not self.guards.allow(self, text, records):
            edit.undo()
            return None
        for line in self.runtime.parameters.notes_for(self.chat.provider, self.chat.model):
            self.printer.warning(line)

        def on_event(event: StreamEvent) -> None:
            if event.kind == "reasoning":
                self.printer.reasoning(event.text)
            else:
                self.printer.content(event.text)

        try:
            result = self.chat.send(text, on_event=on_event, attachments=records) \
                if text is not None else self.chat.retry(on_event=on_event)
        except ChatError as exc:
            edit.undo()
            self.printer.error(exc.in_repl())
            if getattr(exc, "model_not_found", False):
                self._forget_model(self.chat.provider, self.chat.model)
            return None
        except ChatReplError as exc:
            edit.undo()
            self.printer.error(exc.in_repl())
            return None
        self.printer.finish_stream()
        if result.interrupted:
            self.printer.info("[interrupted]")
            if not result.text:
                edit.undo()
        if result.text or not result.interrupted:  # the message (and what went with it) was kept
            asked = [m for m in self.chat.messages if m.role == "user"]
            self.attachments.clear_sent(asked[-1].attachments if asked else ())
        cost = self._report_usage(result)
        self.autosave()
        if self.history is not None:
            self.history.record(snapshot(self.chat, result.usage, cost))
        self.redraw()
        return result

    def _local_server_ready(self) -> bool:
        """False when the chat is on the local server and it cannot answer: still loading (this
        waits for it; Ctrl-C stops waiting), failed or stopped. The reason is printed."""
        server = self.local_server
        if server is None or server.state == "ready":
            return True
        from chatrepl.localserver import PROVIDER_ID  # deferred: see chatrepl/__init__.py

        if self.chat.provider != PROVIDER_ID:
            return True
        if server.state == "loading":
            self.printer.info("waiting for the local model to load… (Ctrl-C stops waiting)")
            try:
                if server.wait_ready():
                    return True
            except KeyboardInterrupt:
                self.printer.info("[interrupted]")
                return False
        self.printer.error(server.failure_reason())
        return False

    def _forget_model(self, provider_id: str, model: str) -> None:
        """Mark a model the provider says does not exist as invalid (saved), and suggest others."""
        self.runtime.discovery.mark_invalid(provider_id, model)
        close = self.runtime.manager.suggest(model)
        if close:
            self.printer.info(f"try: {', '.join(close)}")
