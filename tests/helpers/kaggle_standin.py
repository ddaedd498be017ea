"""A stand-in for the parts of Kaggle's HTTP API that `kaggle competitions submit` uses, on loopback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = "/v1/competitions.CompetitionApiService/"  # the production layout (no /api prefix)


class KaggleStandIn:
    """mode: "score" (pending for `pending_polls` listings, then scored), "error", "never", "reject"."""

    def __init__(self, mode: str = "score", pending_polls: int = 1, public="0.873", private=""):
        self.mode, self.pending_polls = mode, pending_polls
        self.public, self.private = public, private
        self.uploads: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, headers)
        self.submissions: list[dict] = []
        self.polls = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())  # a free loopback port
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "KaggleStandIn":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _json(self, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):
                standin.requests.append(("PUT", self.path, dict(self.headers)))
                standin.uploads[self.path.rsplit("/", 1)[-1]] = self._body()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                standin.requests.append(("POST", self.path, dict(self.headers)))
                request = json.loads(self._body() or b"{}")
                method = self.path.removeprefix(SERVICE)
                if method == "StartSubmissionUpload":
                    token = f"blob-{len(standin.uploads) + 1}"
                    return self._json(
                        {"token": token, "createUrl": f"http://127.0.0.1:{standin.port}/upload/{token}"}
                    )
                if method == "CreateSubmission":
                    if standin.mode == "reject":
                        return self._json(
                            {"message": "Your team has used its submission allowance (5 of 5)."}
                        )
                    ref = 1000 + len(standin.submissions)
                    standin.submissions.append(
                        {
                            "ref": ref,
                            "description": request.get("submissionDescription", ""),
                            "token": request.get("blobFileTokens"),
                        }
                    )
                    return self._json({"message": "Successfully submitted", "ref": ref})
                if method == "ListSubmissions":
                    standin.polls += 1
                    listed = []
                    for sub in reversed(standin.submissions):
                        item = {
                            "ref": sub["ref"],
                            "description": sub["description"],
                            "date": "2026-11-29T00:00:00.000Z",
                            "status": "PENDING",
                        }
                        if standin.mode == "error":
                            item.update(status="ERROR", errorDescription="Submission has 9 rows, expected 10")
                        elif standin.mode == "score" and standin.polls > standin.pending_polls:
                            item.update(
                                status="COMPLETE", publicScore=standin.public, privateScore=standin.private
                            )
                        listed.append(item)
                    return self._json({"submissions": listed})
                self.send_response(404)
                self.end_headers()

        return Handler
