"""Container health check: GET the service's health URL on its own port, exit 0 only on HTTP 2xx.

The slim images carry no curl; this uses the standard library only. Usage (the Dockerfiles'
HEALTHCHECK): ``python /usr/local/lib/driftloop/healthcheck.py /v2/health/live``. The port comes from
DRIFTLOOP_PORT, the variable the service itself listens on.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main(argv: list[str]) -> int:
    path = argv[0] if argv else "/healthz"
    url = f"http://127.0.0.1:{os.environ.get('DRIFTLOOP_PORT', '8080')}{path}"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if 200 <= response.status < 300 else 1
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"healthcheck: {url}: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
