"""Faulty servers during discovery: one clear line for each fault mode, the provider's last known
models kept, other /models reply shapes read (the table: faultsetup.py)."""

from __future__ import annotations

import json
import time

import pytest
from faultsetup import (
    DISCOVERY_FAULTS,
    KNOWN,
    Fault,
    Setup,
    check_request_count,
    one_error_line,
    params,
)

from chatrepl.discoveredstore import DiscoveredModels, DiscoveredStore
from chatrepl.discovery import ModelDiscoveryService
from chatrepl.repl import discovery_status, handle_line
from chatrepl.runtime import build_runtime

# -- discovery -------------------------------------------------------------------------------

def first_discovery(setup: Setup, fault: Fault) -> None:
    """Give the target provider last known models: a real discovery, or (for a provider that
    cannot answer) the state a past discovery left."""
    if fault.target == "fake":
        code, out, _ = setup.main("discover", "fake")
        assert code == 0 and out.startswith("fake: 3 models")
    else:
        DiscoveredStore(setup.paths.discovered_file).save({"dead": DiscoveredModels(
            setup.dead_url, tuple(KNOWN), (), time.time() - 3600, "dead")})


def known_models(setup: Setup, provider: str) -> list[str]:
    code, out, _ = setup.main("models", "--json")
    assert code == 0
    return [row["model"] for row in json.loads(out) if row["provider"] == provider]


@pytest.mark.parametrize("fault", params(DISCOVERY_FAULTS))
def test_discover_command_fault(make_setup, fault: Fault) -> None:
    setup = make_setup(fault)
    first_discovery(setup, fault)
    state_file = setup.paths.discovered_file
    saved = state_file.read_bytes()
    assert known_models(setup, fault.target) == KNOWN

    setup.apply(fault)
    requests = setup.model_requests()
    code, out, err = setup.main("discover", fault.target)
    check_request_count(fault, setup.model_requests() - requests)
    assert err == ""
    assert known_models(setup, fault.target) == KNOWN
    assert state_file.read_bytes() == saved
    assert code == 1
    one_error_line(out, f"{fault.target}: failed: ", fault.fragment)


def test_data_null_keeps_the_last_known_models(make_setup) -> None:
    """`{"data": null}` (no models loaded yet) is no error, and it never wipes a known list."""
    fault = Fault("data-null", {"models_fault": "data_null"}, "", 1)
    setup = make_setup(fault)
    first_discovery(setup, fault)
    setup.apply(fault)
    code, out, err = setup.main("discover", fault.target, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)[0]["ok"] is True
    assert known_models(setup, fault.target) == KNOWN


@pytest.mark.parametrize("fault", params(DISCOVERY_FAULTS))
def test_repl_discover_fault(make_setup, fault: Fault) -> None:
    setup = make_setup(fault)
    first_discovery(setup, fault)
    state, _out, err = setup.repl_state()
    assert list(state.runtime.manager[fault.target].valid_models) == KNOWN

    setup.apply(fault)
    requests = setup.model_requests()
    handle_line(state, f"/discover {fault.target}")
    check_request_count(fault, setup.model_requests() - requests)
    assert err.getvalue() == ""
    assert list(state.runtime.manager[fault.target].valid_models) == KNOWN
    status = state.runtime.refresher.status[fault.target]
    assert status.state == "error" and status.error and "\n" not in status.error
    assert fault.fragment in status.error
    assert f"{fault.target} ✗" in discovery_status(state)
    # Still usable: a chat turn to the healthy provider works.
    setup.heal()
    handle_line(state, "hello")
    assert len(state.chat.messages) == 2


def test_discovery_service_result_keeps_last_known(make_setup) -> None:
    setup = make_setup()
    env = setup.env
    runtime = build_runtime(setup.paths, env, synchronous=True)
    service: ModelDiscoveryService = runtime.discovery
    assert service.discover_models("fake", force_refresh=True).ok
    setup.apply(Fault("x", {"models_status": 500, "retry_after": "0.01"}, "", 2))
    result = service.discover_models("fake", force_refresh=True)
    assert not result.ok and result.error and "500" in result.error
    assert list(result.models) == KNOWN
    # A fresh start reads the same last known models from the state file.
    again = build_runtime(setup.paths, env, synchronous=True)
    assert list(again.manager["fake"].valid_models) == KNOWN


@pytest.mark.parametrize(("fault", "expected"), [
    ("bare_array", ["fake-chat", "extra-a", "extra-b"]),
    ("models_key", ["fake-chat", "extra-a", "extra-b"]),
    ("no_object_fields", ["fake-chat", "extra-a", "extra-b"]),
])
def test_other_model_list_shapes_are_read(make_setup, fault: str, expected: list[str]) -> None:
    setup = make_setup()
    setup.server.behavior.models_fault = fault
    code, _out, err = setup.main("discover", "fake")
    assert (code, err) == (0, "")
    assert known_models(setup, "fake") == expected
    assert setup.model_requests() == 1
