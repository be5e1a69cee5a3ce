"""The report driven in headless Chromium (Playwright): the overview, a variant's graph, no console errors.

pose_detection int8 for the i.MX93, with the depth_to_space rewrite (every
operator on the NPU) and without (its DEPTH_TO_SPACE operators stay on the
CPU), and the CPU target.  Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import needs_example
from support import FETCHED, PHOTOS, REPO, doit, ok, write

SHOTS = REPO / "build" / "screenshots"
PAGE_BUDGET = 400 * 1024  # bytes per variant page (pose_detection: 112 operators, two views)

pytestmark = needs_example


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report-browser")
    write(
        root / "project.yaml",
        f"""
        version: 1
        name: pose-report
        datasets:
          signed: {{images: "{PHOTOS}/*.png", preprocess: {{mean: 127.5, scale: 127.5}}}}
        models:
          pose_detection: {{source: "{FETCHED}/pose_detection.tflite", calibration: signed, validation: signed}}
          pose_detection_plain:
            source: "{FETCHED}/pose_detection.tflite"
            calibration: signed
            validation: signed
            rewrites: []
        quantization:
          int8: {{type: int8}}
        targets:
          imx93:
            compiler: vela
            accelerator: ethos-u65-256
            system_config: Ethos_U65_High_End
            memory_mode: Dedicated_Sram
          cpu: {{compiler: none}}
        """,
    )
    ok(doit(root))
    return root / "build" / "report"


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: `make test` installs it (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A 1400 px wide page that records every console error and uncaught exception, and that may load only
    file:// URLs (the report works offline)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    p.problems = []
    p.on(
        "console",
        lambda m: p.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    p.on("pageerror", lambda exc: p.problems.append(f"page error: {exc}"))
    p.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else p.problems.append(f"network: {r.url}"))
    yield p
    context.close()


def test_overview_fits_sorts_filters_and_opens_a_variant(built: Path, page):
    page.goto((built / "index.html").as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400  # no horizontal scroll
    rows = page.locator("#variants tbody tr:visible")
    assert rows.count() == 4
    page.select_option("select[data-filter=target]", "imx93")
    assert rows.count() == 2 and page.inner_text("#shown") == "2 shown"
    page.click("#variants th:has-text('est. ms')")
    first, second = (float(rows.nth(i).locator("td").nth(5).inner_text()) for i in (0, 1))
    assert first <= second
    page.click("#variants th:has-text('est. ms')")  # descending
    assert float(rows.nth(0).locator("td").nth(5).inner_text()) >= first
    assert page.locator("svg.plot a circle").count() == 2  # latency against accuracy: the variants Vela estimated
    assert page.locator("svg.plot text.label").count() == 2  # each point labelled, each model a series in the legend
    assert page.locator("svg.plot > circle").count() == len(
        set(page.locator("#variants tbody tr").evaluate_all("rows => rows.map(r => r.dataset.model)"))
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.select_option("select[data-filter=target]", "")
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)
    page.click("#variants a:has-text('pose_detection/int8@imx93')")
    page.wait_for_load_state()
    assert page.url.endswith("variants/pose_detection_int8@imx93.html")
    assert page.locator("h1").inner_text() == "pose_detection/int8@imx93"
    assert page.problems == []


def graph_counts(page) -> dict[str, int]:
    text = page.locator("h2:has-text('Graph') + p").inner_text()
    found = re.search(
        r"(\d+) operators: (\d+) on the NPU, (\d+) fused by Vela into another, (\d+) on the CPU; "
        r"(\d+) NPU partition\(s\); (\d+) tensor\(s\) copied",
        text,
    )
    assert found, text
    return dict(zip(("ops", "npu", "fused", "cpu", "partitions", "copies"), map(int, found.groups()), strict=True))


def test_graph_with_and_without_the_rewrite(built: Path, page):
    page.goto((built / "variants" / "pose_detection_plain_int8@imx93.html").as_uri())
    plain = graph_counts(page)
    cpu_nodes = page.locator("#graph-full g.node.cpu")
    d2s = page.locator("#graph-full g.node.cpu:has-text('DEPTH_TO_SPACE')")
    assert d2s.count() == 3 and plain["partitions"] > 1 and plain["copies"] > 2
    assert cpu_nodes.count() == plain["cpu"]
    page.screenshot(path=str(SHOTS / "pose_detection_graph_no_rewrite.png"))

    page.goto((built / "variants" / "pose_detection_int8@imx93.html").as_uri())
    rewritten = graph_counts(page)
    assert page.locator("#graph-full g.node:has-text('DEPTH_TO_SPACE')").count() == 0
    assert page.locator("#graph-full g.node:has-text('TRANSPOSE_CONV')").count() == 3
    assert rewritten["partitions"] == 1 and rewritten["cpu"] < plain["cpu"]
    # find a CPU operator by its tensor's name: it is highlighted, centred and explained
    page.fill("#search", "identity_1")
    hit = page.locator("#graph-full g.node.cpu.hit")
    assert hit.count() >= 1
    hit.first.click()
    details = page.inner_text("#details")
    assert "On the CPU:" in details and "What to do:" in details
    # collapse chains: fewer nodes, the other view shown
    full = page.locator("#graph-full g.node").count()
    page.check("#collapse")
    assert page.locator("#graph-collapsed").is_visible() and not page.locator("#graph-full").is_visible()
    assert 0 < page.locator("#graph-collapsed g.node").count() < full
    page.uncheck("#collapse")
    # zoom: the wheel changes the view box
    before = page.get_attribute("#graph-full", "viewBox")
    page.mouse.move(600, 600)
    page.mouse.wheel(0, 300)
    assert page.get_attribute("#graph-full", "viewBox") != before
    page.locator("#fit").click()
    page.screenshot(path=str(SHOTS / "pose_detection_graph.png"))
    assert page.problems == []


def test_cpu_target_page_and_lowered_operators_folded(built: Path, page):
    page.goto((built / "variants" / "pose_detection_int8@cpu.html").as_uri())
    assert "112 operators, all run by cpu without Vela" in page.locator("h2:has-text('Graph') + p").inner_text()
    assert page.locator("table:has-text('SNR dB')").count() >= 1  # accuracy per output
    page.goto((built / "variants" / "pose_detection_int8@imx93.html").as_uri())
    layers = page.locator("h2:has-text('Layers (Vela)') + table tbody tr")
    assert layers.count() < 112  # one row per operator Vela kept, PAD and RESHAPE fused away
    assert page.problems == []


def test_pages_are_static_and_within_budget(built: Path):
    pages = sorted((built / "variants").glob("*.html"))
    assert len(pages) == 4
    for p in pages:
        text = p.read_text()
        assert p.stat().st_size <= PAGE_BUDGET, (p.name, p.stat().st_size)
        assert not re.search(r"(src|href)=['\"]https?://", text)  # nothing fetched at view time
    assert {p.name for p in built.iterdir()} >= {"index.html", "report.md", "report.css", "report.js", "variants"}
