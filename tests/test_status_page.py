"""The status page at ``/`` and the edge pages: exact expectations on the HTML they render.

The page is parsed with ``html.parser`` (no browser needed here; ``test_status_page_browser.py``
loads it in headless Chromium): the faulty edge carries state ``loss`` on the graph and in the edge
table, its alert is listed with the missing ids sample and the p-value, names from the config are
escaped, every table has a caption and scoped headers, every SVG a text alternative, and the page
needs only the read scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import pytest

from monitor.config.auth import AuthPolicy
from monitor.config.model import Config, Edge, Hop, Pipeline, ServerConfig
from monitor.engine import RECENT_BUCKETS, remember
from monitor.ledger.records import Completeness, EdgeResult
from monitor.records import Observation
from monitor.server.app import create_app
from monitor.server.status_page import (
    EdgeState,
    edge_state,
    edge_url,
    render_edge,
    render_status,
    sparkline,
)
from monitor.testing import FakeClock, StaticRuntime, serve_in_thread

T0 = 1_700_000_040.0  # a bucket boundary (60 s buckets)
TOKEN = "read-and-more"
SHOP = Pipeline(
    name="shop",
    description="<b>not bold</b>",
    hops=(Hop("web", "storefront"), Hop("queue", "the <queue>"), Hop("sink", "warehouse")),
    edges=(Edge("web", "queue"), Edge("queue", "sink")),
    allowed_lateness=60.0,
)
CONFIG = Config(server=ServerConfig(auth=AuthPolicy.single_token(TOKEN)), pipelines=(SHOP,))


class Page(HTMLParser):
    """Elements by tag with their attributes, and the text inside each element with an id or a
    ``data-*`` attribute worth asserting on."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        want = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [
            a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in want.items())
        ]

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def lossy_runtime(lost_every: int = 2) -> StaticRuntime:
    """``queue->sink`` loses every ``lost_every``-th event from the fourth bucket on; the
    default divergence watch fires on it. ``web->queue`` stays whole."""
    runtime = StaticRuntime(CONFIG, FakeClock(T0))
    obs = []
    for b in range(6):
        for i in range(100):
            t = T0 + b * 60 + i * 0.5
            eid = f"e{b}-{i}"
            obs.append(Observation("shop", "web", "x", t, t, event_id=eid))
            obs.append(Observation("shop", "queue", "x", t, t + 0.2, event_id=eid))
            if b < 3 or i % lost_every:
                obs.append(Observation("shop", "sink", "x", t, t + 1.5, event_id=eid))
    runtime.engine.observe(obs)
    for k in range(12):
        runtime.clock.set(T0 + 60 * k + 130)
        runtime.engine.tick(runtime.clock.now())
    return runtime


@pytest.fixture(scope="module")
def lossy() -> StaticRuntime:
    return lossy_runtime()


def test_the_faulty_edge_is_marked_loss_and_its_alert_listed(lossy: StaticRuntime) -> None:
    view = lossy.engine.view()
    page = Page(render_status(lossy, view, lossy.clock.now()))

    graph_edges = {a["data-edge"]: a["data-state"] for a in page.find("a") if "data-edge" in a}
    assert graph_edges == {"web->queue": "ok", "queue->sink": "loss"}
    assert page.find("a", data_edge="queue->sink")[0]["class"] == "edge edge-loss"
    assert page.find("a", data_edge="queue->sink")[0]["href"] == "/edges/shop/queue-%3Esink"
    rows = {r["data-edge"]: r["data-state"] for r in page.find("tr", class_="edge-row state-loss")}
    assert rows == {"queue->sink": "loss"}
    [alert] = page.find("tr", data_alert="HopwatchEdgeDataLoss")
    assert alert["data-edge"] == "queue->sink"
    assert alert["data-state"] == "firing"
    text = page.all_text
    assert "1 firing, 0 pending" in text
    assert "missing ids (sample)" in text and "p value" in text
    missing = next(a for a in view.alerts if a.state == "firing").evidence["missing_ids"]
    assert missing[0] in text  # the sample itself, not just its heading


def test_names_and_evidence_are_escaped(lossy: StaticRuntime) -> None:
    html = render_status(lossy, lossy.engine.view(), lossy.clock.now())
    assert "<b>not bold</b>" not in html and "&lt;b&gt;not bold&lt;/b&gt;" in html
    assert "the <queue>" not in html and "the &lt;queue&gt;" in html
    assert "->" not in html.split("<script>")[0].replace("-&gt;", "")  # edge names escaped


def test_tables_are_captioned_with_scoped_headers_and_svgs_have_text(lossy: StaticRuntime) -> None:
    html = render_status(lossy, lossy.engine.view(), lossy.clock.now())
    page = Page(html)
    tables = page.find("table")
    assert len(tables) == len(page.find("caption")) == 4  # alerts, edges, hops, checks
    headers = page.find("th")
    assert headers and all(h.get("scope") in ("col", "row") for h in headers)
    svgs = page.find("svg")
    assert len(svgs) == 1 + 2 + 3  # the graph, a sparkline per edge and per hop
    assert all(s.get("role") in ("img", "group") for s in svgs)
    assert all(s.get("aria-label") or s.get("aria-labelledby") for s in svgs)
    assert page.find("input", id="pause") and page.find("span", role="status")
    assert page.find("main", id="live")[0]["data-tick"] == f"{lossy.engine.view().last_tick:.6f}"


def test_edge_state_order() -> None:
    runtime = StaticRuntime(CONFIG, FakeClock(T0))
    view = runtime.engine.view()
    assert edge_state(view, "shop", "web->queue") == EdgeState.NO_DATA
    clean = lossy_runtime(lost_every=10**9)  # nothing lost
    assert edge_state(clean.engine.view(), "shop", "queue->sink") == EdgeState.OK


def test_sparkline_breaks_at_gaps_and_says_what_it_shows() -> None:
    svg = Page(sparkline([0.0, 0.5, None, 0.25], "loss"))
    assert len(svg.find("polyline")) == 1 and len(svg.find("circle")) == 1  # a lone point
    two = Page(sparkline([0.0, 0.5, None, 0.25, 0.3], "loss"))
    assert len(two.find("polyline")) == 2
    assert two.find("svg")[0]["aria-label"] == "loss"
    assert Page(sparkline([None, None], "nothing")).find("polyline") == []


def test_recent_history_is_bounded_and_amended_in_place() -> None:
    def result(start: float, missing: int) -> EdgeResult:
        return EdgeResult("p", "a->b", "a", "b", start, 60.0, 10, 10 - missing, missing)

    recent: tuple[EdgeResult, ...] = ()
    for k in range(RECENT_BUCKETS + 5):
        recent = remember(recent, result(k * 60.0, 0))
    assert len(recent) == RECENT_BUCKETS and recent[0].bucket_start == 5 * 60.0
    recent = remember(recent, result(10 * 60.0, 3))
    assert len(recent) == RECENT_BUCKETS
    assert [r.missing for r in recent if r.bucket_start == 600.0] == [3]


def test_edge_page_lists_history_newest_first(lossy: StaticRuntime) -> None:
    view = lossy.engine.view()
    history = view.recent_edges[("shop", "queue->sink")]
    page = Page(render_edge(SHOP, SHOP.edges[1], view, history, lossy.clock.now()))
    assert page.find("h2", id="edge")[0]["data-state"] == "loss"
    rows = page.find("tr", class_=str(Completeness.COMPLETE))
    assert len(rows) == len(history) == 6
    assert page.find("svg")[0]["width"] == "720"


@pytest.fixture(scope="module")
def served(lossy: StaticRuntime) -> Iterator[str]:
    with serve_in_thread(create_app(lossy)) as url:
        yield url


def test_served_with_read_scope_only(served: str) -> None:
    """No token at all: reads are open by default, so the page, an edge page and the poll
    answer; an unknown edge is a 404 page, and the name in the URL is not echoed."""
    with httpx.Client(base_url=served, timeout=10) as client:
        index = client.get("/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert 'data-state="loss"' in index.text
        edge = client.get(edge_url("shop", "queue->sink"))
        assert edge.status_code == 200 and "History of queue-&gt;sink" in edge.text
        missing = client.get("/edges/shop/%3Cscript%3E")
        assert missing.status_code == 404 and "<script>alert" not in missing.text
        status = client.get("/api/v1/status").json()
        assert status["firing"] == 1 and status["tick"].endswith(".000000")


def test_an_edge_history_is_also_json_oldest_first(served: str, lossy: StaticRuntime) -> None:
    history = lossy.engine.view().recent_edges[("shop", "queue->sink")]
    with httpx.Client(base_url=served, timeout=10) as client:
        got = client.get("/api/v1/edges/shop/queue-%3Esink").json()
        missing = client.get("/api/v1/edges/shop/nope")
    assert [(b["bucket_start"], b["expected"], b["arrived"], b["completeness"]) for b in got] == [
        (r.bucket_start, r.expected, r.arrived, "complete") for r in history
    ]
    assert missing.status_code == 404
    assert missing.json() == {"error": "no edge 'nope' in pipeline 'shop'"}
