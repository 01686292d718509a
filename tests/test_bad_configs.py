"""A corpus of broken config files: each gives exit code 2 and one line naming the file (and line).

`tests/bad_configs/expected.json` maps each file to the fragment its error line must contain and
the line it must name (null where the problem has no line). Entries with an `xfail` reason are
known bugs outside the config reader; they are marked strict so a fix shows up.

Cases that cannot live in git (a 64 MiB file, a directory, a FIFO, an unreadable file, symlink
loops) are made in tmp_path by the tests below.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from chatrepl.cli import main
from chatrepl.config import load_config
from chatrepl.errors import ConfigError

CORPUS = Path(__file__).parent / "bad_configs"
EXPECTED: dict[str, dict] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
REPO = Path(__file__).resolve().parent.parent
OLD_MTIME_NS = 1_000_000_000 * 10**9  # 2001: any rewrite of the file moves it


def corpus_params() -> list:
    params = []
    for name, entry in sorted(EXPECTED.items()):
        marks = ([pytest.mark.xfail(reason=entry["xfail"], strict=True)]
                 if "xfail" in entry else [])
        params.append(pytest.param(name, entry, id=name.removesuffix(".yaml"), marks=marks))
    return params


def place(tmp_path: Path, name: str) -> Path:
    """A copy of a corpus file with an old mtime, so that a rewrite would show."""
    path = tmp_path / name
    shutil.copyfile(CORPUS / name, path)
    os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    return path


def snapshot(path: Path) -> tuple[bytes, int, int]:
    info = path.stat()
    return path.read_bytes(), info.st_mtime_ns, stat.S_IMODE(info.st_mode)


def run_main(argv: list[str], home: Path, config: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env={"CHATREPL_HOME": str(home), "CHATREPL_CONFIG": str(config)},
                stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def check_error_line(code: int, out: str, err: str, path: Path, fragment: str,
                     line: int | None) -> None:
    """Exit 2, nothing on stdout, exactly one line on stderr naming the file (and line)."""
    assert code == 2, (code, out, err)
    assert out == ""
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert fragment in err, err
    where = f"{path}:{line}: " if line else f"{path}: "
    assert err.startswith(f"chatrepl: {where}"), err


def nothing_written(home: Path) -> bool:
    return not any(home.rglob("*"))


# -- the corpus ------------------------------------------------------------------------------

def test_corpus_is_complete() -> None:
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "expected.json"}
    assert on_disk == set(EXPECTED)
    assert len(EXPECTED) >= 25
    for entry in EXPECTED.values():
        assert entry["error"] and (entry["line"] is None or entry["line"] >= 1)


@pytest.mark.parametrize(("name", "entry"), corpus_params())
def test_bad_config(name: str, entry: dict, tmp_path: Path, chatrepl_home: Path) -> None:
    path = place(tmp_path, name)
    before = snapshot(path)
    code, out, err = run_main(["providers"], chatrepl_home, path)
    assert snapshot(path) == before
    assert nothing_written(chatrepl_home)
    check_error_line(code, out, err, path, entry["error"], entry["line"])


@pytest.mark.parametrize("name", ["unclosed_quote.yaml", "typo_base_urll.yaml",
                                  "unset_variable.yaml", "alias_bomb.yaml"])
@pytest.mark.parametrize("argv", [["models", "--json"], ["discover"], ["providers", "--json"],
                                  ["-m", "example/gpt-4o", "hello"]],
                         ids=["models", "discover", "providers-json", "one-shot"])
def test_every_entry_point_reports_the_same_line(name: str, argv: list[str], tmp_path: Path,
                                                 chatrepl_home: Path) -> None:
    entry = EXPECTED[name]
    path = place(tmp_path, name)
    before = snapshot(path)
    code, out, err = run_main(argv, chatrepl_home, path)
    assert snapshot(path) == before
    check_error_line(code, out, err, path, entry["error"], entry["line"])


# -- cases made on the spot ------------------------------------------------------------------

def make_huge(tmp_path: Path) -> tuple[Path, str, int | None]:
    path = tmp_path / "huge.yaml"
    path.write_text("providers: {}\n", encoding="utf-8")
    with path.open("r+b") as handle:  # sparse: a disk image or /dev/zero, not a config file
        handle.truncate(64 * 1024 * 1024 + 1)
    return path, "larger than 64 MiB", None


def make_directory(tmp_path: Path) -> tuple[Path, str, int | None]:
    path = tmp_path / "config.yaml"
    path.mkdir()
    (path / "inside.yaml").write_text("providers: {}\n", encoding="utf-8")
    return path, "is a directory", None


def make_symlink_loop(tmp_path: Path) -> tuple[Path, str, int | None]:
    path = tmp_path / "loop.yaml"
    path.symlink_to(path.name)
    return path, "cannot read", None


def make_dangling_symlink(tmp_path: Path) -> tuple[Path, str, int | None]:
    path = tmp_path / "dangling.yaml"
    path.symlink_to(tmp_path / "gone.yaml")
    return path, "no such file", None


def make_missing(tmp_path: Path) -> tuple[Path, str, int | None]:
    return tmp_path / "nowhere.yaml", "no such file", None


def make_under_a_file(tmp_path: Path) -> tuple[Path, str, int | None]:
    (tmp_path / "plain").write_text("x", encoding="utf-8")
    return tmp_path / "plain" / "config.yaml", "cannot read", None


GENERATED = {
    "huge": make_huge,
    "directory": make_directory,
    "symlink-loop": make_symlink_loop,
    "dangling-symlink": make_dangling_symlink,
    "missing": make_missing,
    "under-a-file": make_under_a_file,
}


@pytest.mark.parametrize("kind", list(GENERATED))
def test_generated_bad_config(kind: str, tmp_path: Path, chatrepl_home: Path) -> None:
    path, fragment, line = GENERATED[kind](tmp_path)
    before = snapshot(path) if path.is_file() else None
    code, out, err = run_main(["providers"], chatrepl_home, path)
    if before is not None:
        assert snapshot(path) == before
    assert nothing_written(chatrepl_home)
    check_error_line(code, out, err, path, fragment, line)


def test_unreadable_file(tmp_path: Path, chatrepl_home: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("providers: {}\n", encoding="utf-8")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running with privileges that ignore file permissions (root)")
        code, out, err = run_main(["providers"], chatrepl_home, path)
    finally:
        path.chmod(0o600)
    check_error_line(code, out, err, path, "permission denied", None)


def test_tmp_path_is_only_read_never_written(tmp_path: Path, chatrepl_home: Path) -> None:
    """Going through every corpus file leaves the folder holding them exactly as it was."""
    for name in EXPECTED:
        place(tmp_path, name)
    before = {p.name: snapshot(p) for p in tmp_path.iterdir() if p.is_file()}
    for name in EXPECTED:
        run_main(["models"], chatrepl_home, tmp_path / name)
    after = {p.name: snapshot(p) for p in tmp_path.iterdir() if p.is_file()}
    assert after == before


# -- what the fixes in yamlsource keep working -----------------------------------------------

def test_merge_keys_load_and_written_keys_win(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text(
        "providers:\n"
        "  one: &shared\n"
        "    base_url: https://api.example.com/v1\n"
        "    valid_models: [m1]\n"
        "  two:\n"
        "    <<: *shared\n"
        "    name: Two\n"
        "    valid_models: [m2]\n", encoding="utf-8")
    config = load_config(path, {}, must_exist=True)
    assert config.providers["two"].base_api_url == "https://api.example.com/v1"
    assert config.providers["two"].valid_models == {"m2": "m2"}
    assert config.providers["two"].name == "Two"
    assert config.providers["one"].valid_models == {"m1": "m1"}


def test_fifo_without_writer_does_not_hang(tmp_path: Path) -> None:
    """A named pipe nobody writes to reads as an empty file (in a subprocess, so a regression
    shows as a timeout instead of a stuck test run)."""
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    home = tmp_path / "home2"
    home.mkdir()
    result = run_subprocess(home, path, timeout=30)
    check_error_line(result.returncode, result.stdout, result.stderr, path, "the file is empty",
                     None)


def test_config_from_a_pipe_with_a_writer(tmp_path: Path) -> None:
    """`--config <(decrypt config.yaml)` style: a pipe is read to its end."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"providers:\n  piped:\n    base_url: https://api.example.com/v1\n")
    os.close(write_end)
    try:
        config = load_config(f"/dev/fd/{read_end}", {}, must_exist=True)
    finally:
        os.close(read_end)
    assert list(config.providers) == ["piped"]


def test_error_names_line_and_never_the_whole_text(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text("discovery:\n  concurrency: " + "7" * 6000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {}, must_exist=True)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: ")
    assert len(message) < 300


# -- the real command ------------------------------------------------------------------------

def run_subprocess(home: Path, config: Path, timeout: float = 60,
                   ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_API_KEY") and not k.startswith(("OPENAI_", "CHATREPL_"))}
    env.update({"CHATREPL_HOME": str(home), "CHATREPL_CONFIG": str(config), "NO_COLOR": "1"})
    return subprocess.run([sys.executable, "-m", "chatrepl", "providers"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


SUBPROCESS_SAMPLE = ["unclosed_quote.yaml", "tab_indentation.yaml", "non_utf8.yaml",
                     "typo_base_urll.yaml", "unset_variable.yaml", "python_object_tag.yaml",
                     "alias_bomb.yaml", "empty.yaml"]


@pytest.mark.parametrize("name", SUBPROCESS_SAMPLE)
def test_bad_config_as_a_real_command(name: str, tmp_path: Path) -> None:
    entry = EXPECTED[name]
    path = place(tmp_path, name)
    home = tmp_path / "home2"
    home.mkdir()
    before = snapshot(path)
    result = run_subprocess(home, path)
    assert snapshot(path) == before
    assert nothing_written(home)
    check_error_line(result.returncode, result.stdout, result.stderr, path, entry["error"],
                     entry["line"])


def test_huge_file_as_a_real_command(tmp_path: Path) -> None:
    path, fragment, line = make_huge(tmp_path)
    home = tmp_path / "home2"
    home.mkdir()
    before = snapshot(path)
    result = run_subprocess(home, path)
    assert snapshot(path) == before
    check_error_line(result.returncode, result.stdout, result.stderr, path, fragment, line)
