/* sourcewatch staff console: the case inbox updates itself from the staff alert stream
   (/v1/staff/alerts/stream, server-sent events, the session cookie authenticates it). Each event
   names a case; its current state is read from /v1/staff/cases/{id} and the row is added,
   updated or removed according to the inbox's filters. No reload, no polling. */
(function () {
  "use strict";
  var table = document.getElementById("cases");
  if (!table || !window.EventSource) return;
  var labels = JSON.parse(document.getElementById("labels").textContent);
  var live = document.getElementById("live");
  var lang = table.dataset.lang;
  var want = {
    kind: table.dataset.kind, severity: table.dataset.severity, district: table.dataset.district,
    state: table.dataset.state, assigned: table.dataset.assigned
  };
  var onFirstPage = table.dataset.live === "true";

  function name(names) { return (lang === "en" && names.en) || names.zh || names.en || ""; }
  function cell(text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  }
  function localTime(instant) {
    // "2026-11-27T17:00:00+08:00" → "2026-11-27 17:00 +08:00", as the server renders it
    var s = String(instant.local);
    return s.slice(0, 10) + " " + s.slice(11, 16) + " +08:00";
  }
  function matches(c) {
    return (!want.kind || c.kind === want.kind) && (!want.severity || c.severity === want.severity) &&
      (!want.district || c.enterprise.district === want.district) &&
      (!want.state || c.state === want.state) && (!want.assigned || c.assigned_to === want.assigned);
  }
  function row(c) {
    var tr = document.createElement("tr");
    tr.dataset.case = String(c.id);
    tr.className = "sev-" + c.severity + " fresh";
    var link = document.createElement("a");
    link.href = "/staff/cases/" + c.id;
    link.textContent = "#" + c.id;
    var first = document.createElement("td");
    first.appendChild(link);
    tr.appendChild(first);
    tr.appendChild(cell(labels["kind_" + c.kind] || c.kind));
    tr.appendChild(cell(labels["severity_" + c.severity] || c.severity));
    tr.appendChild(cell((labels["state_" + c.state] || c.state) +
      (c.acknowledged ? " · " + labels.acknowledged : ""), "state"));
    tr.appendChild(cell(name(c.enterprise.name) + " · " + (c.enterprise.district || "—")));
    tr.appendChild(cell(name(c.outlet.name) + (c.outlet.code ? " (" + c.outlet.code + ")" : "")));
    tr.appendChild(cell(c.pollutant || "—"));
    tr.appendChild(cell(localTime(c.opened)));
    tr.appendChild(cell(c.assigned_to || "—", "assignee"));
    return tr;
  }
  function show(c) {
    var body = table.tBodies[0];
    var old = body.querySelector('tr[data-case="' + c.id + '"]');
    if (!matches(c)) {
      if (old) old.remove();
      return;
    }
    var fresh = row(c);
    if (old) body.replaceChild(fresh, old);
    else if (onFirstPage) body.insertBefore(fresh, body.firstChild);
    var none = document.getElementById("no-cases");
    if (none && body.rows.length) none.remove();
  }
  var stream = new EventSource("/v1/staff/alerts/stream" + (want.kind ? "?kind=" + want.kind : ""));
  stream.onopen = function () { live.textContent = live.dataset.on; live.className = "live on"; };
  stream.onerror = function () { live.textContent = live.dataset.off; live.className = "live off"; };
  stream.addEventListener("case", function (e) {
    var event = JSON.parse(e.data);
    fetch("/v1/staff/cases/" + event.case_id, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) { if (c) show(c); });
  });
})();
