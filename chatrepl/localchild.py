"""The local server's child process: its command line, its environment, and its entry point.

chatrepl binds the listening socket itself and the child inherits it (`--fd N`), so the port
is never free for another local user to take between choosing it and serving on it. The
child's API key comes in the environment (`KEY_ENV`), never in argv, which every user can
read in the process list. `python -m chatrepl.localchild` builds llama-cpp-python's FastAPI
app from its own settings and serves it with uvicorn on the inherited socket.

`main` imports nothing else of chatrepl, and llama_cpp only when it runs.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

KEY_ENV = "CHATREPL_LOCAL_API_KEY"

# Settings llama_cpp.server also reads from the environment (pydantic-settings, any case), and
# HOST/PORT, which its own __main__ prefers over --host/--port. The child gets none of them.
_SERVER_ENV_NAMES = frozenset({
    "api_key", "cache", "cache_size", "cache_type", "chat_format", "chat_template_kwargs",
    "clip_model_path", "config_file", "disable_ping_events", "draft_model",
    "draft_model_num_pred_tokens", "embedding", "flash_attn", "hf_model_repo_id",
    "hf_pretrained_model_name_or_path", "hf_tokenizer_config_path", "host", "interrupt_requests",
    "kv_overrides", "last_n_tokens_size", "logits_all", "lora_base", "lora_path", "main_gpu",
    "model", "model_alias", "models", "mul_mat_q", "n_batch", "n_ctx", "n_gpu_layers",
    "n_threads", "n_threads_batch", "n_ubatch", "numa", "offload_kqv", "port", "root_path",
    "rope_freq_base", "rope_freq_scale", "rope_scaling_type", "rpc_servers", "seed",
    "split_mode", "ssl_certfile", "ssl_keyfile", "tensor_split", "type_k", "type_v",
    "use_mlock", "use_mmap", "verbose", "vocab_only", "yarn_attn_factor", "yarn_beta_fast",
    "yarn_beta_slow", "yarn_ext_factor", "yarn_orig_ctx",
})

# Runs in the child before the server: die with the parent (prctl PR_SET_PDEATHSIG where the
# parent started us from its main thread, plus a watcher of the parent pid everywhere), then
# run the server module or script as __main__. Self-contained: imports nothing of chatrepl.
CHILD_BOOTSTRAP = """\
import os, sys, threading
parent, deathsig, args = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3:]
if deathsig and sys.platform.startswith("linux"):
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, 15, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGTERM
    except Exception:
        pass
if os.getppid() != parent:
    os._exit(0)
def _watch():
    pause = threading.Event()
    while not pause.wait(0.25):
        if os.getppid() != parent:
            os._exit(0)
threading.Thread(target=_watch, name="chatrepl-parent-watch", daemon=True).start()
import runpy
if sys.path and sys.path[0] == "":
    del sys.path[0]
if args[0] == "-m":
    sys.argv = [args[1], *args[2:]]
    runpy.run_module(args[1], run_name="__main__", alter_sys=True)
else:
    sys.argv = list(args)
    sys.path.insert(0, os.path.dirname(os.path.abspath(args[0])))
    runpy.run_path(args[0], run_name="__main__")
"""


def default_threads() -> int:
    """Half the CPUs this process may use, at least one."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 2
    return max(1, cpus // 2)


def llama_server_args(gguf: Path, fd: int, *, n_ctx: int, alias: str,
                      n_threads: int | None = None) -> list[str]:
    """Python arguments that serve `gguf` on the inherited listening socket `fd`.

    The prompt is processed with as many threads as generation uses (the server's default is
    every CPU): OpenMP threads that outnumber the free cores spin against each other, and on
    2 busy cores that made the first token 5-13 s late instead of well under 1 s.
    """
    threads = str(n_threads or default_threads())
    return ["-m", "chatrepl.localchild", "--fd", str(fd), "--model", str(gguf),
            "--model_alias", alias, "--n_ctx", str(n_ctx), "--n_threads", threads,
            "--n_threads_batch", threads]


def child_environment(api_key: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: ours) without the variables that would reconfigure the server, plus the
    child's key in KEY_ENV."""
    source = dict(os.environ if env is None else env)
    kept = {k: v for k, v in source.items() if k.lower() not in _SERVER_ENV_NAMES}
    kept[KEY_ENV] = api_key
    return kept


def main(argv: Sequence[str] | None = None) -> None:
    """Serve llama-cpp-python's app on the inherited socket `--fd`, requiring KEY_ENV's key."""
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    parser = argparse.ArgumentParser(prog="python -m chatrepl.localchild")
    parser.add_argument("--fd", type=int, required=True, help="an inherited listening socket")
    add_args_from_model(parser, ModelSettings)
    args = parser.parse_args(argv)
    key = os.environ.pop(KEY_ENV, "")
    if not key:
        sys.exit(f"chatrepl local server: no API key in {KEY_ENV}; refusing to serve without one")
    listener = socket.socket(fileno=args.fd)  # family and type read from the socket itself
    model_settings = parse_model_from_args(ModelSettings, args)
    app = create_app(server_settings=ServerSettings(api_key=key), model_settings=[model_settings])
    uvicorn.Server(uvicorn.Config(app, log_level="info")).run(sockets=[listener])


if __name__ == "__main__":
    main()
