/* sourcewatch staff console: the case inbox updates itself from the staff alert stream
   (/v1/staff/alerts/stream, server-sent events, the session cookie authenticates it). Each event
   names a case; its current state is read from /v1/staff/cases/{id} and the row is added,
   updated or removed according to the inbox's filters. No reload, no polling. */
(function () {
  "use strict";
  means();
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

  /* The case page: where uPlot is bundled, the hourly means against the limit are drawn with it
     (as the portal's charts are: period-ending, Asia/Shanghai axis, invalid hours shaded grey,
     the hour in progress light blue), in place of the server-drawn SVG, which stays for
     browsers without script. */
  function means() {
    var box = document.getElementById("means");
    var source = document.getElementById("means-data");
    if (!box || !source || !window.uPlot) return;
    var data = JSON.parse(source.textContent);
    var labels = JSON.parse(document.getElementById("means-labels").textContent);
    var pts = data.points;
    var xs = pts.map(function (p) { return p.t; });
    // an hour not ended yet is in progress (whatever its validity so far), not invalid
    var shaded = pts.filter(function (p) { return p.in_progress || !p.valid; });
    var shade = {
      hooks: {
        drawClear: [function (u) {
          var ctx = u.ctx;
          ctx.save();
          shaded.forEach(function (p) {
            ctx.fillStyle = p.in_progress ? "rgba(84,174,255,0.18)" : "rgba(208,215,222,0.5)";
            var x0 = u.valToPos(p.t - 3600, "x", true), x1 = u.valToPos(p.t, "x", true);
            ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
          });
          ctx.restore();
        }]
      }
    };
    var unit = labels.unit ? " (" + labels.unit + ")" : "";
    function two(n) { return (n < 10 ? "0" : "") + n; }
    function hours(u, splits) {  // "11-27 09:00", Asia/Shanghai, 24 h
      return splits.map(function (ts) {
        var d = window.uPlot.tzDate(new Date(ts * 1e3), "Asia/Shanghai");
        return two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " + two(d.getHours()) + ":" + two(d.getMinutes());
      });
    }
    var target = document.createElement("div");
    target.id = "means-uplot";
    box.appendChild(target);
    new window.uPlot({
      width: Math.max(Math.min(box.clientWidth || 900, 1100), 300),
      height: 300,
      tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1e3), "Asia/Shanghai"); },
      plugins: [shade],
      scales: { x: { time: true, range: [data.start, data.end] } },
      series: [
        { label: labels.time, value: "{YYYY}-{MM}-{DD} {HH}:{mm} +08:00" },
        { label: labels.measured + unit, stroke: "#0969da", width: 2, points: { show: true, size: 5 }, spanGaps: false },
        { label: labels.converted + unit, stroke: "#8250df", width: 2, points: { show: true, size: 5 }, spanGaps: false },
        { label: labels.limit + unit, stroke: "#cf222e", width: 1.5, dash: [6, 4], points: { show: false } }
      ],
      axes: [{ values: hours, space: 70 }, { size: 60 }]
    }, [xs, pts.map(function (p) { return p.mean; }), pts.map(function (p) { return p.converted; }),
        pts.map(function () { return data.limit; })], target);
    box.querySelector("svg.means").style.display = "none";
    box.dataset.rendered = "uplot";
  }
})();
