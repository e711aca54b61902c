"""The built site in a real browser: every page opens cleanly, links resolve, images load."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urlsplit

import pytest

# Generous for a loaded 2-core machine; a healthy page loads in well under a second.
TIMEOUT_MS = 30_000


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.ids.add(value)


def _ids(path: Path) -> set[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.ids


def _page_url(site: Path, base_url: str, path: Path) -> str:
    relative = path.relative_to(site).as_posix()
    return base_url + (relative.removesuffix("index.html"))


class _Crawl:
    """What the pages showed: problems, and counts of what was checked."""

    def __init__(self, site: Path, base_url: str) -> None:
        self.site, self.base_url = site, base_url
        self.problems: list[str] = []
        self.pages = self.links = self.anchors = self.images = self.external = 0
        self._ids: dict[Path, set[str]] = {}

    def target(self, url: str) -> Path | None:
        """The file a same-site URL serves, or None."""
        path = unquote(urlsplit(url).path)
        prefix = urlsplit(self.base_url).path
        if not path.startswith(prefix):
            return None
        file = self.site / path.removeprefix(prefix)
        if path.endswith("/"):
            file = file / "index.html"
        return file if file.is_file() else None

    def check_link(self, page: str, href: str) -> None:
        if urlsplit(href).netloc != urlsplit(self.base_url).netloc:
            self.external += href.startswith(("http://", "https://"))
            return
        self.links += 1
        url, fragment = urldefrag(href)
        file = self.target(url)
        if file is None:
            self.problems.append(f"{page}: broken link {href}")
            return
        if fragment:
            self.anchors += 1
            if file not in self._ids:
                self._ids[file] = _ids(file)
            if unquote(fragment) not in self._ids[file]:
                self.problems.append(f"{page}: no anchor #{fragment} in {url}")


def _crawl(site: Path, base_url: str, browser: Any) -> _Crawl:
    crawl = _Crawl(site, base_url)
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    current = [""]
    page.on(
        "console",
        lambda m: m.type == "error" and crawl.problems.append(f"{current[0]}: console: {m.text}"),
    )
    page.on("pageerror", lambda e: crawl.problems.append(f"{current[0]}: script error: {e}"))
    page.on(
        "requestfailed",
        lambda r: crawl.problems.append(f"{current[0]}: failed request {r.url} ({r.failure})"),
    )
    page.on(
        "response",
        lambda r: r.status >= 400 and crawl.problems.append(f"{current[0]}: {r.status} {r.url}"),
    )
    for path in sorted(site.rglob("*.html")):
        url = _page_url(site, base_url, path)
        current[0] = url.removeprefix(base_url) or "/"
        # networkidle: the page's scripts, the search worker and its index have loaded too.
        response = page.goto(url, wait_until="networkidle")
        if response is None or not response.ok:
            crawl.problems.append(f"{current[0]}: not served")
            continue
        crawl.pages += 1
        page.wait_for_function("Array.from(document.images).every(i => i.complete)")
        for src, width in page.eval_on_selector_all(
            "img", "images => images.map(i => [i.currentSrc || i.src, i.naturalWidth])"
        ):
            crawl.images += 1
            if width <= 0:
                crawl.problems.append(f"{current[0]}: image {src} did not load")
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            crawl.check_link(current[0], href)
    context.close()
    return crawl


def test_every_page_opens_cleanly(
    site: Path, base_url: str, browser: Any, capsys: pytest.CaptureFixture
) -> None:
    sources = list((Path(__file__).resolve().parents[2] / "docs").rglob("*.md"))
    crawl = _crawl(site, base_url, browser)
    assert crawl.problems == []
    assert crawl.pages == len(sources) + 1  # every Markdown page, and the 404 page
    assert crawl.links > 0 and crawl.anchors > 0 and crawl.images > 0
    with capsys.disabled():
        print(
            f"\ndocs in Chromium: {crawl.pages} pages opened, no console errors; "
            f"{crawl.links} internal links ({crawl.anchors} with anchors) resolved; "
            f"{crawl.images} images loaded; {crawl.external} external links not followed"
        )


def test_search_finds_adamw(base_url: str, browser: Any) -> None:
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(base_url, wait_until="networkidle")  # the search index has loaded
    search = page.locator("input.md-search__input")
    search.click()
    search.press_sequentially("AdamW")
    results = page.locator(".md-search-result__item > a")
    results.first.wait_for()
    found = results.evaluate_all("links => links.map(a => [a.href, a.innerText])")
    page.close()
    top = {href.removeprefix(base_url).partition("?")[0]: text for href, text in found[:5]}
    assert "reference/adamw/" in top, found
    assert "AdamW" in top["reference/adamw/"]


def test_schedules_page_shows_every_schedule_plot(base_url: str, browser: Any) -> None:
    from stepsize import schedules

    page = browser.new_page()
    page.goto(base_url + "reference/schedules/", wait_until="load")
    shown = page.eval_on_selector_all(
        "img", "images => images.map(i => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight])"
    )
    page.close()
    plots = {Path(src).stem: (w, h) for src, w, h in shown if "plots/" in src}
    assert sorted(plots) == sorted(schedules.names())
    assert all(w >= 400 and h >= 200 for w, h in plots.values()), plots
