// mediaforce: live updates for the dashboard, written for it. One Server-Sent Events stream
// fed from the stored job events; a reconnect resumes after the last event id (the browser
// sends Last-Event-ID).
(function () {
  "use strict";
  var running = document.getElementById("running");
  if (!running || !window.EventSource) { return; }
  var after = running.getAttribute("data-last-event") || "0";
  var source = new EventSource("/events?after=" + encodeURIComponent(after));
  function row(job) {
    var tr = document.getElementById("job-" + job);
    if (tr) { return tr; }
    tr = document.createElement("tr");
    tr.id = "job-" + job;
    ["id", "path", "host", "progress", "num fps", "num eta"].forEach(function (c) {
      var td = document.createElement("td");
      td.className = c;
      tr.appendChild(td);
    });
    tr.cells[0].textContent = job;
    var bar = document.createElement("progress");
    tr.cells[3].appendChild(bar);
    var frames = document.createElement("span");
    frames.className = "frames";
    tr.cells[3].appendChild(frames);
    running.tBodies[0].appendChild(tr);
    return tr;
  }
  source.addEventListener("job", function (msg) {
    var e = JSON.parse(msg.data);
    if (e.kind === "frames_done") {
      var d = JSON.parse(e.detail);
      var tr = row(e.job);
      var bar = tr.querySelector("progress");
      if (d.total) { bar.max = d.total; }
      bar.value = d.frames;
      tr.querySelector(".frames").textContent = d.frames + "/" + (d.total || "?");
      tr.querySelector(".fps").textContent = d.fps.toFixed(1);
      tr.querySelector(".eta").textContent = d.eta_seconds == null ? "" : Math.round(d.eta_seconds) + " s";
    } else if (e.kind === "claimed") {
      row(e.job).cells[2].textContent = e.detail.replace(/^by /, "").replace(/,.*$/, "");
    } else if (["completed", "job_failed", "failed", "lease_expired"].indexOf(e.kind) >= 0) {
      var done = document.getElementById("job-" + e.job);
      if (done) { done.parentNode.removeChild(done); }
    }
    if (e.kind !== "frames_done") { recount(); }
  });
  // Queue counts follow the jobs' ends and starts: read again from the API, at most twice a
  // second however many events arrive.
  var pending = null;
  function recount() {
    if (pending) { return; }
    pending = setTimeout(function () {
      pending = null;
      fetch("/api/dashboard", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) {
          if (!d) { return; }
          Object.keys(d.counts).forEach(function (state) {
            var n = document.getElementById("count-" + state);
            if (n) { n.textContent = d.counts[state]; }
          });
        })
        .catch(function () {});
    }, 500);
  }
})();
