"""collector_paused: the cyclic collector is off inside, on again after, whatever happens."""

from __future__ import annotations

import gc
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeserver import FakeOpenAIServer

from chatrepl.cli import main
from chatrepl.gcpause import collector_paused


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()


def test_paused_inside_then_frozen_and_enabled() -> None:
    gc.unfreeze()
    with collector_paused():
        assert not gc.isenabled()
        kept = [[index] for index in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(kept)


def test_enabled_again_when_the_block_raises() -> None:
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_already_off_is_left_off_and_nothing_frozen() -> None:
    gc.unfreeze()
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_one_shot_reply_turns_the_collector_back_on(write_config, chatrepl_home: Path,
                                                    fake_server: FakeOpenAIServer) -> None:
    write_config(f"providers:\n  fake:\n    base_url: {fake_server.url}\n"
                 "    valid_models: [fake-chat]\n")
    out, err = io.StringIO(), io.StringIO()
    code = main(["-m", "fake/fake-chat", "hi"], env={"CHATREPL_HOME": str(chatrepl_home)},
                stdin=io.StringIO(""), stdout=out, stderr=err)

    assert (code, out.getvalue(), err.getvalue()) == (0, "Hello from the fake server.\n", "")
    assert gc.isenabled()


def test_a_config_error_in_one_shot_turns_the_collector_back_on(write_config,
                                                                chatrepl_home: Path) -> None:
    write_config("providers: [not, a, mapping]\n")
    err = io.StringIO()
    code = main(["-m", "fake/fake-chat", "hi"], env={"CHATREPL_HOME": str(chatrepl_home)},
                stdin=io.StringIO(""), stdout=io.StringIO(), stderr=err)

    assert code == 2 and "config.yaml" in err.getvalue()
    assert gc.isenabled()


def test_a_command_turns_the_collector_back_on(write_config, chatrepl_home: Path) -> None:
    write_config("providers:\n  fake:\n    base_url: http://127.0.0.1:9/v1\n"
                 "    valid_models: [fake-chat]\n")
    out = io.StringIO()
    code = main(["models"], env={"CHATREPL_HOME": str(chatrepl_home)}, stdout=out,
                stderr=io.StringIO())

    assert code == 0 and "fake/fake-chat" in out.getvalue()
    assert gc.isenabled()


@pytest.mark.parametrize("argv", [["discover"], ["discover", "--validate", "--yes"], ["models"],
                                  ["info", "fake/fake-chat"], ["providers"],
                                  ["-m", "fake/fake-chat", "hi"]],
                         ids=["discover", "validate", "models", "info", "providers", "one-shot"])
def test_the_collector_is_on_while_a_run_waits_on_a_server(
        argv: list[str], write_config, chatrepl_home: Path, fake_server: FakeOpenAIServer,
        probe_ports) -> None:
    # The server's handler runs while chatrepl waits for its answer: what it sees of the
    # (process-wide) collector is what chatrepl left it at during the wait.
    seen: list[tuple[str, bool]] = []
    fake_server.behavior.on_request = lambda path: seen.append((path, gc.isenabled()))
    probe_ports(llamacpp=fake_server.port)  # the local-server probe waits on it too
    write_config(f"providers:\n  fake:\n    base_url: {fake_server.url}\n"
                 "    valid_models: [fake-chat]\n")
    gc.unfreeze()
    code = main(argv, env={"CHATREPL_HOME": str(chatrepl_home)}, stdin=io.StringIO(""),
                stdout=io.StringIO(), stderr=io.StringIO())

    assert code == 0
    assert seen and all(enabled for _path, enabled in seen), seen
    assert gc.get_freeze_count() > 0  # start-up itself still ran with the collector paused
