"""Streaming figures against the real server: first token and tokens/s, three ways.

1. a direct loop over the openai SDK's stream;
2. chatrepl's own ChatSession (what the REPL and one-shot mode use), on the same prompt;
3. llama.cpp's own timing of the generation (its `llama_perf_context_print` log lines: the
   llama-cpp-python server sends no `timings` field in its answers).

Printed in the run's summary; the assertions are only that tokens arrived.
"""

from __future__ import annotations

import threading
import time

import openai
import pytest
from e2e_support import first_output_after, record, server_eval_rate

from chatrepl.chat import ChatSession
from chatrepl.config import ChatSettings
from chatrepl.manager import ProviderManager
from chatrepl.reply import StreamEvent

pytestmark = pytest.mark.e2e

PROMPT = "Write a long story about a cat who learns to sail."
TOKENS = 200


def _rate(count: int, first: float | None, last: float | None) -> float:
    if first is None or last is None or count < 2 or last <= first:
        return 0.0
    return (count - 1) / (last - first)


def test_streaming_rates_sdk_chatrepl_and_server(llama_server, model_id: str) -> None:
    # 1. The SDK directly.
    client = openai.OpenAI(base_url=llama_server.base_url, api_key=llama_server.api_key,
                           max_retries=0)
    sent = time.monotonic()
    first = last = None
    chunks = 0
    stream = client.chat.completions.create(
        model=model_id, messages=[{"role": "user", "content": PROMPT}], stream=True,
        max_tokens=TOKENS)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            last = time.monotonic()
            first = first or last
            chunks += 1
    client.close()
    assert chunks > 0
    sdk_rate = _rate(chunks, first, last)
    assert first is not None
    record("SDK: request -> first token", f"{first - sent:.3f} s")
    record("SDK: streamed chunks/s", f"{sdk_rate:.1f} ({chunks} chunks)")
    server = server_eval_rate(llama_server.log_tail(80))
    if server is not None:
        record("server's own eval rate (same request)", f"{server[1]:.1f} tokens/s ({server[0]} tokens)")
        if sdk_rate:
            record("SDK rate / server rate", f"{sdk_rate / server[1]:.2f}")

    # 2. chatrepl's ChatSession, stopped after the same number of chunks.
    manager = ProviderManager({"local": llama_server.provider_config()})
    chat = ChatSession(manager, {}, ChatSettings(), provider="local", model=model_id)
    cancel = threading.Event()
    seen: list[float] = []

    def on_event(event: StreamEvent) -> None:
        if event.kind == "content" and event.text:
            seen.append(time.monotonic())
            if len(seen) >= chunks:
                cancel.set()

    sent = time.monotonic()
    result = chat.send(PROMPT, on_event=on_event, cancel=cancel)
    assert seen and result.text
    chat_rate = _rate(len(seen), seen[0], seen[-1])
    record("chatrepl ChatSession: request -> first token", f"{seen[0] - sent:.3f} s")
    record("chatrepl ChatSession: chunks/s", f"{chat_rate:.1f} ({len(seen)} chunks)")
    if sdk_rate and chat_rate:
        record("chatrepl rate / SDK rate", f"{chat_rate / sdk_rate:.2f}")


def test_one_shot_time_to_first_token(local_home, model_id: str) -> None:
    home = local_home(models=True)
    first, total, code, out = first_output_after(home, "-m", f"local/{model_id}", "-s",
                                                 "Answer in one short sentence.", "Say hi")
    assert code == 0 and out.strip()
    assert first is not None
    record("one-shot `chatrepl -m local/...`: start -> first token", f"{first:.2f} s")
    record("one-shot `chatrepl -m local/...`: start -> exit", f"{total:.2f} s")
