"""Roles: Markdown files with a YAML header; /role in the REPL (variables given or asked) and
--role/--var on the command line, at the loopback server."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from paramhelpers import last_body, param_repl, provider_config, sampled
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from chatrepl.cli import main
from chatrepl.errors import RoleError
from chatrepl.repl import Prepared, handle_line, run_repl
from chatrepl.roles import load_role, role_names

TRANSLATOR = """---
description: translates
parameters:
  temperature: 0.1
  max_tokens: 200
---
Translate everything into {{language}} for {{ audience }}.
Keep {{language}} idioms.
"""
THINKER = "---\nmodel: fake/cold-model\nparameters: {reasoning_effort: high}\n---\nThink hard.\n"


def write_role(home: Path, name: str, text: str) -> Path:
    folder = home / "roles"  # beside $CHATREPL_HOME/config.yaml
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


def system_of(body: dict) -> str:
    assert body["messages"][0]["role"] == "system"
    return body["messages"][0]["content"]


def test_a_role_file_is_read(tmp_path: Path) -> None:
    path = write_role(tmp_path, "translator", TRANSLATOR)
    write_role(tmp_path, "plain", "Just {{x}} a prompt")
    (tmp_path / "roles" / "notes.txt").write_text("not a role")
    assert role_names(tmp_path / "roles") == ["plain", "translator"]
    role = load_role(tmp_path / "roles", "translator")
    assert (role.path, role.model, role.description) == (path, None, "translates")
    assert role.variables == ("language", "audience")
    assert role.parameters.values() == {"temperature": 0.1, "max_tokens": 200}
    assert role.render({"language": "Welsh", "audience": "kids"}) == (
        "Translate everything into Welsh for kids.\nKeep Welsh idioms.")
    with pytest.raises(RoleError, match="role translator needs audience: give audience=VALUE"):
        role.render({"language": "Welsh"})
    assert load_role(tmp_path / "roles", "plain").variables == ("x",)


@pytest.mark.parametrize(("text", "line", "message"), [
    ("---\nmodle: x\n---\nhi\n", 2, "modle: unknown key; did you mean 'model'?"),
    ("---\nparameters:\n  temprature: 1\n---\nhi\n", 3,
     "parameters.temprature: unknown key; did you mean 'temperature'?"),
    ("---\nparameters:\n  temperature: 9\n---\nhi\n", 3,
     "parameters.temperature: must be a number from 0 to 2, not 9"),
    ("---\nmodel: [a\n---\nhi\n", 2, "invalid YAML"),
    ("---\ntemperature: 0.2\nno closing line\n", 1, "the header opened by --- is not closed"),
    ("---\n- a list\n---\nhi\n", 2, "the header must be a map"),
])
def test_bad_role_files_name_file_and_line(tmp_path: Path, text: str, line: int,
                                           message: str) -> None:
    path = write_role(tmp_path, "bad", text)
    with pytest.raises(RoleError) as caught:
        load_role(tmp_path / "roles", "bad")
    assert str(caught.value).startswith(f"{path}:{line}: "), str(caught.value)
    assert message in str(caught.value)


def test_missing_empty_and_binary_roles(tmp_path: Path) -> None:
    write_role(tmp_path, "coder", "Write code.")
    with pytest.raises(RoleError, match=r"no role 'codr'.*did you mean coder"):
        load_role(tmp_path / "roles", "codr")
    empty = write_role(tmp_path, "empty", "---\nmodel: a/b\n---\n\n")
    with pytest.raises(RoleError, match=f"{empty}: the role has no system prompt"):
        load_role(tmp_path / "roles", "empty")
    (tmp_path / "roles" / "bin.md").write_bytes(b"ok\n\xff\xfe")
    with pytest.raises(RoleError, match=r"bin\.md:2: not valid UTF-8"):
        load_role(tmp_path / "roles", "bin")
    with pytest.raises(RoleError, match="not a role name"):
        load_role(tmp_path / "roles", "../coder")


def test_role_with_variables_switches_prompt_and_parameters_and_keeps_the_model(
        chatrepl_home: Path, fake_server) -> None:
    state, out, _ = param_repl(chatrepl_home, fake_server)
    write_role(chatrepl_home, "translator", TRANSLATOR)
    state.run_turn("before")
    handle_line(state, "/set seed 4")
    handle_line(state, '/role translator language=Welsh "audience=small kids"')
    assert state.current_model == "fake/warm-model"
    state.run_turn("after")
    body = last_body(fake_server)
    assert system_of(body) == "Translate everything into Welsh for small kids.\nKeep Welsh idioms."
    assert sampled(body) == {"temperature": 0.1, "max_tokens": 200}  # the role's, not /set's
    assert [m["content"] for m in body["messages"] if m["role"] == "user"] == ["before", "after"]
    handle_line(state, "/role")
    shown = out.getvalue()
    assert "role translator: system prompt set; temperature 0.1, max_tokens 200" in shown
    assert "role: translator" in shown and "  temperature 0.1" in shown
    handle_line(state, "/set")
    assert "temperature  0.1  (role translator)" in out.getvalue()


def test_a_role_naming_a_model_switches_to_it(chatrepl_home: Path, fake_server) -> None:
    state, out, _ = param_repl(chatrepl_home, fake_server)
    write_role(chatrepl_home, "thinker", THINKER)
    handle_line(state, "/role thinker")
    assert state.current_model == "fake/cold-model"
    assert "model: fake/cold-model" in out.getvalue()
    state.run_turn("hm")
    body = last_body(fake_server)
    assert body["model"] == "cold-model" and body["reasoning_effort"] == "high"
    handle_line(state, "/role --clear")
    state.run_turn("again")
    body = last_body(fake_server)
    assert "reasoning_effort" not in body and body["messages"][0]["role"] == "user"


def test_role_errors_are_one_line_and_change_nothing(chatrepl_home: Path, fake_server) -> None:
    state, out, _ = param_repl(chatrepl_home, fake_server)
    path = write_role(chatrepl_home, "broken", "---\nparameters: {top_p: 2}\n---\nx\n")
    write_role(chatrepl_home, "translator", TRANSLATOR)
    handle_line(state, "/role broken")
    handle_line(state, "/role translator language=Welsh")  # nobody to ask for audience
    handle_line(state, "/role nosuch")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"error: {path}:2: parameters.top_p: must be a number from 0 to 1")
    assert "role translator needs audience: give audience=VALUE" in lines[1]
    assert "no role 'nosuch'" in lines[2] and len(lines) == 3
    assert state.chat.system_prompt is None and state.runtime.parameters.role_name is None


def test_repl_asks_for_the_variables(chatrepl_home: Path, fake_server) -> None:
    state, _out, _ = param_repl(chatrepl_home, fake_server)
    write_role(chatrepl_home, "translator", TRANSLATOR)
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        for line in ("/role translator", "Breton", "sailors", "bonjour"):
            pipe.send_text(line + "\r")
        pipe.send_text("\x04")
        assert run_repl(lambda _terminal: Prepared(state), input=pipe, output=DummyOutput(),
                        history_path=state.runtime.paths.history_file) == 0
    body = last_body(fake_server)
    assert system_of(body).startswith("Translate everything into Breton for sailors.")
    assert body["messages"][-1]["content"] == "bonjour"


def _run(home: Path, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), env={"CHATREPL_HOME": str(home)}, stdin=io.StringIO(stdin),
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_role_on_the_command_line(chatrepl_home: Path, fake_server) -> None:
    fake_server.behavior.models = ["unknown-model"]
    (chatrepl_home / "config.yaml").write_text(provider_config(fake_server), encoding="utf-8")
    write_role(chatrepl_home, "translator", TRANSLATOR)
    code, out, err = _run(chatrepl_home, "--role", "translator", "--var", "language=Latin",
                          "--var", "audience=monks", "-m", "fake/unknown-model", "salve")
    assert (code, err) == (0, "")
    assert out.strip() == "Hello from the fake server."
    body = last_body(fake_server)
    assert system_of(body).startswith("Translate everything into Latin for monks.")
    assert sampled(body) == {"temperature": 0.1, "max_tokens": 200}

    code, _out, err = _run(chatrepl_home, "--role", "translator", "--var", "language=Latin",
                           "-m", "fake/unknown-model", "salve")
    assert code == 2 and "role translator needs audience: give --var audience=VALUE" in err
    code, _out, err = _run(chatrepl_home, "--role", "translator", "--var", "lang=x",
                           "--var", "audience=y", "--var", "language=z", "hi")
    assert code == 2 and "role translator has no variable lang" in err
    bad = write_role(chatrepl_home, "bad", "---\nmodel: [a\n---\nx\n")
    code, _out, err = _run(chatrepl_home, "--role", "bad", "hi")
    assert code == 2 and err.startswith(f"chatrepl: {bad}:2: invalid YAML")
    assert len(err.splitlines()) == 1
    code, _out, err = _run(chatrepl_home, "--var", "a=b", "hi")
    assert code == 2 and "--var gives a role's variables: use it with --role NAME" in err


def test_a_question_left_with_ctrl_c_takes_no_role(chatrepl_home: Path, fake_server) -> None:
    state, out, _ = param_repl(chatrepl_home, fake_server)
    write_role(chatrepl_home, "translator", TRANSLATOR)
    handle_line(state, "/role translator language=x tone=y")
    assert "role translator has no variable tone (it has language, audience)" in out.getvalue()
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("/role translator\r")
        pipe.send_text("\x03")  # Ctrl-C at the question
        pipe.send_text("\x04")
        assert run_repl(lambda _terminal: Prepared(state), input=pipe, output=DummyOutput(),
                        history_path=state.runtime.paths.history_file) == 0
    assert "role translator not taken" in out.getvalue()
    assert state.chat.system_prompt is None and state.runtime.parameters.role_name is None


def test_command_line_variables_are_asked_on_a_terminal(tmp_path: Path) -> None:
    import argparse

    from chatrepl.errors import UsageError
    from chatrepl.rolestart import ask_on, starting_role

    write_role(tmp_path, "translator", TRANSLATOR)
    args = argparse.Namespace(role="translator", var=["audience=owls"])
    err = io.StringIO()
    start = starting_role(tmp_path / "roles", args, ask_on(io.StringIO("Greek\n"), err))
    assert start is not None and start.values == {"audience": "owls", "language": "Greek"}
    assert start.prompt.startswith("Translate everything into Greek for owls.")
    assert err.getvalue() == "translator: language? "
    with pytest.raises(UsageError, match="no answer: give the role's variables with --var"):
        starting_role(tmp_path / "roles", args, ask_on(io.StringIO(""), io.StringIO()))


def test_repl_started_with_a_role_asks_its_variables_first(chatrepl_home: Path,
                                                           fake_server) -> None:
    from chatrepl.environment import Environment

    fake_server.behavior.models = ["unknown-model"]
    (chatrepl_home / "config.yaml").write_text(provider_config(fake_server), encoding="utf-8")
    write_role(chatrepl_home, "translator", TRANSLATOR)
    out, err = io.StringIO(), io.StringIO()
    environment = Environment(
        argv=["--no-discover", "--role", "translator", "-m", "fake/unknown-model"],
        env={"CHATREPL_HOME": str(chatrepl_home)}, stdin=io.StringIO("Basque\nfishers\n"),
        stdout=out, stderr=err, stdin_isatty=True)
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("kaixo\r")
        pipe.send_text("/exit\r")
        assert main(environment=environment) == 0
    assert err.getvalue() == "translator: language? translator: audience? "
    body = last_body(fake_server)
    assert system_of(body).startswith("Translate everything into Basque for fishers.")
    assert sampled(body) == {"temperature": 0.1, "max_tokens": 200}
