"""Records every webhook notification it gets, one JSON document per line, for labs and
tests: usage: webhook_sink.py ADDRESS PORT FILE."""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    path_to_file = ""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            document = json.loads(body)
        except ValueError:
            document = {"unparsed": body.decode(errors="replace")}
        with open(self.path_to_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"received": time.time(), **document}) + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return


if __name__ == "__main__":
    address, port, Sink.path_to_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ThreadingHTTPServer((address, port), Sink).serve_forever()
