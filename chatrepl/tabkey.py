"""Tab in the REPL's prompts: the next completion with the menu up, else the completions
computed at once and the first one taken."""

from __future__ import annotations

from prompt_toolkit.buffer import CompletionState
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.key_binding.key_processor import KeyPressEvent


def complete_now(event: KeyPressEvent) -> None:
    """Bound to Tab. prompt_toolkit's own Tab is dropped while a completion started by typing
    is still running on the completer thread (its menu still empty): this one never is."""
    buffer = event.current_buffer
    if buffer.complete_state is not None and buffer.complete_state.completions:
        buffer.complete_next()
        return
    if buffer.completer is None:
        return
    found = list(buffer.completer.get_completions(
        buffer.document, CompleteEvent(completion_requested=True)))
    if found:
        buffer.complete_state = CompletionState(original_document=buffer.document,
                                                completions=found)
        buffer.go_to_completion(0)
