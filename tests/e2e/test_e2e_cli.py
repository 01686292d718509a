"""chatrepl's commands against the real llama.cpp server: discover, models, one-shot, stdin."""

from __future__ import annotations

import json

import pytest
from e2e_support import record, run_chatrepl

pytestmark = pytest.mark.e2e

BRIEF = "Answer in one short sentence."


def test_discover_finds_the_model(local_home, model_id: str) -> None:
    home = local_home()
    done = run_chatrepl(home, "discover", "--json")
    assert done.returncode == 0, done.stderr
    results = {r["provider"]: r for r in json.loads(done.stdout)}
    assert results["local"]["ok"] is True and results["local"]["error"] is None
    assert model_id in results["local"]["models"]


def test_models_json_lists_the_discovered_model(local_home, model_id: str) -> None:
    home = local_home()
    assert run_chatrepl(home, "discover").returncode == 0
    done = run_chatrepl(home, "models", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {"provider": "local", "model": model_id} in [
        {"provider": r["provider"], "model": r["model"]} for r in rows]
    scoped = [r["scoped"] for r in rows if r["provider"] == "local"]
    assert scoped == [f"local/{model_id}"]


def test_one_shot_prints_a_reply(local_home, model_id: str) -> None:
    home = local_home(models=True)
    done = run_chatrepl(home, "-m", f"local/{model_id}", "-s", BRIEF, "Say hi")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "no reply on stdout"
    record("one-shot reply (chars)", str(len(done.stdout.strip())))


def test_one_shot_from_stdin(local_home, model_id: str) -> None:
    home = local_home(models=True)
    done = run_chatrepl(home, "-m", f"local/{model_id}", "-s", BRIEF,
                        input="What colour is the sky?\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "no reply on stdout"


def test_one_shot_after_discovery_by_short_name(local_home, model_id: str) -> None:
    home = local_home()
    assert run_chatrepl(home, "discover").returncode == 0
    done = run_chatrepl(home, "-m", model_id, "-s", BRIEF, "-", input="Say hi\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_unknown_bare_model_is_one_clear_line(local_home) -> None:
    home = local_home(models=True)
    done = run_chatrepl(home, "-m", "no-such-model-anywhere", "Say hi")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "unknown model" in done.stderr


def test_unlisted_qualified_model_is_sent_and_the_server_judges(local_home) -> None:
    """`provider/model` is sent as given; llama.cpp's server answers any name with its model."""
    home = local_home(models=True)
    done = run_chatrepl(home, "-m", "local/no-such-model", "-s", BRIEF, "Say hi")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
