"""The non-interactive CLI: main(argv, env=..., stdout=..., stderr=...) and the installed command."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from fakeserver import FakeOpenAIServer

from chatrepl.__version__ import VERSION
from chatrepl.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "sk-cli-secret-0123456789"
REPO = Path(__file__).resolve().parent.parent


def run(argv: list[str], home: Path, extra_env: Mapping[str, str] | None = None,
        ) -> tuple[int, str, str]:
    env = {"CHATREPL_HOME": str(home), **(extra_env or {})}
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env=env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def two_providers(url: str) -> str:
    return ("providers:\n"
            "  openai:\n    name: OpenAI\n    base_api_url: https://api.openai.com/v1\n"
            "    valid_models: {gpt-4o: 4o, gpt-4o-mini: 4o-mini}\n"
            f"  local:\n    base_api_url: {url}\n"
            "    valid_models: [Qwen/Qwen2.5-7B]\n")


# -- models ----------------------------------------------------------------------------------

def test_models_json(write_config, chatrepl_home: Path) -> None:
    write_config(two_providers("http://127.0.0.1:1/v1"))
    code, out, err = run(["models", "--json"], chatrepl_home)
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert rows[0]["context_window"] == 128000  # catalog facts ride along
    assert rows[2]["context_window"] is None
    keys = ("provider", "model", "short", "scoped")
    assert [{k: row[k] for k in keys} for row in rows] == [
        {"provider": "openai", "model": "gpt-4o", "short": "4o", "scoped": "openai/gpt-4o"},
        {"provider": "openai", "model": "gpt-4o-mini", "short": "4o-mini",
         "scoped": "openai/gpt-4o-mini"},
        {"provider": "local", "model": "Qwen/Qwen2.5-7B", "short": "Qwen/Qwen2.5-7B",
         "scoped": "local/Qwen/Qwen2.5-7B"},
    ]


def test_models_for_one_provider(write_config, chatrepl_home: Path) -> None:
    write_config(two_providers("http://127.0.0.1:1/v1"))
    code, out, _ = run(["models", "--provider", "LOCAL", "--json"], chatrepl_home)
    assert code == 0
    assert [row["scoped"] for row in json.loads(out)] == ["local/Qwen/Qwen2.5-7B"]

    code, out, _ = run(["models", "--provider", "openai"], chatrepl_home)
    assert code == 0
    assert out.splitlines() == ["openai/gpt-4o       4o       128k  $2.50/$10.00  tools vision",
                                "openai/gpt-4o-mini  4o-mini  128k  $0.15/$0.60   tools vision"]


def test_models_unknown_provider(write_config, chatrepl_home: Path) -> None:
    write_config(two_providers("http://127.0.0.1:1/v1"))
    code, out, err = run(["models", "--provider", "anthropic"], chatrepl_home)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "anthropic" in err and "openai" in err


def test_models_of_the_legacy_file(chatrepl_home: Path) -> None:
    path = chatrepl_home / "providers.yaml"
    shutil.copyfile(FIXTURES / "legacy-providers.yaml", path)
    path.chmod(0o600)
    before = path.read_bytes()
    code, out, err = run(["models", "--json", "--config", str(path)], chatrepl_home)
    assert (code, err) == (0, "")
    assert "hyperbolic/Qwen/QwQ-32B-Preview" in [row["scoped"] for row in json.loads(out)]
    assert path.read_bytes() == before
    assert "sk-legacy" not in out


def test_models_with_no_config(chatrepl_home: Path) -> None:
    code, out, err = run(["models"], chatrepl_home)
    assert (code, err) == (0, "")
    assert "discover" in out
    assert not (chatrepl_home / "config.yaml").exists()  # never created behind the user's back


# -- discover --------------------------------------------------------------------------------

def test_discover_json_ok_then_models(write_config, chatrepl_home: Path,
                                      fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.models = ["llama-3.1-8b", "text-embedding-nomic"]
    write_config(f"providers:\n  local:\n    base_api_url: {fake_server.url}\n")
    code, out, err = run(["discover", "--json"], chatrepl_home)
    assert (code, err) == (0, "")
    assert json.loads(out) == [{"provider": "local", "ok": True, "models": ["llama-3.1-8b"],
                                "invalid": ["text-embedding-nomic"], "error": None}]

    # The next run knows the models from the state file, without asking the server.
    asked = fake_server.count("/models")
    code, out, _ = run(["models", "--json"], chatrepl_home)
    assert code == 0
    assert [row["scoped"] for row in json.loads(out)] == ["local/llama-3.1-8b"]
    assert fake_server.count("/models") == asked


def test_discover_exit_1_when_a_provider_fails(write_config, chatrepl_home: Path,
                                               fake_server: FakeOpenAIServer) -> None:
    write_config(f"providers:\n  local:\n    base_api_url: {fake_server.url}\n"
                 "  remote:\n    base_api_url: https://api.remote.example/v1\n")
    code, out, _ = run(["discover", "--json"], chatrepl_home)
    assert code == 1
    rows = {row["provider"]: row for row in json.loads(out)}
    assert rows["local"]["ok"] is True and rows["local"]["error"] is None
    assert rows["remote"]["ok"] is False
    assert "REMOTE_API_KEY" in rows["remote"]["error"]
    assert set(rows["remote"]) == {"provider", "ok", "models", "invalid", "error"}

    # Asking only for the provider that works succeeds.
    code, out, _ = run(["discover", "local", "--json"], chatrepl_home)
    assert code == 0
    assert [row["provider"] for row in json.loads(out)] == ["local"]


def test_discover_server_error_text(write_config, chatrepl_home: Path,
                                    fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.models_status = 401
    write_config(f"providers:\n  local:\n    base_api_url: {fake_server.url}\n"
                 "    api_key: ${LOCAL_KEY}\n")
    code, out, err = run(["discover"], chatrepl_home, {"LOCAL_KEY": SECRET})
    assert code == 1
    assert out.startswith("local: failed: ") and "401" in out
    assert SECRET not in out + err


def test_discover_validate(write_config, chatrepl_home: Path,
                           fake_server: FakeOpenAIServer) -> None:
    fake_server.behavior.models = ["works", "retired"]
    fake_server.behavior.unknown_models = {"retired"}
    write_config(f"providers:\n  local:\n    base_api_url: {fake_server.url}\n")
    code, out, _ = run(["discover", "--validate", "--json"], chatrepl_home)
    assert code == 0
    (row,) = json.loads(out)
    assert row["models"] == ["works"] and row["invalid"] == ["retired"]


# -- providers -------------------------------------------------------------------------------

def test_providers_json_never_shows_keys(write_config, chatrepl_home: Path) -> None:
    write_config("providers:\n"
                 "  openai:\n    base_api_url: https://api.openai.com/v1\n"
                 "    api_key: ${OPENAI_API_KEY}\n"
                 "  inline:\n    base_api_url: https://inline.example/v1\n"
                 f"    api_key: {SECRET}\n"
                 "  deepseek:\n    base_api_url: https://api.deepseek.com/v1\n"
                 "  local:\n    base_api_url: http://localhost:11434/v1\n")
    code, out, err = run(["providers", "--json"], chatrepl_home,
                         {"OPENAI_API_KEY": "sk-env-openai-key-999999"})
    assert (code, err) == (0, "")
    rows = {row["provider"]: row for row in json.loads(out)}
    assert {name: row["key"] for name, row in rows.items()} == {
        "openai": "set", "inline": "set", "deepseek": "missing", "local": "not needed"}
    assert rows["openai"]["base_url"] == "https://api.openai.com/v1"
    assert rows["openai"]["last_discovery"] is None
    assert SECRET not in out and "sk-env-openai-key-999999" not in out

    code, out, err = run(["providers"], chatrepl_home, {"OPENAI_API_KEY": "sk-env-openai-key-999999"})
    assert code == 0
    assert "key missing" in out and "key not needed" in out
    assert SECRET not in out + err and "sk-env-openai-key-999999" not in out + err


def test_providers_after_discovery(write_config, chatrepl_home: Path,
                                   fake_server: FakeOpenAIServer) -> None:
    write_config(f"providers:\n  local:\n    base_api_url: {fake_server.url}\n")
    assert run(["discover"], chatrepl_home)[0] == 0
    code, out, _ = run(["providers", "--json"], chatrepl_home)
    assert code == 0
    (row,) = json.loads(out)
    assert row["models"] == 1
    assert isinstance(row["last_discovery"], float)


# -- version, help, errors -------------------------------------------------------------------

def test_version(chatrepl_home: Path) -> None:
    code, out, err = run(["--version"], chatrepl_home)
    assert (code, out, err) == (0, f"chatrepl {VERSION}\n", "")


def test_help_goes_to_given_stdout(chatrepl_home: Path) -> None:
    code, out, err = run(["discover", "--help"], chatrepl_home)
    assert (code, err) == (0, "")
    assert "--validate" in out


@pytest.mark.parametrize("argv", [["models"], ["discover", "--json"], ["providers"]])
def test_bad_config_is_one_line_and_exit_2(write_config, chatrepl_home: Path,
                                           argv: list[str]) -> None:
    path = write_config("providers:\n  openai:\n    base_urll: https://api.openai.com/v1\n")
    before = path.read_bytes()
    code, out, err = run(argv, chatrepl_home)
    assert code == 2
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1
    assert f"{path}:3: providers.openai.base_urll" in err
    assert "did you mean 'base_url'" in err
    assert "Traceback" not in err
    assert path.read_bytes() == before


def test_bad_yaml_via_config_flag(chatrepl_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("providers:\n  a: {base_url: http://x\n", encoding="utf-8")
    code, out, err = run(["providers", "--config", str(path)], chatrepl_home)
    assert code == 2 and out == ""
    assert err.startswith(f"chatrepl: {path}:") and err.count("\n") == 1


def test_missing_explicit_config(chatrepl_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    code, _, err = run(["models", "--config", str(path)], chatrepl_home)
    assert code == 2
    assert str(path) in err and err.count("\n") == 1


def test_config_from_environment_variable(chatrepl_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.yaml"
    path.write_text("providers:\n  x:\n    base_url: https://x.example/v1\n    valid_models: [m]\n",
                    encoding="utf-8")
    code, out, _ = run(["models", "--json"], chatrepl_home, {"CHATREPL_CONFIG": str(path)})
    assert code == 0
    assert [row["scoped"] for row in json.loads(out)] == ["x/m"]


def test_unknown_option_is_usage_error(chatrepl_home: Path) -> None:
    code, out, err = run(["models", "--bogus"], chatrepl_home)
    assert code == 2 and out == ""
    assert "--bogus" in err and err.count("\n") == 1


# -- the installed command, in a real process ------------------------------------------------

def test_subprocess_entry_points(chatrepl_home: Path, tmp_path: Path) -> None:
    home = chatrepl_home
    config = home / "config.yaml"
    config.write_text("providers:\n  local:\n    base_api_url: http://127.0.0.1:1/v1\n"
                      "    valid_models: [m1]\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not (k.endswith("_API_KEY") or k.startswith(("OPENAI_", "CHATREPL_")))}
    env["CHATREPL_HOME"] = str(home)

    version = subprocess.run([sys.executable, "-m", "chatrepl", "--version"], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (version.returncode, version.stdout.strip()) == (0, f"chatrepl {VERSION}")

    script = Path(sys.executable).parent / "chatrepl"
    if not script.exists():
        script = REPO / ".venv" / "bin" / "chatrepl"
    providers = subprocess.run([str(script), "providers"], env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
    assert providers.returncode == 0, providers.stderr
    assert providers.stdout.startswith("local  http://127.0.0.1:1/v1  key not needed  1 model  ")
    assert providers.stderr == ""

    config.write_text("providers: [\n", encoding="utf-8")
    broken = subprocess.run([str(script), "providers"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert broken.returncode == 2
    assert broken.stderr.startswith(f"chatrepl: {config}:") and "Traceback" not in broken.stderr


def test_init_writes_a_loadable_config_once(chatrepl_home: Path) -> None:
    env = {"CHATREPL_HOME": str(chatrepl_home), "GROQ_API_KEY": "gsk-test-0123456789"}
    out, err = io.StringIO(), io.StringIO()
    assert main(["init"], env=env, stdout=out, stderr=err) == 0
    target = chatrepl_home / "config.yaml"
    written = target.read_bytes()
    code, listing, _ = run(["providers", "--json"], chatrepl_home, extra_env=env)
    assert code == 0 and [row["provider"] for row in json.loads(listing)] == ["groq"]
    err = io.StringIO()
    assert main(["init"], env=env, stdout=io.StringIO(), stderr=err) == 2
    assert "already exists" in err.getvalue() and target.read_bytes() == written


def test_presets_need_no_config_and_a_config_entry_wins(chatrepl_home: Path, write_config) -> None:
    env = {"CHATREPL_HOME": str(chatrepl_home), "DEEPSEEK_API_KEY": "sk-test-0123456789",
           "MISTRAL_API_KEY": "sk-test-9876543210"}
    code, listing, _ = run(["providers", "--json"], chatrepl_home, extra_env=env)
    rows = {row["provider"]: row for row in json.loads(listing)}
    assert code == 0 and set(rows) == {"deepseek", "mistral"}
    assert rows["deepseek"]["base_url"] == "https://api.deepseek.com/v1"
    write_config("providers:\n  deepseek:\n    base_api_url: http://127.0.0.1:1/v1\n")
    code, listing, _ = run(["providers", "--json"], chatrepl_home, extra_env=env)
    rows = {row["provider"]: row for row in json.loads(listing)}
    assert rows["deepseek"]["base_url"] == "http://127.0.0.1:1/v1" and "mistral" in rows
