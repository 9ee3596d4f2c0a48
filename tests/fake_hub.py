"""A local stand-in for the Hugging Face hub on 127.0.0.1: the routes ``huggingface_hub`` uses to
list a model repo and fetch its files (``/api/models/<repo>[/revision/<rev>]`` and
``/<repo>/resolve/<rev>/<file>``, HEAD and GET). Point ``HF_ENDPOINT`` at :attr:`FakeHub.url`.
Every request is recorded in :attr:`FakeHub.requests`. ``fail``: ``(repo, file)`` pairs the hub
lists but refuses to serve (HTTP 403 on HEAD and GET: not retried), as a download cut off between
two files."""
from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict

COMMIT = "c0ffee" * 6 + "c0ff"


class FakeHub:
    def __init__(self, repos: Dict[str, Dict[str, bytes]], fail=()):
        self.repos, self.fail = repos, set(fail)
        self.requests = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_HEAD(self):
                self._serve(body=False)

            def do_GET(self):
                self._serve(body=True)

            def _serve(self, body):
                path = self.path.split("?")[0]
                hub.requests.append((self.command, path))
                m = re.match(r"^/api/models/([^/]+/[^/]+)(?:/revision/[^/]+)?$", path)
                if m and m.group(1) in hub.repos:
                    files = hub.repos[m.group(1)]
                    data = json.dumps({"id": m.group(1), "modelId": m.group(1), "sha": COMMIT, "private": False,
                                       "siblings": [{"rfilename": f} for f in files]}).encode()
                    return self._send(200, data, {"Content-Type": "application/json"}, body)
                m = re.match(r"^/([^/]+/[^/]+)/resolve/[^/]+/(.+)$", path)
                if m and (m.group(1), m.group(2)) in hub.fail:
                    return self._send(403, b'{"error": "refused"}', {"Content-Type": "application/json"}, body)
                if m and m.group(1) in hub.repos and m.group(2) in hub.repos[m.group(1)]:
                    data = hub.repos[m.group(1)][m.group(2)]
                    etag = '"' + hashlib.sha256(data).hexdigest() + '"'
                    return self._send(200, data, {"X-Repo-Commit": COMMIT, "ETag": etag,
                                                  "Content-Type": "application/octet-stream"}, body)
                self._send(404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound",
                                                                        "Content-Type": "application/json"}, body)

            def _send(self, code, data, headers, body):
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *a):
        self.server.shutdown()
        self.server.server_close()


def folder_files(path: str) -> Dict[str, bytes]:
    import os
    return {f: open(os.path.join(path, f), "rb").read() for f in sorted(os.listdir(path))
            if os.path.isfile(os.path.join(path, f))}
