"""/set, /unset and the parameters that reach the loopback server, per what the catalog says
each model accepts; config defaults, saved defaults and what each reply records."""

from __future__ import annotations

import json
from pathlib import Path

from paramhelpers import last_body, param_repl, sampled
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from chatrepl.repl import build_completer, handle_line


def test_set_parameters_reach_a_model_that_accepts_them(chatrepl_home: Path, fake_server) -> None:
    state, out, _ = param_repl(chatrepl_home, fake_server)
    for line in ("/set temperature 0.3", "/set top_p 0.9", "/set max_tokens 500", "/set seed 7",
                 "/set presence_penalty -0.5", "/set frequency_penalty 1"):
        handle_line(state, line)
    assert state.run_turn("hi") is not None
    assert sampled(last_body(fake_server)) == {
        "temperature": 0.3, "top_p": 0.9, "max_tokens": 500, "seed": 7,
        "presence_penalty": -0.5, "frequency_penalty": 1.0}
    assert "not sent" not in out.getvalue()
    reply = state.chat.messages[-1]
    assert reply.role == "assistant"
    assert reply.parameters["temperature"] == 0.3 and reply.parameters["max_tokens"] == 500
    saved = state.chat.to_dict()["messages"][-1]
    assert saved["parameters"]["seed"] == 7  # the history keeps them


def test_reasoning_effort_is_sent_only_to_a_reasoning_model(chatrepl_home: Path,
                                                            fake_server) -> None:
    state, out, _ = param_repl(chatrepl_home, fake_server)
    handle_line(state, "/set reasoning_effort high")
    assert "fake/warm-model is not a reasoning model" in out.getvalue()
    state.run_turn("hi")
    assert "reasoning_effort" not in last_body(fake_server)
    handle_line(state, "/model fake/cold-model")
    state.run_turn("think")
    assert last_body(fake_server)["reasoning_effort"] == "high"


def test_a_model_taking_no_temperature_is_not_sent_one_and_is_told_once(
        chatrepl_home: Path, fake_server) -> None:
    state, out, _ = param_repl(chatrepl_home, fake_server)
    handle_line(state, "/set temperature 0.7")
    handle_line(state, "/set seed 3")
    handle_line(state, "/model fake/cold-model")
    state.run_turn("one")
    first = sampled(last_body(fake_server))
    state.run_turn("two")
    second = sampled(last_body(fake_server))
    assert first == second == {"seed": 3}  # the seed still goes
    told = out.getvalue().count("takes no temperature or other sampling parameter")
    assert told == 1
    handle_line(state, "/set")
    assert ("temperature  0.7  (this session; not sent: the model takes no temperature or other"
            " sampling parameter)") in out.getvalue()
    assert "fake/cold-model" in out.getvalue()
    assert "temperature" not in state.chat.messages[-1].parameters
    handle_line(state, "/model fake/warm-model")
    state.run_turn("three")
    assert sampled(last_body(fake_server)) == {"temperature": 0.7, "seed": 3}


def test_an_unknown_model_is_sent_what_was_set(chatrepl_home: Path, fake_server) -> None:
    state, _out, _ = param_repl(chatrepl_home, fake_server, model_id="unknown-model")
    handle_line(state, "/set temperature 1.5")
    handle_line(state, "/set reasoning_effort low")
    state.run_turn("hi")
    assert sampled(last_body(fake_server)) == {"temperature": 1.5, "reasoning_effort": "low"}


def test_values_are_checked_with_one_line(chatrepl_home: Path, fake_server) -> None:
    state, out, _ = param_repl(chatrepl_home, fake_server)
    cases = {
        "/set temperature 3": "temperature must be a number from 0 to 2",
        "/set top_p -0.1": "top_p must be a number from 0 to 1",
        "/set max_tokens 2.5": "max_tokens must be a whole number from 1 to 100,000,000",
        "/set max_tokens 0": "max_tokens must be a whole number from 1 to 100,000,000",
        "/set max_tokens 99999999999999999999":
            "max_tokens must be a whole number from 1 to 100,000,000",
        "/set seed abc": "seed must be a whole number",
        "/set temperature nan": "temperature must be a number from 0 to 2",
        "/set reasoning_effort extreme": "reasoning_effort must be one of none, minimal, low",
        "/set max_tokens 1001": "max_tokens 1001 is over fake/warm-model's output limit (1000)",
        "/set temprature 1": "unknown parameter 'temprature'",
        "/set temperature": "usage: /set [--save] NAME VALUE",
    }
    for line, expected in cases.items():
        before = len(out.getvalue())
        handle_line(state, line)
        shown = out.getvalue()[before:]
        assert expected in shown, (line, shown)
        assert shown.count("\n") == 1 and "Traceback" not in shown
    assert state.runtime.parameters.in_force("fake", "warm-model") == {}
    handle_line(state, "/set max_tokens 1000")
    state.run_turn("hi")
    assert last_body(fake_server)["max_tokens"] == 1000


def test_config_defaults_per_model_and_where_each_value_comes_from(chatrepl_home: Path,
                                                                   fake_server) -> None:
    extra = ("models:\n"
             "  fake/warm-model:\n    temperature: 0.2\n    max_tokens: 300\n"
             "  fake/cold-model:\n    max_tokens: 5000\n")
    state, out, _ = param_repl(chatrepl_home, fake_server, extra)
    state.run_turn("hi")
    assert sampled(last_body(fake_server)) == {"temperature": 0.2, "max_tokens": 300}
    handle_line(state, "/set temperature 0.9")
    handle_line(state, "/set")
    shown = out.getvalue()
    assert "parameters for fake/warm-model:" in shown
    assert "temperature  0.9  (this session)" in shown
    assert "max_tokens   300  (model default in the config)" in shown
    handle_line(state, "/unset temperature")  # not even the config's default is sent now
    assert "temperature unset for this session" in out.getvalue()
    state.run_turn("no temperature")
    assert sampled(last_body(fake_server)) == {"max_tokens": 300}
    handle_line(state, "/unset top_p")
    assert "top_p was not set" in out.getvalue()
    # Over the model's output limit: the limit is sent, and said once.
    handle_line(state, "/model fake/cold-model")
    state.run_turn("a")
    state.run_turn("b")
    assert last_body(fake_server)["max_tokens"] == 2000
    assert out.getvalue().count("max_tokens 5000 is over fake/cold-model's output limit") == 1
    assert (chatrepl_home / "config.yaml").read_text().count("temperature") == 1  # unwritten


def test_saved_defaults_outlive_the_session(chatrepl_home: Path, fake_server) -> None:
    state, out, _ = param_repl(chatrepl_home, fake_server)
    config_before = (chatrepl_home / "config.yaml").read_bytes()
    handle_line(state, "/set --save temperature 0.4")
    assert "(saved for fake/warm-model)" in out.getvalue()
    saved_file = state.runtime.paths.parameters_file
    data = json.loads(saved_file.read_text())
    assert data["models"] == {"fake/warm-model": {"temperature": 0.4}}
    assert saved_file.stat().st_mode & 0o077 == 0
    assert (chatrepl_home / "config.yaml").read_bytes() == config_before
    assert not list(saved_file.parent.glob(".*.tmp"))

    again, out2, _ = param_repl(chatrepl_home, fake_server)  # a new run
    again.run_turn("hi")
    assert sampled(last_body(fake_server)) == {"temperature": 0.4}
    handle_line(again, "/set")
    assert "temperature  0.4  (saved default)" in out2.getvalue()
    handle_line(again, "/unset --save temperature")
    assert json.loads(saved_file.read_text())["models"] == {}
    again.run_turn("hi")
    assert sampled(last_body(fake_server)) == {}


def test_a_broken_saved_file_is_not_fatal_and_not_overwritten(chatrepl_home: Path,
                                                              fake_server) -> None:
    state, out, _ = param_repl(chatrepl_home, fake_server)
    saved_file = state.runtime.paths.parameters_file
    saved_file.parent.mkdir(parents=True, exist_ok=True)
    saved_file.write_text("{not json")
    handle_line(state, "/set")
    assert "no parameters set for fake/warm-model" in out.getvalue()
    handle_line(state, "/set --save seed 1")
    assert f"{saved_file}: not a saved-parameters file" in out.getvalue()
    assert saved_file.read_text() == "{not json"
    assert state.runtime.parameters.in_force("fake", "warm-model") == {}  # nothing half-done


def _completions(state, text: str) -> list[str]:
    completer = build_completer(state)  # commands and their arguments, and `@path` in messages
    found = completer.get_completions(Document(text, len(text)),
                                      CompleteEvent(completion_requested=True))
    return [c.text for c in found]


def test_tab_completes_the_names_the_current_model_accepts(chatrepl_home: Path,
                                                           fake_server) -> None:
    state, _out, _ = param_repl(chatrepl_home, fake_server)
    warm = _completions(state, "/set ")
    assert "temperature" in warm and "top_p" in warm and "reasoning_effort" not in warm
    handle_line(state, "/model fake/cold-model")
    cold = _completions(state, "/set ")
    assert "temperature" not in cold and "presence_penalty" not in cold
    assert {"max_tokens", "seed", "reasoning_effort"} <= set(cold)
    assert _completions(state, "/set reasoning_effort h") == ["high"]
    assert _completions(state, "/set --sa") == ["--save"]
    assert _completions(state, "/unset ") == []
    handle_line(state, "/set seed 5")
    assert _completions(state, "/unset ") == ["seed"]


def test_one_shot_sends_config_defaults_and_says_what_it_leaves_out(chatrepl_home: Path,
                                                                    fake_server) -> None:
    import io

    from chatrepl.cli import main

    # The bundled models.dev data marks OpenAI's o3-mini as taking no temperature.
    fake_server.behavior.models = ["o3-mini"]
    (chatrepl_home / "config.yaml").write_text(
        f"providers:\n  fake:\n    base_api_url: {fake_server.url}\n    catalog_id: openai\n"
        "models:\n  fake/o3-mini:\n    temperature: 0.5\n    max_tokens: 64\n",
        encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(["-m", "fake/o3-mini", "hi"], env={"CHATREPL_HOME": str(chatrepl_home)},
                stdin=io.StringIO(), stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    assert sampled(last_body(fake_server)) == {"max_completion_tokens": 64}
    assert err.getvalue().splitlines() == [
        "chatrepl: fake/o3-mini takes no temperature or other sampling parameter (per the"
        " catalog): temperature is not sent to it"]


def test_the_context_guard_reserves_the_max_tokens_that_is_sent(chatrepl_home: Path,
                                                                fake_server) -> None:
    extra = "models:\n  fake/warm-model:\n    max_tokens: 5000\n"  # over the limit of 1000
    state, out, _ = param_repl(chatrepl_home, fake_server, extra)
    handle_line(state, "/context")
    assert "reply reserve             1k  (max_tokens)" in out.getvalue()
    handle_line(state, "/set max_tokens 700")
    handle_line(state, "/context")
    assert "reply reserve            700  (max_tokens)" in out.getvalue()
