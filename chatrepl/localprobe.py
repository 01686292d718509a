"""Find OpenAI-compatible servers on this machine, and write the text of a starter config.

The probe is a bare TCP connect plus `GET /v1/models` per port, all at once on threads, under
one deadline (150 ms by default), so it costs nothing when nothing listens. It uses raw sockets
rather than the openai SDK: building SDK clients would take longer than the whole budget.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chatrepl.config import ProviderConfig
from chatrepl.presets import PRESETS

LOOPBACK = "127.0.0.1"
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class KnownServer:
    """A kind of local OpenAI-compatible server the probe looks for, at its usual port."""

    id: str
    name: str
    port: int


LOCAL_SERVERS: dict[str, KnownServer] = {
    server.id: server
    for server in (
        KnownServer("ollama", "Ollama (local)", 11434),
        KnownServer("lmstudio", "LM Studio (local)", 1234),
        KnownServer("llamacpp", "llama.cpp (local)", 8080),
        KnownServer("vllm", "vLLM (local)", 8000),
    )
}
DEFAULT_PORTS: dict[str, int] = {server.id: server.port for server in LOCAL_SERVERS.values()}

Connect = Callable[[tuple[str, int], float], socket.socket]


def _connect(address: tuple[str, int], timeout: float) -> socket.socket:
    return socket.create_connection(address, timeout=timeout)


def _model_list(body: bytes) -> list[str] | None:
    """The model ids in an OpenAI-style list (`{"data": [...]}` or a bare array), else None."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # nested 100,000 deep is not a server either
        return None
    entries = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(entries, list):
        return None
    ids = [entry.get("id") for entry in entries if isinstance(entry, dict)]
    return [model_id for model_id in ids if isinstance(model_id, str)]


def _get_models(host: str, port: int, deadline: float, connect: Connect) -> list[str] | None:
    """`GET /v1/models` on host:port before `deadline` (a monotonic time); None on any failure."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    try:
        with connect((host, port), remaining) as sock:
            request = f"GET /v1/models HTTP/1.0\r\nHost: {host}:{port}\r\nAccept: application/json\r\n\r\n"
            sock.sendall(request.encode("ascii"))
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_RESPONSE_BYTES:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                sock.settimeout(remaining)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except OSError:
        return None
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or status_line[1] != b"200":
        return None
    return _model_list(body)


def probe_local_servers(timeout: float = 0.15, ports: Mapping[str, int] | None = None, *,
                        host: str = LOOPBACK, connect: Connect = _connect) -> dict[str, ProviderConfig]:
    """Servers on `host` that answer `GET /v1/models` with a model list, as keyless providers.

    Anyone on this machine may listen on these ports, so the providers are marked `probed`:
    they are never sent a key (see ProviderConfig.key_source).

    `ports` maps a provider id to its port (default: Ollama 11434, LM Studio 1234, llama.cpp
    8080, vLLM 8000). Every port is tried at once; the whole probe returns within `timeout`.
    """
    ports = DEFAULT_PORTS if ports is None else ports
    deadline = time.monotonic() + timeout
    found: dict[str, list[str]] = {}
    lock = threading.Lock()

    def probe(provider_id: str, port: int) -> None:
        try:
            models = _get_models(host, port, deadline, connect)
        except Exception:  # whatever answers, it is "not a server", never a traceback
            return
        if models is not None:
            with lock:
                found[provider_id] = models

    threads = [
        threading.Thread(target=probe, args=(pid, port), name=f"chatrepl-probe-{pid}", daemon=True)
        for pid, port in ports.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        answered = dict(found)
    providers: dict[str, ProviderConfig] = {}
    for provider_id in ports:  # in the order asked, whatever order the threads finished in
        if provider_id in answered:
            known = LOCAL_SERVERS.get(provider_id)
            providers[provider_id] = ProviderConfig(
                id=provider_id,
                name=known.name if known else provider_id,
                base_api_url=f"http://{host}:{ports[provider_id]}/v1",
                catalog_id="lmstudio" if provider_id == "lmstudio" else None,
                probed=True,
            )
    return providers


def _quote(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value)


def _provider_lines(provider_id: str, provider: ProviderConfig, key_line: str | None) -> list[str]:
    lines = [f"  {provider_id}:", f"    name: {_quote(provider.display_name)}",
             f"    base_url: {_quote(provider.base_api_url)}"]
    if key_line:
        lines.append(key_line)
    if provider.catalog_id and provider.catalog_id != provider_id:
        lines.append(f"    catalog_id: {_quote(provider.catalog_id)}")
    if provider.valid_models:
        lines.append("    valid_models:")
        lines.extend(f"      - {_quote(model)}" for model in provider.valid_models)
    return lines


def render_init_config(presets_found: Mapping[str, ProviderConfig],
                       locals_found: Mapping[str, ProviderConfig]) -> str:
    """The commented YAML that `chatrepl init` writes.

    Keys are written as `${VAR}` references to the variable that holds them, never as values.
    """
    lines = [
        "# chatrepl configuration, written by `chatrepl init`. Edit freely: chatrepl never",
        "# rewrites this file. Keys are not stored here: each provider reads its key from the",
        "# environment variable named in `api_key: ${VAR}` (or write `api_key_env: VAR`).",
        "#",
        "# Built-in presets need no entry here: a preset is available whenever its key variable",
        "# is set. An entry with the same name as a preset replaces it, and takes the preset's",
        "# URL and key variable when it gives no base_url (e.g. to list its valid_models).",
        "",
        "# default_model: openai/gpt-4o-mini",
        "# system_prompt: You are a helpful assistant.",
        "",
        "# catalog:            # model facts (context, prices) from models.dev",
        "#   refresh: true     # also fetch the latest data in the background, cached for a day",
        "",
    ]
    entries: list[str] = []
    if presets_found:
        entries.append("  # Services whose key variable is set in your environment:")
        for provider_id, provider in presets_found.items():
            variable = provider.api_key_env or provider.key_variables()[0]
            entries.extend(_provider_lines(provider_id, provider, f'    api_key: "${{{variable}}}"'))
    if locals_found:
        # Commented out: whatever listens on these ports later would otherwise be trusted.
        entries.append("  # Servers found running on this machine. They are used without an entry")
        entries.append("  # while they run; uncomment one to trust that port for good (any local")
        entries.append("  # user could listen on it once the server stops):")
        for provider_id, provider in locals_found.items():
            entries.extend("  # " + line[2:] for line in _provider_lines(provider_id, provider, None))
    if entries:
        lines.append("providers:")
        lines.extend(entries)
    else:
        lines.append("providers: {}")
    lines.append("")
    lines.append("# Any other OpenAI-compatible service:")
    lines.append("#   myservice:")
    lines.append("#     base_url: https://api.example.com/v1")
    lines.append("#     api_key: ${MYSERVICE_API_KEY}")
    missing = [f"{p.id} ({p.key_variable})" for pid, p in PRESETS.items() if pid not in presets_found]
    if missing:
        lines.append("#")
        lines.append("# Built-in presets not in use here (set the variable to enable one):")
        line = "#  "
        for item in missing:
            if len(line) + len(item) + 2 > 96:
                lines.append(line.rstrip(","))
                line = "#  "
            line += f" {item},"
        lines.append(line.rstrip(","))
    return "\n".join(lines) + "\n"
