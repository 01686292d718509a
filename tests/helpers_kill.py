"""A child process for tests/test_crash_safety.py: writes chatrepl's state files in a loop.

    python tests/helpers_kill.py MODE STATE_DIR TAG ROUNDS [MODELS]

MODE is `discover` (ModelDiscoveryService against its own loopback server listing MODELS
models, a new list each round), `autosave` (SessionStore.autosave of a conversation that grows
each round) or `both` (one of each per round). Before each round it prints `writing KIND N`,
as the discovered-models file starts being saved `saving discover N`, and after the write
`wrote KIND N` (all flushed), so the parent can kill it at a chosen point. Every version
it writes can be recognised: round N of a discovery lists `TAG-gN-m00000` ...; round N of an
autosave holds N + 1 messages `TAG message K`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))

if TYPE_CHECKING:
    from chatrepl.messages import Message


def model_ids(tag: str, generation: int, count: int) -> list[str]:
    return [f"{tag}-g{generation}-m{index:05d}" for index in range(count)]


def message(tag: str, index: int) -> Message:
    from chatrepl.messages import Message

    role = "user" if index % 2 == 0 else "assistant"
    return Message(role, f"{tag} message {index} " + "lorem ipsum " * 40)


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    mode, state_dir, tag, rounds = argv[0], Path(argv[1]), argv[2], int(argv[3])
    count = int(argv[4]) if len(argv) > 4 else 10_000

    service = server = None
    if mode in ("discover", "both"):
        from fakeserver import FakeOpenAIServer

        from chatrepl.config import DiscoverySettings
        from chatrepl.discoveredstore import DiscoveredStore
        from chatrepl.discovery import ModelDiscoveryService
        from chatrepl.manager import ProviderManager

        class AnnouncingStore(DiscoveredStore):
            """Says when the save starts, so a kill can land inside the write itself."""

            generation = 0

            def save(self, entries):  # type: ignore[no-untyped-def]
                say(f"saving discover {self.generation}")
                super().save(entries)

        server = FakeOpenAIServer().start()
        manager = ProviderManager({"big": {"base_url": server.url}})
        store_file = AnnouncingStore(state_dir / "discovered.yaml")
        service = ModelDiscoveryService(manager, {}, DiscoverySettings(timeout_seconds=60),
                                        store_file)
    chat = store = None
    if mode in ("autosave", "both"):
        from chatrepl.chat import ChatSession
        from chatrepl.config import ChatSettings
        from chatrepl.manager import ProviderManager
        from chatrepl.sessions import SessionStore

        store = SessionStore(state_dir / "sessions", state_dir / "autosave.json")
        chat = ChatSession(ProviderManager({}), {}, ChatSettings(), provider="p", model="m")
    say("ready")
    try:
        for generation in range(rounds):
            if service is not None and server is not None:
                server.behavior.models = model_ids(tag, generation, count)
                store_file.generation = generation
                say(f"writing discover {generation}")
                result = service.discover_models("big", force_refresh=True)
                if not result.ok or len(result.models) != count:
                    say(f"error {result.error}")
                    return 1
                say(f"wrote discover {generation}")
            if chat is not None and store is not None:
                chat.messages = [message(tag, index) for index in range(generation + 1)]
                say(f"writing autosave {generation}")
                store.autosave(chat.to_dict())
                say(f"wrote autosave {generation}")
    finally:
        if server is not None:
            server.stop()
    say("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
