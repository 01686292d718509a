"""run_comparison at the loopback server: several models at once with the same history, one
failing while the others go on, Ctrl-C stopping all, and what a Comparison keeps."""

from __future__ import annotations

import threading

from comparehelpers import CONTENDERS, base_session, chat_bodies_of, started_servers
from interrupts import Interrupter

from chatrepl.compare import CompareEvent, Figures, run_comparison
from chatrepl.messages import Message
from chatrepl.modelinfo import ModelInfo
from chatrepl.reply import Usage


def _no_compare_workers() -> bool:
    return not any(t.name.startswith("chatrepl-compare-") and t.is_alive()
                   for t in threading.enumerate())


def test_every_model_gets_the_same_history_and_answers_in_its_column() -> None:
    with started_servers() as servers:
        servers[0].behavior.chat_delay = 0.3  # the first asked answers last
        servers[2].behavior.chunk_delay = 0.01
        base = base_session(servers)
        base.send("earlier")  # history every model must see
        before = list(base.messages)
        seen: list[CompareEvent] = []
        comparison = run_comparison(base, CONTENDERS, "which?", on_event=seen.append)
    assert [a.text for a in comparison.answers] == ["alpha says hi", "beta says hi", "gamma says hi"]
    assert all(a.error is None and not a.interrupted for a in comparison.answers)
    assert base.messages == before  # nothing changes until a reply is kept
    first = chat_bodies_of(servers[0])[-1]["messages"]
    for server, contender in zip(servers[1:], CONTENDERS[1:], strict=True):
        body = chat_bodies_of(server)[-1]
        assert body["model"] == contender.model
        assert body["messages"] == first  # the same history and question
    assert first[-1] == {"role": "user", "content": "which?"}
    assert [m["content"] for m in first[:2]] == ["earlier", "alpha says hi"]
    # Events arrive tagged with their reply; each reply ends with exactly one `done`.
    assert sorted(e.index for e in seen if e.kind == "done") == [0, 1, 2]
    gamma = "".join(e.text for e in seen if e.index == 2 and e.kind == "content")
    assert gamma == "gamma says hi"


def test_figures_come_from_the_reported_usage_and_the_catalog_price() -> None:
    def info(provider: str, model: str) -> ModelInfo | None:
        return ModelInfo(input_price=1.0, output_price=2.0) if provider == "beta" else None

    with started_servers(2) as servers:
        servers[1].behavior.usage = False  # no usage reported: an estimate, marked
        comparison = run_comparison(base_session(servers), CONTENDERS[:2], "one two three",
                                    info_for=info)
    alpha, beta = comparison.answers
    assert alpha.figures.usage is not None and not alpha.figures.estimated
    assert (alpha.figures.usage.prompt_tokens, alpha.figures.usage.completion_tokens) == (3, 3)
    assert alpha.figures.cost is None  # no price known
    assert alpha.figures.first_token_seconds is not None
    assert alpha.figures.first_token_seconds <= alpha.figures.seconds
    assert beta.figures.estimated and beta.figures.usage is not None
    assert beta.figures.cost is not None and beta.figures.cost > 0
    record = comparison.as_json()[1]
    assert record["model"] == "beta/beta-model" and record["tokens_estimated"] is True
    assert record["cost_usd"] == beta.figures.cost


def test_one_model_failing_shows_its_error_and_the_others_go_on() -> None:
    with started_servers() as servers:
        servers[1].behavior.chat_status = 500
        servers[2].behavior.chat_fault = "error_event"  # fails after some text
        comparison = run_comparison(base_session(servers), CONTENDERS, "go")
    alpha, beta, gamma = comparison.answers
    assert alpha.text == "alpha says hi" and alpha.keepable
    assert beta.error is not None and "500" in beta.error and "\n" not in beta.error
    assert gamma.error is not None and "upstream model crashed" in gamma.error
    assert not beta.keepable and not gamma.keepable
    assert not comparison.all_failed
    assert comparison.branches(1) == []  # the failed replies are no branches


def test_all_failing_is_said() -> None:
    with started_servers(2) as servers:
        for server in servers:
            server.behavior.chat_status = 401
        comparison = run_comparison(base_session(servers), CONTENDERS[:2], "go")
    assert comparison.all_failed
    assert all("401" in (a.error or "") for a in comparison.answers)


def test_a_kept_reply_and_its_sibling_branches() -> None:
    with started_servers() as servers:
        comparison = run_comparison(base_session(servers), CONTENDERS, "pick")
    kept = comparison.kept(2)
    assert list(kept.messages) == [Message("user", "pick"), Message("assistant", "beta says hi")]
    branches = comparison.branches(2)
    assert [(b.model, b.message.content) for b in branches] == [
        ("alpha/alpha-model", "alpha says hi"), ("gamma/gamma-model", "gamma says hi")]
    for number in (0, 4):
        try:
            comparison.kept(number)
        except ValueError as exc:
            assert "choose 1 to 3" in str(exc)
        else:
            raise AssertionError(f"reply {number} was kept")


def test_ctrl_c_stops_every_reply_and_keeps_what_arrived() -> None:
    """A real SIGINT to the main thread while three endless replies stream."""
    with started_servers() as servers:
        for server in servers:
            server.behavior.chat_fault = "never_end"
        base = base_session(servers)
        with Interrupter(start_after=6) as interrupter:
            def on_event(event: CompareEvent) -> None:
                if event.kind == "content" and not interrupter.raised:
                    interrupter.progress()

            comparison = run_comparison(base, CONTENDERS, "forever", on_event=on_event,
                                        join_seconds=30)
        assert interrupter.raised >= 1
        assert comparison.interrupted
        assert all(a.interrupted and a.error is None for a in comparison.answers)
        started = [a for a in comparison.answers if a.text]
        assert started  # the interrupt came after six pieces of text
        for answer in started:
            assert answer.reply == Message("assistant", answer.text, interrupted=True)
        assert _no_compare_workers()  # every worker stopped within the wait
        assert base.messages == []
        for server in servers:  # the next turn works
            server.behavior.chat_fault = None
        assert base.send("again").text == "alpha says hi"


def test_a_reply_that_came_in_one_burst_has_no_rate() -> None:
    assert Figures(0.01, 0.012, Usage(5, 100)).tokens_per_second is None
    assert Figures(0.1, 1.1, Usage(5, 100)).tokens_per_second == 100
