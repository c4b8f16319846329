"""Raw HTTP requests for the dashboard tests (tests/serve/)."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit


def request(url: str, path: str, method: str = "GET", host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """A raw request: ``path`` is sent exactly as given (no client-side normalisation of '..')."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=host is not None)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def get_json(url: str, path: str) -> dict:
    status, _, body = request(url, path)
    assert status == 200, body
    return json.loads(body)
