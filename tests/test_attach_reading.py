"""Reading attachments: kinds by their first bytes, folders (text only, .gitignore, caps said),
globs, piped stdin, and command output bounded in size and time."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from attachhelpers import PNG, text_pdf

from chatrepl import attachpaths
from chatrepl.attachments import read_file, read_piped, sniff_kind
from chatrepl.attachpaths import MAX_DIR_FILES, load_paths
from chatrepl.attachtray import at_paths, outgoing
from chatrepl.attachwire import wire_content
from chatrepl.commandoutput import run_command
from chatrepl.errors import AttachmentError
from chatrepl.modelinfo import ModelInfo


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_kinds_come_from_the_first_bytes_not_the_name() -> None:
    assert sniff_kind(PNG) == ("image", "image/png")
    assert sniff_kind(b"\xff\xd8\xff\xe0rest") == ("image", "image/jpeg")
    assert sniff_kind(b"GIF89a...") == ("image", "image/gif")
    assert sniff_kind(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == ("image", "image/webp")
    assert sniff_kind(b"%PDF-1.7") == ("pdf", "application/pdf")
    assert sniff_kind(b"plain") == ("text", "text/plain")


def test_a_png_named_txt_is_still_an_image(tmp_path: Path) -> None:
    (tmp_path / "photo.txt").write_bytes(PNG)
    item = read_file(tmp_path / "photo.txt")
    assert (item.kind, item.mime, item.size) == ("image", "image/png", len(PNG))


def test_a_folder_gives_its_text_files_and_says_what_it_skipped(tmp_path: Path) -> None:
    _tree(tmp_path / "proj", {
        "a.py": b"print(1)\n", "sub/b.md": b"# b\n", "blob.bin": b"\x00\x01",
        "pic.png": PNG, ".git/config": b"[core]\n", "node_modules/x.js": b"x\n"})
    loaded = load_paths(["proj"], tmp_path)
    assert sorted(i.name for i in loaded.items) == ["proj/a.py", "proj/sub/b.md"]
    assert loaded.notes == ("proj: skipped 2 binary or unreadable files",)


def test_a_folder_outside_git_honours_its_gitignore(tmp_path: Path) -> None:
    root = _tree(tmp_path / "proj", {
        ".gitignore": b"*.log\nbuild/\n/secret.txt\n", "keep.txt": b"k\n", "run.log": b"l\n",
        "build/out.txt": b"o\n", "secret.txt": b"s\n", "deep/secret.txt": b"d\n"})
    names = sorted(i.name for i in load_paths([str(root)], tmp_path).items)
    assert names == ["proj/.gitignore", "proj/deep/secret.txt", "proj/keep.txt"]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_folder_in_a_git_work_tree_takes_what_git_does_not_ignore(tmp_path: Path) -> None:
    root = _tree(tmp_path / "repo", {".gitignore": b"ignored/\n", "src/main.py": b"x = 1\n",
                                     "ignored/big.txt": b"no\n"})
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=30)
    names = sorted(i.name for i in load_paths(["repo"], tmp_path).items)
    assert names == ["repo/.gitignore", "repo/src/main.py"]


def test_a_folder_with_too_many_files_is_refused_whole_with_the_cap(tmp_path: Path) -> None:
    _tree(tmp_path / "many", {f"f{n}.txt": b"x\n" for n in range(MAX_DIR_FILES + 1)})
    with pytest.raises(AttachmentError, match=rf"many: {MAX_DIR_FILES + 1} files, over the cap of "
                       rf"{MAX_DIR_FILES}"):
        load_paths(["many"], tmp_path)


def test_a_folder_over_the_size_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attachpaths, "MAX_DIR_BYTES", 10)
    _tree(tmp_path / "d", {"a.txt": b"123456\n", "b.txt": b"123456\n"})
    with pytest.raises(AttachmentError, match=r"pass the 10 bytes cap for one directory"):
        load_paths(["d"], tmp_path)


def test_globs_expand_and_one_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    _tree(tmp_path, {"a.py": b"a\n", "b.py": b"b\n", "c.txt": b"c\n"})
    assert [i.name for i in load_paths(["*.py"], tmp_path).items] == ["a.py", "b.py"]
    with pytest.raises(AttachmentError, match=r"\*\.rs: no file matches"):
        load_paths(["*.rs"], tmp_path)


def test_one_bad_path_keeps_none_of_the_others(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("fine\n", encoding="utf-8")
    with pytest.raises(AttachmentError, match=r"gone\.txt: no such file"):
        load_paths(["ok.txt", "gone.txt"], tmp_path)


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: permissions do not stop reading")
    path = tmp_path / "locked.txt"
    path.write_text("x", encoding="utf-8")
    path.chmod(0)
    try:
        with pytest.raises(AttachmentError, match=r"locked\.txt: permission denied"):
            read_file(path)
    finally:
        path.chmod(0o600)


def test_piped_stdin_is_a_text_attachment_and_empty_stdin_none() -> None:
    item = read_piped(io.StringIO("diff --git a b\n"))
    assert item is not None and (item.source, item.kind, item.text) == ("stdin", "text",
                                                                       "diff --git a b\n")
    assert read_piped(io.StringIO("  \n")) is None


def test_at_tokens_that_look_like_paths_are_attached_others_left_as_text(tmp_path: Path) -> None:
    (tmp_path / "readme").write_text("r", encoding="utf-8")
    text = ("see @readme, @./src/x.py and @~/notes; mail @bob or me@host.org; we use @v1.2"
            " and @functools.wraps, @app.route('/')")
    assert at_paths(text, tmp_path) == ["readme", "./src/x.py", "~/notes"]


def test_text_only_content_stays_a_string_and_images_make_parts() -> None:
    text = {"sent_as": "text", "name": "a.txt", "text": "A"}
    image = {"sent_as": "image", "mime": "image/gif", "data": "R0lG"}
    assert wire_content("q", [text]) == "===== a.txt =====\nA\n===== end of a.txt =====\n\nq"
    assert wire_content("q", [image]) == [
        {"type": "text", "text": "q"},
        {"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lG"}}]


def test_command_output_strips_colours_and_keeps_the_text() -> None:
    item = run_command("printf '\\033[31mred\\033[0m plain\\n'")
    assert (item.source, item.kind, item.text) == (
        "!printf '\\033[31mred\\033[0m plain\\n'", "text", "red plain\n")


def test_a_command_writing_too_much_is_stopped_and_nothing_attached() -> None:
    with pytest.raises(AttachmentError, match=r"wrote more than the 1 KB cap; stopped"):
        run_command("yes", limit=1024)


def test_a_command_that_never_ends_is_stopped_at_its_time_limit() -> None:
    with pytest.raises(AttachmentError, match=r"still running after 0\.3 s; stopped"):
        run_command("sleep 60", seconds=0.3)


def test_a_command_with_no_output_or_binary_output_is_refused() -> None:
    with pytest.raises(AttachmentError, match="wrote nothing to attach"):
        run_command("true")
    with pytest.raises(AttachmentError, match="binary"):
        run_command("printf 'a\\000b'")


def test_a_glob_matching_too_many_files_is_refused(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attachpaths, "MAX_WALK_ENTRIES", 3)
    _tree(tmp_path, {f"n{n}.txt": b"x\n" for n in range(5)})
    with pytest.raises(AttachmentError, match=r"\*\.txt: matches over 3 paths; name fewer"):
        load_paths(["*.txt"], tmp_path)


def test_a_pdf_goes_as_its_text_when_the_model_takes_no_pdfs_and_whole_when_it_does() -> None:
    from chatrepl.attachments import Attachment

    pdf = Attachment("p.pdf", "pdf", "p.pdf", 100, "ab", text="page one", data="JVBE",
                     mime="application/pdf")
    (as_text,) = outgoing([pdf], ModelInfo(inputs=("text",)), "m", 0)
    assert (as_text["sent_as"], as_text["text"]) == ("text", "page one") and "data" not in as_text
    (whole,) = outgoing([pdf], ModelInfo(inputs=("text", "pdf")), "m", 0)
    assert (whole["sent_as"], whole["data"]) == ("file", "JVBE") and "text" not in whole
    (unknown,) = outgoing([pdf], None, "m", 0)
    assert unknown["sent_as"] == "text"
    scanned = Attachment("s.pdf", "pdf", "s.pdf", 100, "cd", data="JVBE", mime="application/pdf",
                         text_error="it has no text layer (a scanned PDF?)")
    assert outgoing([scanned], None, "m", 0)[0]["sent_as"] == "file"  # unknown: the provider says
    with pytest.raises(AttachmentError, match="m takes no PDF files and it has no text layer"):
        outgoing([scanned], ModelInfo(inputs=("text",)), "m", 0)


@pytest.mark.skipif(os.geteuid() == 0, reason="root enters any folder")
def test_a_path_under_a_folder_that_cannot_be_entered_is_one_line(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "f.txt").write_text("x", encoding="utf-8")
    closed.chmod(0)
    try:
        with pytest.raises(AttachmentError, match=r"closed/f\.txt: "):
            load_paths(["closed/f.txt"], tmp_path)
    finally:
        closed.chmod(0o700)


def test_an_unknown_home_in_at_tokens_or_paths_is_not_a_crash(tmp_path: Path) -> None:
    assert at_paths("see @~nobody-here-xyz/file.txt", tmp_path) == ["~nobody-here-xyz/file.txt"]
    with pytest.raises(AttachmentError, match=r"~nobody-here-xyz/file\.txt: "):
        load_paths(["~nobody-here-xyz/file.txt"], tmp_path)


def test_attachments_past_what_a_saved_conversation_keeps_are_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from chatrepl import attachtray
    from chatrepl.attachments import Attachment

    monkeypatch.setattr(attachtray, "MAX_CONVERSATION_BYTES", 100)
    item = Attachment("a.txt", "text", "a.txt", 40, "ab", text="x" * 40)
    assert outgoing([item], None, "m", 0, stored=60)[0]["text"] == "x" * 40
    with pytest.raises(AttachmentError, match="the conversation holds 61 bytes of attachments"):
        outgoing([item], None, "m", 0, stored=61)


def test_a_message_without_attachments_is_never_refused_here() -> None:

    # Over the window, but nothing attached: the context guard decides (it may ask).
    assert outgoing([], ModelInfo(context_window=400, inputs=("text",)), "m", 500) == ()


def test_the_text_of_a_real_pdf_is_extracted_and_sent_to_a_model_that_takes_no_pdfs(
        tmp_path: Path) -> None:
    pytest.importorskip("pypdf")  # the `pdf` extra; the test extra installs it
    path = tmp_path / "paper.pdf"
    path.write_bytes(text_pdf("Walruses gather on the ice"))
    pdf = read_file(path)
    assert pdf.kind == "pdf" and pdf.text is not None
    assert "Walruses gather on the ice" in pdf.text
    (part,) = outgoing([pdf], ModelInfo(inputs=("text",)), "m", 0)
    assert "Walruses gather on the ice" in str(part)


def test_what_a_command_leaves_running_in_the_background_is_ended_with_it(
        tmp_path: Path) -> None:
    """`sleep 300 & echo started`: the output is what came before the shell ended; the
    background sleep, which held the output open, is killed with its process group."""
    pid_file = tmp_path / "pid"
    item = run_command(f"sleep 300 & echo $! > {pid_file}; echo started")
    assert item.text == "started\n"
    pid = int(pid_file.read_text(encoding="utf-8"))
    # Dead once the output was read to its end (the sleep held it open): gone, or a zombie
    # waiting for a reaper.
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_ctrl_c_while_the_command_starts_still_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGINT landing right after the process is made, before run_command holds its handle,
    is held until it does: the command is killed and reaped, not left running."""
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def popen_then_ctrl_c(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        process = real_popen(*args, **kwargs)
        started.append(process)
        os.kill(os.getpid(), signal.SIGINT)  # handled at the next bytecode: still in here
        return process

    monkeypatch.setattr(subprocess, "Popen", popen_then_ctrl_c)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_command("exec sleep 60")
        (process,) = started
        assert process.returncode == -signal.SIGKILL  # killed and reaped by run_command
    finally:
        for process in started:
            if process.returncode is None:
                process.kill()
                process.wait(timeout=10)
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()
