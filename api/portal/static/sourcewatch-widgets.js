/* sourcewatch widgets — <sourcewatch-status enterprise-id="1">,
 * <sourcewatch-chart outlet-id="1" pollutant="a21026">, <sourcewatch-exceedances enterprise-id="1">;
 * attribute lang="en" for English (Chinese by default).
 * No third-party network calls: data come from the /v1 API of the origin this script was loaded
 * from, and charts from the uPlot copy it serves (tables when that is absent).
 * Each widget fires a bubbling, composed "sourcewatch:rendered" event ({widget, rows, chart}).
 */
(function () {
  "use strict";
  if (!window.customElements || customElements.get("sourcewatch-status")) return;

  var CONFIG = /*@config*/ null;
  var script = document.currentScript;
  var ORIGIN = new URL(script && script.src ? script.src : location.href).origin;
  var TZ = "Asia/Shanghai";
  var CSS =
    ":host{display:block;font:14px/1.45 system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;color:#1f2328}" +
    ".sw{border:1px solid #d0d7de;border-radius:6px;padding:10px 12px;background:#fff}" +
    "h3{font-size:15px;margin:0 0 6px}h4{font-size:14px;margin:10px 0 4px}" +
    "table{border-collapse:collapse;width:100%;font-size:13px}" +
    "th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eaeef2}" +
    "th{background:#f6f8fa;font-weight:600}" +
    "tr.sw-invalid td{background:#eee;color:#57606a}" +
    "tr.sw-progress td{background:#ddf4ff;color:#57606a}" +
    ".sw-badge{display:inline-block;padding:0 6px;border-radius:9px;font-size:12px;color:#fff}" +
    ".sw-normal{background:#1a7f37}.sw-exceeding,.sw-open{background:#cf222e}" +
    ".sw-offline{background:#6e7781}.sw-fault{background:#9a6700}.sw-closed{background:#57606a}" +
    ".sw-note,.sw-foot{font-size:12px;color:#57606a;margin:6px 0 0}" +
    ".sw-foot a{color:#0969da}.sw-error{color:#cf222e}" +
    "figure{margin:0 0 12px}figcaption{font-weight:600}details{margin-top:4px}";

  function t(lang, key) {
    var entry = CONFIG.labels[key];
    return entry ? entry[lang] : key;
  }

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      node.setAttribute(k, attrs[k]);
    });
    [].concat(children === undefined ? [] : children).forEach(function (c) {
      if (c !== null && c !== undefined) node.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    });
    return node;
  }

  function row(cells, tag, attrs) {
    return h("tr", attrs, cells.map(function (c) {
      return h(tag || "td", {}, c);
    }));
  }

  function getJSON(path) {
    return fetch(ORIGIN + path, { headers: { Accept: "application/json" }, credentials: "omit" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  function nameOf(names, lang) {
    return (names && (names[lang] || names.zh || names.en)) || "";
  }

  function local(instant) {
    return instant ? instant.local.slice(0, 16).replace("T", " ") : "—";
  }

  function num(v, digits) {
    return v === null || v === undefined ? "—" : Number(v).toFixed(digits === undefined ? 1 : digits);
  }

  function positiveInt(text) {
    return /^[1-9][0-9]{0,17}$/.test(text || "") ? text : null;
  }

  var uplotLoading = null;
  function loadUPlot() {
    if (window.uPlot) return Promise.resolve(window.uPlot);
    if (!CONFIG.vendor) return Promise.resolve(null);
    if (!uplotLoading) {
      uplotLoading = new Promise(function (resolve) {
        var s = document.createElement("script");
        s.src = ORIGIN + "/portal/static/vendor/uPlot.iife.min.js";
        s.onload = function () {
          resolve(window.uPlot || null);
        };
        s.onerror = function () {
          resolve(null);
        };
        document.head.appendChild(s);
      });
    }
    return uplotLoading;
  }

  class Widget extends HTMLElement {
    connectedCallback() {
      if (this.shadowRoot) return;
      var root = this.attachShadow({ mode: "open" });
      this.language = this.getAttribute("lang") === "en" ? "en" : "zh";
      root.appendChild(h("style", {}, CSS));
      this.body = h("div", { class: "sw", part: "body" }, h("p", { class: "sw-note" }, t(this.language, "loading")));
      root.appendChild(this.body);
      var self = this;
      Promise.resolve()
        .then(function () {
          return self.load();
        })
        .then(
          function (info) {
            self.finish(info);
          },
          function (err) {
            self.body.textContent = "";
            self.body.appendChild(h("p", { class: "sw-error" }, t(self.language, "error") + " (" + err.message + ")"));
            self.finish({ widget: self.kind, rows: 0, chart: "none", error: err.message });
          }
        );
    }

    begin(title) {
      this.body.textContent = "";
      if (title) this.body.appendChild(h("h3", {}, title));
    }

    finish(info) {
      var lang = this.language;
      this.body.appendChild(
        h("p", { class: "sw-foot" }, [
          h("a", { href: ORIGIN + "/portal/?lang=" + lang, target: "_blank", rel: "noopener" }, CONFIG.attribution[lang]),
          " · ",
          CONFIG.licence[lang] + " ",
          h("a", { href: CONFIG.licence_url, target: "_blank", rel: "noopener license" }, "CC BY 4.0"),
        ])
      );
      this.setAttribute("data-rendered", info.chart || "none");
      this.setAttribute("data-rows", String(info.rows || 0));
      if (info.pollutants) this.setAttribute("data-pollutants", info.pollutants.join(" "));
      this.dispatchEvent(new CustomEvent("sourcewatch:rendered", { bubbles: true, composed: true, detail: info }));
    }

    need(attr) {
      var v = positiveInt(this.getAttribute(attr));
      if (!v) throw new Error(attr + " must be a positive integer");
      return v;
    }
  }

  function outletState(o) {
    var c = o.status.open_cases;
    if (c.exceedance > 0) return "exceeding";
    if (c.outage > 0) return "offline";
    return "normal";
  }

  class Status extends Widget {
    get kind() {
      return "status";
    }
    load() {
      var lang = this.language;
      var self = this;
      return getJSON("/v1/enterprises/" + this.need("enterprise-id")).then(function (e) {
        self.begin(nameOf(e.name, lang));
        var facts = [e.district, e.industry, e.control_level ? t(lang, "level_" + e.control_level) : null].filter(Boolean);
        if (facts.length) self.body.appendChild(h("p", { class: "sw-note" }, facts.join(" · ")));
        var table = h("table", { class: "sw-status" }, row([t(lang, "outlet"), t(lang, "status"), t(lang, "last_data")], "th"));
        e.outlets.forEach(function (o) {
          var state = outletState(o);
          table.appendChild(
            row(
              [
                nameOf(o.name, lang) + (o.code ? " (" + o.code + ")" : "") + " · " + t(lang, "kind_" + o.kind),
                h("span", { class: "sw-badge sw-" + state }, t(lang, "status_" + state)),
                local(o.status.last_data),
              ],
              "td",
              { "data-outlet": o.id }
            )
          );
        });
        if (!e.outlets.length) table.appendChild(row([t(lang, "no_outlets"), "", ""]));
        self.body.appendChild(table);
        return { widget: "status", rows: e.outlets.length, chart: "none" };
      });
    }
  }

  function fetchPages(path, pages) {
    return getJSON(path).then(function (body) {
      if (!body.meta.next || pages <= 1) return body.results;
      var next = new URL(body.meta.next);
      return fetchPages(next.pathname + next.search, pages - 1).then(function (more) {
        return body.results.concat(more);
      });
    });
  }

  // The value judged against the limit: converted to the reference O₂ when the limit has one.
  function judged(p) {
    if (p.exceedance) return p.exceedance.value;
    if (p.limit && p.limit.reference_o2 !== null) return p.converted;
    return p.mean;
  }

  // Grey behind invalid hours; light blue behind the hour in progress (not over yet: neither
  // valid nor invalid, whatever its data so far say).
  var SHADES = { invalid: "rgba(110,119,129,0.25)", progress: "rgba(84,174,255,0.18)" };

  function shadeHours(spans) {
    return {
      hooks: {
        drawAxes: [
          function (u) {
            var ctx = u.ctx;
            var b = u.bbox;
            ctx.save();
            spans.forEach(function (s) {
              var x0 = Math.max(u.valToPos(s[0], "x", true), b.left);
              var x1 = Math.min(u.valToPos(s[1], "x", true), b.left + b.width);
              ctx.fillStyle = SHADES[s[2]];
              if (x1 > x0) ctx.fillRect(x0, b.top, x1 - x0, b.height);
            });
            ctx.restore();
          },
        ],
      },
    };
  }

  // 24-hour local (Asia/Shanghai) tick labels, the date at midnight.
  function hoursAxis(uPlot) {
    var hm = uPlot.fmtDate("{HH}:{mm}");
    var md = uPlot.fmtDate("{MM}-{DD}");
    return function (u, splits) {
      return splits.map(function (ts) {
        var d = uPlot.tzDate(new Date(ts * 1e3), TZ);
        return d.getHours() === 0 && d.getMinutes() === 0 ? md(d) : hm(d);
      });
    };
  }

  class Chart extends Widget {
    get kind() {
      return "chart";
    }
    load() {
      var lang = this.language;
      var self = this;
      var id = this.need("outlet-id");
      var pollutant = this.getAttribute("pollutant");
      if (pollutant && !/^[A-Za-z0-9]{1,20}$/.test(pollutant)) throw new Error("pollutant is not an HJ 212 code");
      var days = Math.min(Math.max(parseInt(this.getAttribute("days") || "7", 10) || 7, 1), 31);
      return getJSON("/v1/outlets/" + id)
        .then(function (outlet) {
          var last = outlet.status.last_data ? Date.parse(outlet.status.last_data.utc) : Date.now();
          var end = Math.floor(last / 3600e3) * 3600e3 + 3600e3;
          var query =
            "/v1/outlets/" + id + "/measurements?resolution=hour&limit=1000" +
            "&start=" + encodeURIComponent(new Date(end - days * 864e5).toISOString()) +
            "&end=" + encodeURIComponent(new Date(end).toISOString()) +
            (pollutant ? "&pollutant=" + encodeURIComponent(pollutant) : "");
          return Promise.all([outlet, fetchPages(query, 5), loadUPlot()]);
        })
        .then(function (got) {
          var outlet = got[0];
          var uPlot = got[2];
          self.begin(nameOf(outlet.name, lang) + (outlet.code ? " (" + outlet.code + ")" : "") + " — " + t(lang, "hourly_charts"));
          var groups = {};
          got[1].forEach(function (p) {
            (groups[p.pollutant.code] = groups[p.pollutant.code] || []).push(p);
          });
          // Pollutants judged against a limit first, then O2, flow and the other parameters.
          var limited = function (code) {
            return groups[code].some(function (p) { return p.limit; }) ? 0 : 1;
          };
          var codes = Object.keys(groups).sort(function (a, b) {
            return limited(a) - limited(b) || (a < b ? -1 : a > b ? 1 : 0);
          });
          if (!codes.length) {
            self.body.appendChild(h("p", { class: "sw-note sw-empty" }, t(lang, "no_data")));
            return { widget: "chart", rows: 0, chart: "empty" };
          }
          var rows = 0;
          codes.forEach(function (code) {
            rows += self.figure(groups[code], uPlot);
          });
          if (uPlot) self.body.appendChild(h("p", { class: "sw-note" }, t(lang, "chart_note")));
          return { widget: "chart", rows: rows, chart: uPlot ? "uplot" : "table", pollutants: codes };
        });
    }

    figure(points, uPlot) {
      var lang = this.language;
      var first = points[0];
      var unit = nameOf(first.pollutant.unit, lang);
      var limits = points.map(function (p) {
        return p.limit ? p.limit.value : null;
      });
      var lastLimit = null;
      points.forEach(function (p) {
        if (p.limit) lastLimit = p.limit;
      });
      var caption = nameOf(first.pollutant.name, lang) + " (" + first.pollutant.code + ", " + unit + ")";
      if (lastLimit) caption += " — " + t(lang, "limit") + " " + lastLimit.value + " " + lastLimit.unit + (lastLimit.standard ? ", " + lastLimit.standard : "");
      var fig = h("figure", { "data-pollutant": first.pollutant.code }, h("figcaption", {}, caption));
      this.body.appendChild(fig);

      // the last column says valid, invalid (why) or in progress: a status, not a yes/no
      var table = h("table", { class: "sw-series" }, row([t(lang, "hour"), t(lang, "value"), t(lang, "limit"), t(lang, "status")], "th"));
      points.forEach(function (p) {
        // an hour not over yet is "in progress", not invalid: its reason ("26 valid minutes of
        // 60") is only where its data stand so far
        var state = p.in_progress ? t(lang, "in_progress") : p.valid ? t(lang, "valid") : t(lang, "invalid") + (p.reason ? ": " + p.reason : "");
        table.appendChild(
          row(
            [local(p.period.start) + "–" + local(p.period.end).slice(11), num(judged(p)), p.limit ? num(p.limit.value) : "—", state],
            "td",
            p.in_progress ? { class: "sw-progress" } : p.valid ? {} : { class: "sw-invalid" }
          )
        );
      });

      if (!uPlot) {
        table.classList.add("sw-fallback");
        fig.appendChild(table);
        return points.length;
      }
      var xs = points.map(function (p) {
        return Date.parse(p.period.end.utc) / 1000;
      });
      var spans = points
        .filter(function (p) {
          return p.in_progress || !p.valid;
        })
        .map(function (p) {
          return [Date.parse(p.period.start.utc) / 1000, Date.parse(p.period.end.utc) / 1000, p.in_progress ? "progress" : "invalid"];
        });
      if (!this.shadowRoot.querySelector("link")) {
        this.shadowRoot.insertBefore(h("link", { rel: "stylesheet", href: ORIGIN + "/portal/static/vendor/uPlot.min.css" }), this.body);
      }
      var box = h("div", { class: "sw-chart" });
      fig.appendChild(box);
      var width = Math.max(Math.min(this.body.clientWidth - 24 || 600, 1200), 280);
      new uPlot(
        {
          width: width,
          height: 220,
          tzDate: function (ts) {
            return uPlot.tzDate(new Date(ts * 1e3), TZ);
          },
          plugins: [shadeHours(spans)],
          scales: { x: { time: true, range: [Math.min.apply(null, xs) - 3600, Math.max.apply(null, xs)] } },
          series: [
            { label: t(lang, "hour"), value: "{YYYY}-{MM}-{DD} {HH}:{mm}" },
            { label: nameOf(first.pollutant.name, lang) + " (" + unit + ")", stroke: "#0969da", width: 2, points: { show: true, size: 5 }, spanGaps: false },
            { label: t(lang, "limit"), stroke: "#cf222e", width: 1.5, dash: [6, 4], points: { show: false } },
          ],
          axes: [{ values: hoursAxis(uPlot) }, { size: 50 }],
        },
        [xs, points.map(judged), limits],
        box
      );
      fig.appendChild(h("details", {}, [h("summary", {}, t(lang, "data_table")), table]));
      return points.length;
    }
  }

  class Exceedances extends Widget {
    get kind() {
      return "exceedances";
    }
    load() {
      var lang = this.language;
      var self = this;
      var query = [];
      var enterprise = this.getAttribute("enterprise-id");
      var outlet = this.getAttribute("outlet-id");
      if (enterprise !== null) query.push("enterprise_id=" + this.need("enterprise-id"));
      if (outlet !== null) query.push("outlet_id=" + this.need("outlet-id"));
      var limit = Math.min(Math.max(parseInt(this.getAttribute("limit") || "10", 10) || 10, 1), 100);
      query.push("limit=" + limit);
      return getJSON("/v1/exceedances?" + query.join("&")).then(function (page) {
        self.begin(t(lang, "exceedances"));
        var head = [t(lang, "opened"), t(lang, "outlet"), t(lang, "pollutant"), t(lang, "multiple"), t(lang, "limit"), t(lang, "state")];
        if (enterprise === null) head.splice(1, 0, t(lang, "enterprises"));
        var table = h("table", { class: "sw-exceedances" }, row(head, "th"));
        page.results.forEach(function (n) {
          var cells = [
            local(n.opened),
            nameOf(n.outlet.name, lang) + (n.outlet.code ? " (" + n.outlet.code + ")" : ""),
            nameOf(n.pollutant.name, lang),
            num(n.max_multiple, 2),
            n.limit.value === null ? "—" : n.limit.value + " " + (n.limit.unit || "") + (n.limit.standard ? " · " + n.limit.standard : ""),
            h("span", { class: "sw-badge sw-" + n.state }, t(lang, "state_" + n.state)),
          ];
          if (enterprise === null) cells.splice(1, 0, nameOf(n.enterprise.name, lang));
          table.appendChild(row(cells, "td", { "data-case": n.id }));
        });
        if (!page.results.length) table.appendChild(h("tr", {}, h("td", { colspan: head.length, class: "sw-empty" }, t(lang, "no_exceedances"))));
        self.body.appendChild(table);
        if (page.results.length) self.body.appendChild(h("p", { class: "sw-note" }, nameOf(page.results[0].quality.notice, lang)));
        return { widget: "exceedances", rows: page.results.length, chart: "none" };
      });
    }
  }

  customElements.define("sourcewatch-status", Status);
  customElements.define("sourcewatch-chart", Chart);
  customElements.define("sourcewatch-exceedances", Exceedances);
})();
