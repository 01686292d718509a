"""`chatrepl compare -m A -m B PROMPT [--json]`: the one-shot comparison and its exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from comparehelpers import chat_bodies_of, config_text, started_servers
from test_cli import run as run_cli


@pytest.fixture
def servers(write_config) -> Iterator[list]:
    with started_servers() as started:
        write_config(config_text(started))
        yield started


def test_json_gives_one_record_per_model(servers, chatrepl_home: Path) -> None:
    servers[1].behavior.chat_delay = 0.2
    code, out, err = run_cli(["compare", "-m", "alpha-model", "-m", "beta/beta-model",
                              "-s", "be brief", "say", "hi", "--json"], chatrepl_home)
    assert (code, err) == (0, "")
    records = json.loads(out)
    assert [(r["model"], r["text"], r["error"]) for r in records] == [
        ("alpha/alpha-model", "alpha says hi", None), ("beta/beta-model", "beta says hi", None)]
    for record in records:
        assert record["completion_tokens"] == 3 and record["tokens_estimated"] is False
        assert record["first_token_seconds"] is not None and record["seconds"] > 0
        assert set(record) >= {"tokens_per_second", "prompt_tokens", "cost_usd", "interrupted"}
    for server in servers[:2]:
        assert chat_bodies_of(server)[-1]["messages"] == [
            {"role": "system", "content": "be brief"}, {"role": "user", "content": "say hi"}]


def test_text_output_has_each_reply_and_its_figures(servers, chatrepl_home: Path) -> None:
    servers[2].behavior.content_chunks = ["clean\x1b[2J ", "text\x07"]
    code, out, err = run_cli(["compare", "-m", "al", "-m", "be", "-m", "ga", "hello"],
                             chatrepl_home)
    assert (code, err) == (0, "")
    assert "== [1] alpha/alpha-model ==\nalpha says hi\n" in out
    assert "== [3] gamma/gamma-model ==\nclean[2J text\n" in out  # the escape character went
    assert out.count("· 1 in · 3 out · ") == 2 and out.count("ttft ") == 3
    assert "\x1b" not in out and "\x07" not in out


def test_a_failing_model_is_reported_and_the_run_still_succeeds(servers, chatrepl_home: Path) -> None:
    servers[0].behavior.chat_status = 500
    code, out, err = run_cli(["compare", "-m", "al", "-m", "be", "hi", "--json"], chatrepl_home)
    assert code == 0
    records = json.loads(out)
    assert "server error 500" in records[0]["error"] and records[1]["text"] == "beta says hi"
    assert err.startswith("chatrepl: [1] error: alpha/alpha-model: server error 500")
    assert err.count("\n") == 1


def test_all_failing_exits_1(servers, chatrepl_home: Path) -> None:
    for server in servers:
        server.behavior.chat_status = 503
    code, out, err = run_cli(["compare", "-m", "al", "-m", "be", "hi"], chatrepl_home)
    assert code == 1
    assert err.count("chatrepl: [") == 2 and "Traceback" not in err
    assert out.count("error: ") == 2  # each section shows its error too


@pytest.mark.parametrize(("argv", "expected"), [
    (["compare", "-m", "al", "hi"], "takes 2 to 6 different models (got 1)"),
    (["compare", "-m", "al", "-m", "nowhere", "hi"], "unknown model 'nowhere'"),
    (["compare", "hi"], "the following arguments are required: -m/--model"),
    (["compare", "-m", "al", "-m", "be"], "the following arguments are required: PROMPT"),
])
def test_usage_errors_exit_2(servers, chatrepl_home: Path, argv: list[str], expected: str) -> None:
    code, _, err = run_cli(argv, chatrepl_home)
    assert code == 2
    assert expected in err
    assert not any(chat_bodies_of(server) for server in servers)


def test_per_model_defaults_of_the_config_go_to_their_model(chatrepl_home: Path,
                                                           write_config) -> None:
    with started_servers(2) as servers:
        write_config(config_text(servers) + "models:\n  alpha/alpha-model:\n    temperature: 0.2\n")
        code, _out, err = run_cli(["compare", "-m", "al", "-m", "be", "hi", "--json"],
                                  chatrepl_home)
        assert (code, err) == (0, "")
        assert chat_bodies_of(servers[0])[-1]["temperature"] == 0.2
        assert "temperature" not in chat_bodies_of(servers[1])[-1]


def test_the_config_system_prompt_goes_to_every_model_unless_s_gives_one(
        write_config, chatrepl_home: Path) -> None:
    with started_servers(2) as servers:
        write_config("system_prompt: answer in French\n" + config_text(servers))
        assert run_cli(["compare", "-m", "al", "-m", "be", "hi"], chatrepl_home)[0] == 0
        assert run_cli(["compare", "-m", "al", "-m", "be", "-s", "be brief", "hi"],
                       chatrepl_home)[0] == 0
        for server in servers:
            first, second = (body["messages"][0] for body in chat_bodies_of(server))
            assert first == {"role": "system", "content": "answer in French"}
            assert second == {"role": "system", "content": "be brief"}
