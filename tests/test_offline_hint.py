"""With nothing configured, what chatrepl says about the local model matches what it does
(issue 12): it never asks for an install that is already there, and `--help` agrees."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from chatrepl import localmodel
from chatrepl.cli import build_parser, main
from chatrepl.entry import prepare_repl, start_local_server
from chatrepl.paths import resolve_paths
from chatrepl.runtime import build_runtime


def _notices_and_start(home: Path) -> tuple[str, object, list[str]]:
    """The config-less REPL's notices, what start_local_server did, and what it said."""
    env = {"CHATREPL_HOME": str(home)}
    runtime = build_runtime(resolve_paths(env), env, synchronous=True)
    args: argparse.Namespace = build_parser().parse_args(["--no-discover"])
    said: list[str] = []
    server = start_local_server(runtime, args, said.append)
    _state, notices, _start = prepare_repl(runtime, args, io.StringIO(), io.StringIO())
    return " ".join(notices), server, said


def test_llama_installed_but_no_model_says_local_fetches_it(chatrepl_home: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localmodel, "llama_cpp_available", lambda: True)
    monkeypatch.setattr(localmodel, "packaged_gguf", lambda: None)
    text, server, said = _notices_and_start(chatrepl_home)
    assert server is None and said == []  # nothing is started and nothing is downloaded
    assert "No providers configured" in text
    assert "`chatrepl --local`" in text and "fetches the bundled model" in text
    assert "install" not in text.split("OPENAI_API_KEY", 1)[1]  # no install asked for


def test_llama_missing_says_which_install_brings_it(chatrepl_home: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localmodel, "llama_cpp_available", lambda: False)
    text, server, _said = _notices_and_start(chatrepl_home)
    assert server is None
    assert "make install-local" in text and "pip install 'chatrepl[local]'" in text


def test_help_says_when_local_is_the_default_and_that_it_fetches_the_model() -> None:
    out = io.StringIO()
    assert main(["--help"], env={}, stdout=out) == 0
    text = " ".join(out.getvalue().split())
    local = text[text.index("--local "):text.rindex("--gguf PATH")]
    assert "fetches the model" in local and "with pip on first use" in local
    assert "the default when nothing else is configured and the model is already there" in local
