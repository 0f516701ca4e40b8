"""The service's web page: choose a scan, follow the job, read the review report.

Plain HTML and a little JavaScript served from the service itself (no CDN, no network).
The script uses only the public job API: ``POST /v1/jobs``, ``GET /v1/jobs/{id}`` and
``GET /v1/jobs/{id}/report``. Opening ``/?job=<id>`` follows an existing job.
"""

from __future__ import annotations

#: Content-Security-Policy of the page: its own script only, nothing from elsewhere.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
    "connect-src 'self'; frame-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'"
)
#: The review report is self-contained: inline CSS and data: images, no script, no fetch.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"

INDEX_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>idreader</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; color: #1d1d1f; }
header, main { padding: 1rem 1.5rem; }
header { background: #24324a; color: #fff; }
header h1 { margin: 0; font-size: 1.3rem; }
form { display: grid; grid-template-columns: max-content 1fr; gap: .6rem 1rem;
       max-width: 40rem; align-items: center; }
form button { grid-column: 2; justify-self: start; padding: .4rem 1.2rem; }
#status { margin: 1rem 0; min-height: 1.5rem; }
#status.failed { color: #a40000; }
progress { width: 20rem; }
iframe { width: 100%; height: 75vh; border: 1px solid #ccc; }
[hidden] { display: none !important; }
</style>
</head>
<body>
<header><h1>idreader: read student numbers from scanned exams</h1></header>
<main>
<form id="scan-form" action="/v1/jobs" method="post" enctype="multipart/form-data">
  <label for="file">Scan (PDF or images)</label>
  <input id="file" name="file" type="file" required multiple
         accept=".pdf,.png,.jpg,.jpeg,.tif,.tiff,.bmp,application/pdf,image/*">
  <label for="classlist">Class list (CSV, optional)</label>
  <input id="classlist" name="classlist" type="file" accept=".csv,text/csv">
  <label for="id_length">Digits per ID</label>
  <input id="id_length" name="id_length" type="number" min="1" max="32" placeholder="auto">
  <button id="submit" type="submit">Read IDs</button>
</form>
<div id="status" role="status" aria-live="polite"></div>
<progress id="progress" max="1" value="0" hidden></progress>
<p id="downloads" hidden><a id="json-link" href="#">Results (JSON)</a></p>
<iframe id="report" title="Review report" sandbox hidden></iframe>
</main>
<script src="/app.js"></script>
</body>
</html>
"""

APP_JS = """"use strict";
(function () {
  const form = document.getElementById("scan-form");
  const status = document.getElementById("status");
  const bar = document.getElementById("progress");
  const report = document.getElementById("report");
  const downloads = document.getElementById("downloads");

  function say(text, failed) {
    status.textContent = text;
    status.className = failed ? "failed" : "";
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      return body.error ? body.error.message + " (" + body.error.code + ")" : response.statusText;
    } catch (e) {
      return response.status + " " + response.statusText;
    }
  }

  async function follow(id) {
    const url = "/v1/jobs/" + encodeURIComponent(id);
    document.body.dataset.job = id;
    bar.hidden = false;
    for (;;) {
      const response = await fetch(url, {cache: "no-store"});
      if (!response.ok) { say("Job " + id + ": " + await errorText(response), true); break; }
      const job = await response.json();
      document.body.dataset.status = job.status;
      bar.max = Math.max(job.progress.total, 1);
      bar.value = job.progress.done;
      if (job.status === "done") {
        const s = job.summary;
        say("Done: " + s.pages + " pages, " + s.read + " IDs read, " + s.flagged +
            " to check, " + s.errors + " unreadable.", false);
        document.getElementById("json-link").href = url;
        downloads.hidden = false;
        report.src = url + "/report";
        report.hidden = false;
        break;
      }
      if (job.status === "failed") { say("Failed: " + job.error.message, true); break; }
      say((job.status === "queued" ? "Queued" : "Reading") + ": page " +
          job.progress.done + " of " + (job.progress.total || "?"), false);
      await new Promise(function (resolve) { setTimeout(resolve, 500); });
    }
    bar.hidden = true;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const button = document.getElementById("submit");
    button.disabled = true;
    report.hidden = true;
    downloads.hidden = true;
    say("Uploading...", false);
    try {
      const response = await fetch("/v1/jobs", {method: "POST", body: new FormData(form)});
      if (response.status !== 202) { say(await errorText(response), true); return; }
      const job = await response.json();
      history.replaceState(null, "", "?job=" + encodeURIComponent(job.id));
      await follow(job.id);
    } catch (e) {
      say("Network error: " + e, true);
    } finally {
      button.disabled = false;
    }
  });

  const existing = new URLSearchParams(location.search).get("job");
  if (existing) { follow(existing); }
})();
"""
