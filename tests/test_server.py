"""The HTTP service against a real uvicorn server on loopback, real PDFs and the real model.

Two servers run for the module: ``server`` with roomy limits, and ``tight`` (one scan at
a time, no queue, a short time limit, few pages, short job TTL) for the refusals.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import uvicorn

from idreader import Reader, ReaderConfig
from idreader.classifier import ContextClassifier, DigitClassifier, PairClassifier
from idreader.server import ServiceLimits, create_app
from idreader.server_jobs import JobStore
from idreader.server_upload import receive_upload, sanitise_label, sniff_kind
from idreader.synth import write_pdf

IDS = ["31415926", "27182818", "01234567", "16180339"]
UPLOAD_LIMIT = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def pages(scanned_pages) -> list[np.ndarray]:
    return scanned_pages(IDS, seed=11, bank_seed=7)


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory, pages) -> dict[str, Path]:
    """exam.pdf (the 4 IDs), one single-page PDF per ID, and 8- and 12-page PDFs."""
    folder = tmp_path_factory.mktemp("pdfs")
    out = {"exam": folder / "exam.pdf"}
    write_pdf(pages, out["exam"], dpi=200)
    for i, page in enumerate(pages):
        out[f"page{i}"] = folder / f"page{i}.pdf"
        write_pdf([page], out[f"page{i}"], dpi=200)
    for n in (8, 12):
        out[f"pages{n}"] = folder / f"pages{n}.pdf"
        write_pdf([pages[i % len(pages)] for i in range(n)], out[f"pages{n}"], dpi=200)
    return out


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(ReaderConfig(id_length=8))


@pytest.fixture(scope="module")
def expected(reader, pdfs) -> list[dict]:
    """exam.pdf read in this process: what the service must answer, field for field."""
    return _pages(reader.read(pdfs["exam"]).to_dict())


def _pages(out: dict) -> list[dict]:
    """Page results without ``source`` (the service puts the client's name there)."""
    return [{k: v for k, v in r.items() if k != "source"} for r in out["results"]]


def _ids(out: dict) -> list[str | None]:
    return [r["student_id"] for r in out["results"]]


def _assert_no_silent_error(out: dict, truth: list[str]) -> None:
    """The project's first rule, end to end: an unflagged ID is the right ID."""
    for r, sid in zip(out["results"], truth, strict=True):
        assert r["flagged"] or r["student_id"] == sid, r


@pytest.fixture(scope="module")
def classlist_csv() -> bytes:
    rows = [f"{sid},Student {i}" for i, sid in enumerate(IDS)] + ["99999999,Absent Person"]
    return ("id,name\n" + "\n".join(rows) + "\n").encode()


def _serve(app, ready_timeout: float = 120.0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on a free loopback port; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + ready_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture(scope="module")
def uploads(tmp_path_factory) -> Iterator[Path]:
    """The temporary directory the in-process servers put their uploads in."""
    folder = tmp_path_factory.mktemp("server-tmp")
    previous, tempfile.tempdir = tempfile.tempdir, str(folder)
    yield folder
    tempfile.tempdir = previous


@pytest.fixture(scope="module")
def server(uploads) -> Iterator[str]:
    limits = ServiceLimits(
        max_upload_bytes=UPLOAD_LIMIT, max_concurrent_scans=2, max_queued_jobs=2, max_pages=40
    )
    yield from _serve(create_app(ReaderConfig(id_length=8), limits=limits))


@pytest.fixture(scope="module")
def tight(uploads) -> Iterator[str]:
    limits = ServiceLimits(
        max_concurrent_scans=1, max_queued_jobs=0, max_pages=10, timeout_s=0.3, job_ttl_s=1.5
    )
    yield from _serve(create_app(ReaderConfig(id_length=8), limits=limits))


def _leftover_uploads(folder: Path) -> list[Path]:
    return sorted(folder.glob("idreader-upload-*"))


def _post(url: str, path: str, files: list, data: dict | None = None) -> httpx.Response:
    return httpx.post(url + path, files=files, data=data, timeout=120)


def _pdf(pdfs: dict[str, Path], key: str, name: str = "exam.pdf") -> tuple:
    return ("file", (name, pdfs[key].read_bytes(), "application/pdf"))


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]["message"]


def _wait_job(url: str, job_id: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


# --- small parts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n", "pdf"),
        (b"\r\n\r\n%PDF-1.4", "pdf"),
        (b"\x89PNG\r\n\x1a\n\0\0", "png"),
        (b"\xff\xd8\xff\xe0\0\x10JFIF", "jpg"),
        (b"II*\0\x08\0\0\0", "tif"),
        (b"MM\0*\0\0\0\x08", "tif"),
        (b"BM" + bytes(40), "bmp"),
        (b"PK\x03\x04 a zip", None),
        (b"id,name\n1,A\n", None),
        (b"BM", None),
    ],
)
def test_sniff_kind_by_magic_bytes(head: bytes, kind: str | None) -> None:
    assert sniff_kind(head) == kind


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("exam.pdf", "exam.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ta\\scan 1.pdf", "scan 1.pdf"),
        ("evil\r\n<script>.pdf", "evil<script>.pdf"),
        ("..", "upload-1"),
        (None, "upload-1"),
    ],
)
def test_sanitise_label_keeps_only_a_printable_base_name(name, label) -> None:
    assert sanitise_label(name, "upload-1") == label


def test_receive_upload_writes_private_files_under_its_own_names(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="../../x.pdf"\r\nContent-Type: text/plain\r\n\r\n'
        "%PDF-1.4 whatever\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="id_length"\r\n\r\n8\r\n'
        f"--{boundary}--\r\n"
    ).encode()

    async def stream():
        for i in range(0, len(body), 7):  # small chunks: parts span chunk borders
            yield body[i : i + 7]

    upload = asyncio.run(
        receive_upload(
            f"multipart/form-data; boundary={boundary}", None, stream(), max_bytes=10_000
        )
    )
    try:
        assert upload.directory.parent == tmp_path
        assert stat.S_IMODE(upload.directory.stat().st_mode) == 0o700
        (scan,) = upload.files
        assert scan.path == upload.directory / "scan-1.pdf" and scan.kind == "pdf"
        assert scan.label == "x.pdf"
        assert scan.path.read_bytes() == b"%PDF-1.4 whatever"
        assert upload.options == (("id_length", "8"),)
        assert upload.classlist is None
    finally:
        upload.remove()
    assert not upload.directory.exists()


def test_job_store_expires_finished_jobs_after_ttl() -> None:
    now = [0.0]
    store = JobStore(ttl_s=10, clock=lambda: now[0])
    running = store.create()
    done = store.create()
    store.update(done.id, status="done")
    now[0] = 9.0
    assert store.get(done.id) is not None
    now[0] = 10.5
    assert store.get(done.id) is None
    assert store.get(running.id) is not None  # unfinished jobs never expire
    assert len(running.id) >= 22  # 128 random bits, URL-safe


# --- the service over HTTP -----------------------------------------------------------


def test_healthz(server) -> None:
    response = httpx.get(server + "/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_model_reports_the_classifier_info(server) -> None:
    info = DigitClassifier().info
    body = httpx.get(server + "/v1/model").json()
    assert body["version"] == info.version and body["version"]
    assert body["classes"] == list(info.classes) and len(body["classes"]) == 11
    assert body["temperature"] == pytest.approx(info.temperature)
    assert body["metadata"] == dict(info.metadata)
    for key, model in (("pair_model", PairClassifier), ("context_model", ContextClassifier)):
        info = model().info
        assert body[key] == {"version": info.version,
                             "temperature": pytest.approx(info.temperature)}  # fmt: skip


def test_openapi_docs_describe_the_endpoints(server) -> None:
    assert "swagger" in httpx.get(server + "/docs").text.lower()
    spec = httpx.get(server + "/openapi.json").json()
    for path in ("/v1/scan", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/report"):
        assert path in spec["paths"]
    form = spec["paths"]["/v1/scan"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert {"file", "classlist", "id_length", "dpi"} <= set(form["schema"]["properties"])


def test_scan_reads_the_ids(server, pdfs, uploads, expected) -> None:
    response = _post(server, "/v1/scan", [_pdf(pdfs, "exam", "../secret/exam.pdf")])
    assert response.status_code == 200, response.text
    body = response.json()
    # The service adds nothing and loses nothing: field for field the in-process reading.
    assert _pages(body) == expected
    # How often the pipeline reads exactly is tests/test_reader.py's and the accuracy
    # benchmark's business; here: real readings come back, and none is silently wrong.
    _assert_no_silent_error(body, IDS)
    assert sum(sid == truth for sid, truth in zip(_ids(body), IDS, strict=True)) >= 2
    # the client's name, sanitised, is the label; the service's own path never shows
    assert {r["source"] for r in body["results"]} == {"exam.pdf"}
    assert str(uploads) not in response.text
    assert body["summary"]["pages"] == 4 and body["summary"]["errors"] == 0
    assert _leftover_uploads(uploads) == []


def test_scan_with_classlist_matches_students(
    server, pdfs, classlist_csv, reader, tmp_path
) -> None:
    files = [_pdf(pdfs, "exam"), ("classlist", ("list.csv", classlist_csv, "text/csv"))]
    body = _post(server, "/v1/scan", files).json()
    (tmp_path / "list.csv").write_bytes(classlist_csv)
    local = reader.read(pdfs["exam"], classlist=tmp_path / "list.csv").to_dict()
    assert _pages(body) == _pages(local)
    assert body["summary"]["unmatched_students"] == local["summary"]["unmatched_students"]
    names = {sid: f"Student {i}" for i, sid in enumerate(IDS)}
    for r, sid in zip(body["results"], IDS, strict=True):
        # a page matched without a flag is matched to the right student
        assert r["match"] is None or r["match"]["name"] == names.get(r["match"]["id"])
        assert r["flagged"] or (r["match"] and r["match"]["id"] == sid), r
    assert {"id": "99999999", "name": "Absent Person"} in body["summary"]["unmatched_students"]


def test_scan_of_several_files_and_an_image(server, pdfs, pages, reader, tmp_path) -> None:
    ok, png = cv2.imencode(".png", pages[2])
    assert ok
    (tmp_path / "page2.png").write_bytes(png.tobytes())
    files = [
        _pdf(pdfs, "page0", "first.pdf"),
        ("file", ("photo.bin", png.tobytes(), "application/octet-stream")),
    ]
    body = _post(server, "/v1/scan", files).json()
    assert [(r["source"], r["page"]) for r in body["results"]] == [
        ("first.pdf", 1),
        ("photo.bin", 1),
    ]
    local = reader.read([pdfs["page0"], tmp_path / "page2.png"]).to_dict()
    assert _pages(body) == _pages(local)
    _assert_no_silent_error(body, [IDS[0], IDS[2]])


def test_not_a_pdf_is_415_whatever_the_client_claims(server, uploads) -> None:
    files = [("file", ("exam.pdf", b"<html>not a scan</html>", "application/pdf"))]
    message = _error(_post(server, "/v1/scan", files), 415, "unsupported_type")
    assert "exam.pdf" in message
    assert _leftover_uploads(uploads) == []


def test_corrupt_pdf_is_a_result_with_an_error_not_a_failure(server, uploads) -> None:
    files = [("file", ("broken.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 20, "application/pdf"))]
    response = _post(server, "/v1/scan", files)
    assert response.status_code == 200, response.text
    (page,) = response.json()["results"]
    assert page["source"] == "broken.pdf" and page["error"]
    assert page["reasons"] == ["read_error"] and page["flagged"] and page["student_id"] is None
    assert str(uploads) not in page["error"]
    assert _leftover_uploads(uploads) == []


def test_empty_upload_is_422(server, uploads) -> None:
    empty = [("file", ("exam.pdf", b"", "application/pdf"))]
    _error(_post(server, "/v1/scan", empty), 422, "empty_upload")
    only_options = httpx.post(server + "/v1/scan", files=[("id_length", (None, "8"))])
    _error(only_options, 422, "empty_upload")
    assert _leftover_uploads(uploads) == []


def test_not_multipart_is_415(server) -> None:
    response = httpx.post(
        server + "/v1/scan", content=b"%PDF-1.4", headers={"content-type": "application/pdf"}
    )
    _error(response, 415, "unsupported_media_type")


def test_oversized_upload_is_413_by_content_length(server, uploads) -> None:
    big = b"%PDF-1.4\n" + bytes(UPLOAD_LIMIT)
    _error(
        _post(server, "/v1/scan", [("file", ("big.pdf", big, "application/pdf"))]), 413, "too_large"
    )
    assert _leftover_uploads(uploads) == []


def test_oversized_upload_is_413_while_streaming(server, uploads) -> None:
    """A chunked body has no Content-Length: the limit must hold as the bytes arrive."""
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"'
        "\r\n\r\n%PDF-1.4\n"
    ).encode()
    sent = [0]

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(2 * UPLOAD_LIMIT // 65536):
            sent[0] += 65536
            yield bytes(65536)

    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    try:
        response = httpx.post(server + "/v1/scan", content=body(), headers=headers, timeout=60)
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
        pytest.fail(f"the service dropped the connection instead of answering 413: {exc}")
    _error(response, 413, "too_large")
    assert _leftover_uploads(uploads) == []


def test_upload_cut_off_by_the_client_leaves_no_files(server, uploads) -> None:
    """Regression guard: a client that hangs up mid-upload must not leave its part on disk."""
    host, port = server.removeprefix("http://").split(":")
    boundary = "cut"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"'
        "\r\n\r\n%PDF-1.4\n"
    ).encode() + bytes(200_000)
    request = (
        f"POST /v1/scan HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000000\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(request + head)
        deadline = time.monotonic() + 10
        while not _leftover_uploads(uploads):  # the part is being written
            assert time.monotonic() < deadline, "the upload never reached the disk"
            time.sleep(0.02)
    deadline = time.monotonic() + 10
    while _leftover_uploads(uploads):
        assert time.monotonic() < deadline, _leftover_uploads(uploads)
        time.sleep(0.05)


def test_bad_classlist_is_422_naming_the_problem(server, pdfs, uploads) -> None:
    files = [_pdf(pdfs, "page0"), ("classlist", ("list.csv", b"name,email\nA,a@x\n", "text/csv"))]
    message = _error(_post(server, "/v1/scan", files), 422, "bad_classlist")
    assert "id" in message
    assert _leftover_uploads(uploads) == []


@pytest.mark.parametrize(
    ("data", "options"),
    [
        ({"confidence_threshold": "1.0"}, {"id_length": 8, "confidence_threshold": 1.0}),
        ({"id_length": "auto", "dpi": "150"}, {"id_length": None, "dpi": 150}),
        ({"id_length": "", "dpi": ""}, {"id_length": 8}),  # empty fields keep the defaults
    ],
)
def test_form_options_reach_the_reader(server, pdfs, data, options) -> None:
    body = _post(server, "/v1/scan", [_pdf(pdfs, "page3")], data).json()
    local = Reader(ReaderConfig(**options)).read(pdfs["page3"]).to_dict()
    assert _pages(body) == _pages(local)
    if options.get("confidence_threshold") == 1.0:
        assert all("low_confidence" in r["reasons"] for r in body["results"])


@pytest.mark.parametrize(
    ("data", "needle"),
    [({"id_length": "eight"}, "id_length"), ({"dpi": "20"}, "dpi"), ({"dpi": "1000"}, "dpi")],
)
def test_bad_options_are_422(server, pdfs, data, needle) -> None:
    message = _error(_post(server, "/v1/scan", [_pdf(pdfs, "page0")], data), 422, "bad_option")
    assert needle in message


def test_unknown_form_field_is_422(server, pdfs) -> None:
    data = {"model_path": "/etc/passwd"}
    _error(_post(server, "/v1/scan", [_pdf(pdfs, "page0")], data), 422, "unknown_field")


def test_concurrent_scans_all_succeed_with_the_same_results(server, pdfs, expected) -> None:
    files = [_pdf(pdfs, "exam")]
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: _post(server, "/v1/scan", files), range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    for response in responses:
        assert _pages(response.json()) == expected


def test_job_lifecycle_progress_results_and_report(server, pdfs, uploads, expected) -> None:
    files = [_pdf(pdfs, "exam")]
    response = _post(server, "/v1/jobs", files)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert response.headers["location"] == f"/v1/jobs/{job_id}"
    assert response.json()["status"] in ("queued", "running")
    job = _wait_job(server, job_id)
    assert job["status"] == "done", job
    assert job["progress"] == {"done": 4, "total": 4}
    assert _pages(job) == expected
    assert job["summary"]["pages"] == 4
    report = httpx.get(f"{server}/v1/jobs/{job_id}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in report.headers["content-security-policy"]
    for r in job["results"]:
        assert r["student_id"] is None or r["student_id"] in report.text
    assert _leftover_uploads(uploads) == []


def test_unknown_job_is_404(server) -> None:
    _error(httpx.get(server + "/v1/jobs/not-a-job"), 404, "not_found")
    _error(httpx.get(server + "/v1/jobs/not-a-job/report"), 404, "not_found")


def test_busy_service_says_503_then_the_job_times_out_and_expires(tight, pdfs, uploads) -> None:
    """One scan at a time and no queue: a second request is refused, not queued."""
    response = _post(tight, "/v1/jobs", [_pdf(pdfs, "pages8")])
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    refused = _post(tight, "/v1/scan", [_pdf(pdfs, "page0")])
    _error(refused, 503, "busy")
    assert refused.headers["retry-after"] == "5"
    job = _wait_job(tight, job_id)
    # 8 pages cannot be read in 0.3 s: the scan stops between pages
    assert job["status"] == "failed" and job["error"]["code"] == "timeout", job
    assert "results" not in job
    _error(httpx.get(f"{tight}/v1/jobs/{job_id}/report"), 409, "not_ready")
    assert _leftover_uploads(uploads) == []
    time.sleep(1.6)  # the tight server keeps finished jobs for 1.5 s
    _error(httpx.get(f"{tight}/v1/jobs/{job_id}"), 404, "not_found")


def test_sync_scan_over_the_time_limit_is_504(tight, pdfs) -> None:
    _error(_post(tight, "/v1/scan", [_pdf(pdfs, "pages8")]), 504, "timeout")


def test_too_many_pages_is_413(tight, pdfs, uploads) -> None:
    message = _error(_post(tight, "/v1/scan", [_pdf(pdfs, "pages12")]), 413, "too_many_pages")
    assert "12" in message
    assert _leftover_uploads(uploads) == []


def test_serve_runs_the_service_on_loopback(tmp_path) -> None:
    """``idreader serve`` (the CLI's front door to :func:`serve`) answers on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(__file__).parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "idreader", "serve", "--port", str(port)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "idreader serve did not start"
                time.sleep(0.2)
        assert response.json() == {"status": "ok"}
        listening = Path("/proc/net/tcp").read_text()
        assert f"0100007F:{port:04X}" in listening  # bound to 127.0.0.1, not 0.0.0.0
        assert f"00000000:{port:04X}" not in listening
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


# --- the web page in a real browser --------------------------------------------------


def test_page_offers_the_scan_form(server, browser) -> None:
    got = browser.evaluate(
        server + "/",
        """(() => {
          const form = document.getElementById("scan-form");
          return {
            action: new URL(form.action).pathname,
            enctype: form.enctype,
            inputs: [...form.querySelectorAll("input")].map(i => [i.name, i.type]),
            external: [...document.querySelectorAll("script[src], link[href], img[src]")]
              .map(e => e.src || e.href).filter(u => !u.startsWith(location.origin)),
          };
        })()""",
    )
    assert got["action"] == "/v1/jobs" and got["enctype"] == "multipart/form-data"
    assert got["inputs"] == [["file", "file"], ["classlist", "file"], ["id_length", "number"]]
    assert got["external"] == []


def test_page_submits_a_job_shows_progress_then_the_report(server, browser, pdfs, expected) -> None:
    """Drive the form as a person would: choose the PDF, submit, wait for the report."""
    pdf = base64.b64encode(pdfs["exam"].read_bytes()).decode()
    got = browser.evaluate(
        server + "/",
        f"""(async () => {{
          const bytes = Uint8Array.from(atob("{pdf}"), c => c.charCodeAt(0));
          const chosen = new DataTransfer();
          chosen.items.add(new File([bytes], "exam.pdf", {{type: "application/pdf"}}));
          document.getElementById("file").files = chosen.files;
          document.getElementById("id_length").value = "8";
          const seen = new Set();
          document.getElementById("scan-form").requestSubmit();
          for (let i = 0; i < 1200; i++) {{
            seen.add(document.body.dataset.status || "");
            const s = document.body.dataset.status;
            if (s === "done" || s === "failed") break;
            await new Promise(r => setTimeout(r, 100));
          }}
          return {{
            status: document.body.dataset.status,
            text: document.getElementById("status").textContent,
            job: document.body.dataset.job,
            report: document.getElementById("report").getAttribute("src"),
            reportHidden: document.getElementById("report").hidden,
            query: location.search,
          }};
        }})()""",
    )
    assert got["status"] == "done", got
    n_read = sum(r["student_id"] is not None for r in expected)
    assert got["text"].startswith(f"Done: 4 pages, {n_read} IDs read")
    assert got["report"] == f"/v1/jobs/{got['job']}/report" and not got["reportHidden"]
    assert got["query"] == f"?job={got['job']}"
    job = httpx.get(f"{server}/v1/jobs/{got['job']}").json()
    assert _pages(job) == expected


def test_report_renders_under_its_content_security_policy(server, browser, pdfs) -> None:
    """The report's CSP forbids everything but inline CSS and data: images: check both work."""
    job_id = _post(server, "/v1/jobs", [_pdf(pdfs, "page1")]).json()["id"]
    assert _wait_job(server, job_id)["status"] == "done"
    got = browser.evaluate(
        f"{server}/v1/jobs/{job_id}/report",
        """(() => ({
          images: document.images.length,
          decoded: [...document.images].filter(i => i.complete && i.naturalWidth > 0).length,
          styled: [...document.styleSheets].reduce((n, s) => n + s.cssRules.length, 0),
        }))()""",
    )
    assert got["images"] > 0 and got["decoded"] == got["images"], got
    assert got["styled"] > 0, got


# --- in-process use ------------------------------------------------------------------


def test_reader_is_safe_to_share_between_threads(pdfs, reader, expected) -> None:
    """Four threads reading different PDFs through one Reader match sequential reads."""
    inputs = [pdfs[f"page{i}"] for i in range(4)]

    def read(path: Path) -> list[dict]:
        return reader.read(path).to_dict()["results"]

    sequential = [read(p) for p in inputs]
    for _ in range(2):
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(read, inputs)) == sequential
    # and each one-page PDF reads as that page of exam.pdf does
    assert [r[0]["student_id"] for r in sequential] == [r["student_id"] for r in expected]


def test_worker_task_example_returns_the_contract_json(
    pdfs, classlist_csv, tmp_path, reader, monkeypatch
) -> None:
    import runpy

    monkeypatch.setenv("IDREADER_ID_LENGTH", "8")
    task = runpy.run_path(str(Path(__file__).parent.parent / "examples" / "worker_task.py"))
    classlist = tmp_path / "list.csv"
    classlist.write_bytes(classlist_csv)
    out = task["read_scan"](str(pdfs["exam"]), str(classlist))
    local = reader.read(str(pdfs["exam"]), classlist=classlist).to_dict()
    assert out["results"] == local["results"]
    assert out["summary"]["unmatched_students"] == local["summary"]["unmatched_students"]
    assert task["get_reader"]() is task["get_reader"]()  # one Reader per process
    assert task["get_reader"]().config.id_length == 8
    assert json.loads(json.dumps(out)) == out  # plain JSON, as a queue needs


def test_option_sets_share_one_model_session() -> None:
    service = create_app(ReaderConfig(id_length=8)).state.service
    base = service.reader(service.config)
    other = service.reader(ReaderConfig(id_length=None, dpi=300))
    assert other.config.dpi == 300 and other.config.id_length is None
    assert other.classifier is base.classifier
    assert service.reader(service.config) is base
