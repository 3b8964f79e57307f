"""Segment's own browser library, analytics.js (`@segment/analytics-next`, pinned in
tests/e2e/js/package.json), on a dealer's website, pointed at our server with nothing but its
`cdnURL`: it loads its settings from us, and a visitor's page view, configurator clicks and the
identify after they leave their e-mail address end up on one profile, which a salesperson finds.

The website is served from an origin of its own (another port), so the browser enforces CORS
exactly as on a real site. Needs `npm ci --prefix tests/e2e/js` (scripts/test.sh runs it).
"""

from __future__ import annotations

import http.server
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import LiveServer, cdp_command, server_environment

LIBRARY = Path(__file__).parent / "js" / "node_modules" / "@segment" / "analytics-next"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>Nordwind configurator</title></head>
<body>
<h1>Configure your Aurora</h1>
<button id="red">Lava Red</button>
<form id="save"><input id="email" type="email" value="{email}"><button>Save my car</button></form>
<script src="/ajs/index.js"></script>
<script>
  const loading = window.AnalyticsNext.AnalyticsBrowser.load({{
    writeKey: "{write_key}",
    cdnURL: "{cdp}",
  }});
  window.ready = loading.then(([a]) => {{ window.ajs = a; return a.page("Configurator"); }});
  document.getElementById("red").addEventListener("click", () =>
    window.ajs.track("Option Selected", {{category: "colour", code: "RED", label: "Lava Red",
                                          model: "Aurora", price_delta: 850}}));
  document.getElementById("save").addEventListener("submit", (event) => {{
    event.preventDefault();
    const email = document.getElementById("email").value;
    window.saved = window.ajs.identify({{email: email, first_name: "Webbie"}}).then(() =>
      window.ajs.track("Configuration Saved", {{configuration_code: "{code}", model: "Aurora",
                                                colour: "Lava Red", total_price: 41240}}));
  }});
</script>
</body></html>
"""


class _Website(http.server.SimpleHTTPRequestHandler):
    """The dealer's site: one page, and the library's files under /ajs/."""

    page = b""

    def do_GET(self) -> None:
        if self.path == "/":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(self.page)))
            self.end_headers()
            self.wfile.write(self.page)
            return
        super().do_GET()

    def translate_path(self, path: str) -> str:
        name = path.split("?", 1)[0].removeprefix("/ajs/")
        return str(LIBRARY / "dist" / "umd" / Path(name).name)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def website() -> Iterator[tuple[http.server.ThreadingHTTPServer, type[_Website]]]:
    if not (LIBRARY / "dist" / "umd" / "index.js").exists():
        pytest.skip("analytics.js is not installed: npm ci --prefix tests/e2e/js")
    handler = type("Website", (_Website,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()


def _create_source(live_server: LiveServer, origin: str) -> str:
    done = subprocess.run(
        [*cdp_command(), "source", "create", f"Website {uuid.uuid4().hex[:6]}", "--kind", "web",
         "--origin", origin],
        env=server_environment(f"sqlite:///{live_server.database}"),
        cwd=live_server.database.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = re.search(r"write key \(shown once, keep it safe\): (\S+)", done.stdout)
    assert found, done.stdout
    return found.group(1)


def _wait_for(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_analytics_js_sends_to_us_and_the_visitor_becomes_one_profile(
    live_server: LiveServer,
    website: tuple[http.server.ThreadingHTTPServer, type[_Website]],
    new_page: Callable[..., Any],
) -> None:
    server, handler = website
    site = f"http://127.0.0.1:{server.server_address[1]}"
    write_key = _create_source(live_server, site)
    email = f"webbie.{uuid.uuid4().hex[:8]}@example.test"
    code = f"NW-{uuid.uuid4().hex[:6].upper()}"
    handler.page = PAGE.format(
        email=email, write_key=write_key, cdp=live_server.base_url, code=code
    ).encode()

    visitor = new_page()
    requests: list[str] = []
    visitor.on("request", lambda request: requests.append(request.url))
    failures: list[str] = []
    visitor.on("requestfailed", lambda request: failures.append(request.url))
    visitor.on(
        "console",
        lambda message: failures.append(message.text) if message.type == "error" else None,
    )
    visitor.goto(site)
    visitor.evaluate("window.ready")
    visitor.click("#red")
    visitor.click("#save button")
    visitor.wait_for_function("window.saved !== undefined")
    visitor.evaluate("window.saved")

    # Everything went to our server or the website: nothing to Segment, nothing refused.
    assert failures == [], (failures, requests)
    elsewhere = [url for url in requests if not url.startswith((site, live_server.base_url))]
    assert elsewhere == []
    assert f"{live_server.base_url}/v1/projects/{write_key}/settings" in requests
    anonymous_id = visitor.evaluate("window.ajs.user().anonymousId()")

    def stored() -> list[tuple[Any, ...]]:
        return live_server.query(
            "SELECT type, name FROM event WHERE anonymous_id = ? ORDER BY id", (anonymous_id,)
        )

    events = _wait_for(lambda: len(stored()) >= 4 and stored())
    assert [tuple(row) for row in events] == [
        ("page", "Configurator"),
        ("track", "Option Selected"),
        ("identify", None),
        ("track", "Configuration Saved"),
    ]
    owners = live_server.query(
        "SELECT COUNT(DISTINCT COALESCE(p.merged_into_id, p.id)) FROM event e "
        "JOIN profile p ON p.id = e.profile_id WHERE e.anonymous_id = ?",
        (anonymous_id,),
    )
    assert owners[0][0] == 1  # one visitor, one profile

    # The salesperson finds them by the code they saved, and sees the car.
    sales = new_page("sales")
    sales.get_by_role("searchbox").press_sequentially(code.lower(), delay=15)
    sales.locator("#results a.result", has_text="Webbie").first.click()
    sales.wait_for_url("**/showroom/customers/*")
    assert code in sales.inner_text("main")
    assert "Lava Red" in sales.inner_text("main")
