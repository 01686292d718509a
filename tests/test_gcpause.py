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
