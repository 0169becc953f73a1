"""Network probes the verifiers run on a host with its own python3 (testinfra's run), from
where a client would stand: a TCP connect, and an HTTP(S) GET.

    host.run(CONNECT + "redis1 6379")        -> "open", or the error's name
    host.run(FETCH + "URL CAFILE [user:pw]") -> status line, then the body
"""

from __future__ import annotations

import shlex

# Prints "open", or why not: a SYN the firewall drops times out (TimeoutError), a port
# with nothing behind it is refused (ConnectionRefusedError).
CONNECT = (
    "python3 -c 'import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()\n"
    '    print("open")\n'
    "except OSError as e:\n"
    "    print(type(e).__name__)' "
)

# GET a URL without following redirects, HTTPS verified against a CA file ("-" for
# none), optionally with basic auth; prints the status, then the body (for a redirect,
# its Location), with no newline of its own.
FETCH = (
    "python3 -c 'import base64, ssl, sys, urllib.request, urllib.error\n"
    "class Stay(urllib.request.HTTPRedirectHandler):\n"
    "    def redirect_request(self, *args): return None\n"
    'tls = ssl.create_default_context(cafile=sys.argv[2]) if sys.argv[2] != "-" else None\n'
    "opener = urllib.request.build_opener(Stay, urllib.request.HTTPSHandler(context=tls))\n"
    "req = urllib.request.Request(sys.argv[1])\n"
    "if len(sys.argv) > 3:\n"
    "    token = base64.b64encode(sys.argv[3].encode()).decode()\n"
    '    req.add_header("Authorization", "Basic " + token)\n'
    "try:\n"
    '    r = opener.open(req, timeout=10); print(r.status); print(r.read().decode(), end="")\n'
    "except urllib.error.HTTPError as e:\n"
    '    print(e.code); print(e.headers.get("Location") or "", end="")\' '
)


def connect_command(address: str, port: int) -> str:
    return f"{CONNECT}{shlex.quote(address)} {int(port)}"


def fetch_command(url: str, cafile: str | None = None, credentials: str | None = None) -> str:
    command = f"{FETCH}{shlex.quote(url)} {shlex.quote(cafile or '-')}"
    return command + (f" {shlex.quote(credentials)}" if credentials else "")


def fetched(output: str) -> tuple[int, str]:
    """FETCH's output as (status, body)."""
    status, _, body = output.partition("\n")
    return int(status), body
