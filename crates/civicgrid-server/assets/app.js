// CivicGrid pages: maps, sortable and paged tables, bar charts, the locate
// form and showing a resident's data in full, layered on server-rendered HTML
// (the live call pages add calls.js on top of this). Every human text comes from the
// message catalogue the page embeds (#messages); none is written here.
(function () {
  "use strict";

  var messages = {};
  try {
    messages = JSON.parse(document.getElementById("messages").textContent);
  } catch (e) {
    messages = {};
  }

  function T(key, args) {
    var s = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
    if (args) {
      Object.keys(args).forEach(function (k) {
        s = s.split("{" + k + "}").join(String(args[k]));
      });
    }
    return s;
  }

  var lang = document.documentElement.lang || "zh-CN";

  // Every unsafe request carries the session's CSRF token (the server refuses
  // cookie-borne writes without it); GETs go out unchanged.
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : "";
  if (window.fetch && csrfToken) {
    var plainFetch = window.fetch.bind(window);
    window.fetch = function (input, init) {
      init = init || {};
      var method = String(init.method || (input && input.method) || "GET").toUpperCase();
      if (method !== "GET" && method !== "HEAD") {
        var headers = new Headers(init.headers || (input && input.headers) || {});
        if (!headers.has("x-csrf-token")) headers.set("x-csrf-token", csrfToken);
        init.headers = headers;
      }
      return plainFetch(input, init);
    };
  }
  var numberFormat = new Intl.NumberFormat(lang);

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- Tables: click a header to sort; long tables get a pager. ----

  function cellValue(row, index, type) {
    var cell = row.cells[index];
    if (!cell) return type === "num" ? 0 : "";
    var raw = cell.hasAttribute("data-sort-value") ? cell.getAttribute("data-sort-value") : cell.textContent.trim();
    return type === "num" ? Number(raw) || 0 : raw;
  }

  function setUpTable(table) {
    var body = table.tBodies[0];
    if (!body) return;
    var rows = Array.prototype.filter.call(body.rows, function (r) { return !r.classList.contains("empty"); });
    var pageSize = Number(table.getAttribute("data-page-size")) || 0;
    var page = 0;
    var pager = null;
    var collator = new Intl.Collator(lang, { numeric: true });

    function show() {
      var pages = pageSize ? Math.max(1, Math.ceil(rows.length / pageSize)) : 1;
      if (page >= pages) page = pages - 1;
      rows.forEach(function (r, i) {
        r.hidden = pageSize ? Math.floor(i / pageSize) !== page : false;
      });
      if (pager) {
        pager.info.textContent = T("table.page", { page: page + 1, pages: pages, total: numberFormat.format(rows.length) });
        pager.prev.disabled = page === 0;
        pager.next.disabled = page >= pages - 1;
      }
    }

    if (pageSize && rows.length > pageSize) {
      var bar = el("div", { "class": "pager" });
      var prev = el("button", { type: "button", "data-page": "prev" }, T("table.prev"));
      var info = el("span", { "class": "pager-info" });
      var next = el("button", { type: "button", "data-page": "next" }, T("table.next"));
      prev.addEventListener("click", function () { page -= 1; show(); });
      next.addEventListener("click", function () { page += 1; show(); });
      bar.append(prev, info, next);
      var wrap = table.closest(".table-wrap") || table;
      wrap.after(bar);
      pager = { prev: prev, next: next, info: info };
    }

    if (table.hasAttribute("data-sortable")) {
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
        th.tabIndex = 0;
        function sort() {
          var type = th.getAttribute("data-type") || "text";
          var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
          // Numbers read best largest first on the first click.
          if (!th.hasAttribute("aria-sort") && type === "num") dir = -1;
          Array.prototype.forEach.call(th.parentNode.cells, function (c) { c.removeAttribute("aria-sort"); });
          th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
          rows.sort(function (a, b) {
            var x = cellValue(a, index, type);
            var y = cellValue(b, index, type);
            return dir * (type === "num" ? x - y : collator.compare(x, y));
          });
          rows.forEach(function (r) { body.appendChild(r); });
          page = 0;
          show();
        }
        th.addEventListener("click", sort);
        th.addEventListener("keydown", function (e) {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
        });
      });
    }
    show();
  }

  // ---- Horizontal bar charts in SVG, one bar per series and row. ----

  function drawChart(node) {
    var spec;
    try { spec = JSON.parse(node.getAttribute("data-chart")); } catch (e) { return; }
    var series = spec.series || [];
    var rows = spec.rows || [];
    var maxima = series.map(function (_, s) {
      return Math.max.apply(null, rows.map(function (r) { return Number(r.values[s]) || 0; }).concat([1]));
    });
    if (series.length > 1) {
      var legend = el("div", { "class": "chart-legend" });
      series.forEach(function (key, s) { legend.appendChild(el("span", { "class": "l" + s }, T(key))); });
      node.appendChild(legend);
    }
    var labels = rows.map(function (row) {
      return row.label !== undefined && row.label !== null ? String(row.label) : T(row.label_key);
    });
    // Room for the longest label: Han characters are about twice as wide as Latin ones.
    var longest = Math.max.apply(null, labels.map(function (l) {
      return l.split("").reduce(function (w, c) { return w + (c.charCodeAt(0) > 0x2e80 ? 12 : 6.6); }, 0);
    }).concat([40]));
    var width = 420, valueWidth = 44, bar = 9, gap = 2, rowGap = 7;
    var labelWidth = Math.min(200, Math.ceil(longest) + 12);
    var rowHeight = series.length * (bar + gap) + rowGap;
    var height = rows.length * rowHeight + 4;
    var plot = width - labelWidth - valueWidth;
    var chart = svg("svg", { viewBox: "0 0 " + width + " " + height, "data-rows": rows.length });
    rows.forEach(function (row, i) {
      var y = i * rowHeight + 2;
      var label = labels[i];
      var text = svg("text", { x: labelWidth - 8, y: y + (series.length * (bar + gap)) / 2 + 4, "text-anchor": "end" }, label);
      if (row.href) {
        var link = svg("a", { href: row.href });
        link.appendChild(text);
        chart.appendChild(link);
      } else {
        chart.appendChild(text);
      }
      series.forEach(function (key, s) {
        var v = Number(row.values[s]) || 0;
        var w = Math.max(v > 0 ? 1 : 0, (v / maxima[s]) * plot);
        var by = y + s * (bar + gap);
        var rect = svg("rect", { x: labelWidth, y: by, width: w.toFixed(1), height: bar, rx: 2, "class": "s" + s });
        rect.appendChild(svg("title", {}, label + " · " + T(key) + ": " + numberFormat.format(v)));
        chart.appendChild(rect);
        chart.appendChild(svg("text", { x: labelWidth + w + 4, y: by + bar - 1, "class": "value" }, numberFormat.format(v)));
      });
    });
    node.appendChild(chart);
  }

  // ---- Maps: our own boundaries on a plain background (tiles only if configured). ----

  var STYLES = {
    community: { color: "#1f6feb", weight: 2, fillColor: "#1f6feb", fillOpacity: 0.08 },
    grid: { color: "#6e7b8b", weight: 0.6, fillColor: "#ffffff", fillOpacity: 0.35 },
    outline: { color: "#0f1b2d", weight: 2.5, fillColor: "#1f6feb", fillOpacity: 0.06, dashArray: "6 4" },
  };
  var MARKER_COLOURS = { compound: "#1f6feb", facility: "#1a7f37", camera: "#8250df", "case": "#bc4c00", overdue: "#cf222e" };
  var TIMELINESS_COLOURS = { overdue: "#cf222e", due_soon: "#b7791f", on_time: "#1a7f37", no_deadline: "#8c959f" };
  var PARTY_RED = "#c8102e";
  function minutesColour(m) {
    if (m === null || m === undefined) return "#cf222e";
    return m <= 5 ? "#116329" : m <= 10 ? "#4ac26b" : m <= 15 ? "#d4a72c" : "#cf222e";
  }
  var CAMERA_COLOURS = { online: "#8250df", offline: "#8c959f", fault: "#cf222e" };

  function drawMap(node) {
    if (!window.L) return;
    var spec;
    try { spec = JSON.parse(node.getAttribute("data-map")); } catch (e) { return; }
    node.innerHTML = "";
    var map = L.map(node, { preferCanvas: false, zoomSnap: 0.25, attributionControl: false });
    var tiles = node.getAttribute("data-tiles");
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    function shapes(layer, data) {
      if (layer.kind === "cases") return cases(layer, data);
      if (layer.kind === "access-grid" || layer.kind === "access-compound") return minutes(layer, data);
      var style = STYLES[layer.kind] || STYLES.grid;
      var geo = L.geoJSON(data, {
        style: function () { return style; },
        interactive: !!layer.interactive,
        onEachFeature: function (feature, shape) {
          var p = feature.properties || {};
          if (layer.labels) {
            shape.bindTooltip(p.name, { permanent: true, direction: "center", className: "map-label" });
          } else if (layer.interactive) {
            shape.bindTooltip(p.name + " · " + p.code, { sticky: true });
          }
          if (layer.interactive) {
            shape.on("click", function () { window.location.href = "/units/" + p.code; });
            shape.on("mouseover", function () { shape.setStyle({ fillOpacity: style.fillOpacity + 0.2 }); });
            shape.on("mouseout", function () { shape.setStyle({ fillOpacity: style.fillOpacity }); });
          }
        },
      });
      node.setAttribute("data-drawn-" + layer.kind, (data.features || []).length);
      return geo;
    }

    // Open cases as dots coloured by how they stand against their deadlines;
    // overdue ones drawn last so they sit on top.
    function cases(layer, data) {
      var order = { no_deadline: 0, on_time: 1, due_soon: 2, overdue: 3 };
      var features = (data.features || []).slice().sort(function (a, b) {
        return (order[a.properties.timeliness] || 0) - (order[b.properties.timeliness] || 0);
      });
      var geo = L.geoJSON({ type: "FeatureCollection", features: features }, {
        pointToLayer: function (feature, latlng) {
          var p = feature.properties;
          return L.circleMarker(latlng, {
            radius: p.supervision ? 8 : 6, color: p.supervision ? PARTY_RED : "#fff", weight: p.supervision ? 2.5 : 1.5,
            fillColor: TIMELINESS_COLOURS[p.timeliness] || TIMELINESS_COLOURS.no_deadline, fillOpacity: 0.95,
          });
        },
        onEachFeature: function (feature, shape) {
          var p = feature.properties;
          shape.bindTooltip(p.number + " · " + p.title + " · " + T("timeliness." + p.timeliness));
          shape.on("click", function () { window.location.href = "/cases/" + p.id; });
        },
      });
      node.setAttribute("data-drawn-cases", features.length);
      return geo;
    }

    // Walking minutes to the nearest facility: grids filled, compounds as dots.
    function minutes(layer, data) {
      var grid = layer.kind === "access-grid";
      var geo = L.geoJSON(data, {
        style: function (feature) {
          var p = feature.properties;
          return grid
            ? { color: "#ffffff", weight: 0.6, fillColor: minutesColour(p.minutes), fillOpacity: p.households ? 0.55 : 0.08 }
            : {};
        },
        pointToLayer: function (feature, latlng) {
          return L.circleMarker(latlng, {
            radius: 5, color: "#0f1b2d", weight: 1, fillColor: minutesColour(feature.properties.minutes), fillOpacity: 1,
          });
        },
        interactive: !!layer.interactive,
        onEachFeature: function (feature, shape) {
          var p = feature.properties;
          var m = p.minutes === null || p.minutes === undefined ? "> 15" : p.minutes.toFixed(1);
          shape.bindTooltip(p.name + " · " + m + " min");
          if (!grid && layer.interactive) shape.on("click", function () { window.location.href = "/access/compounds/" + p.code; });
        },
      });
      node.setAttribute("data-drawn-" + layer.kind, (data.features || []).length);
      return geo;
    }

    function marker(m) {
      var colour = m.kind === "camera" ? CAMERA_COLOURS[m.status] || MARKER_COLOURS.camera : MARKER_COLOURS[m.kind];
    if (m.kind === "case" && m.overdue) colour = MARKER_COLOURS.overdue;
      var title = m.name;
      if (m.category) title += " · " + T("category." + m.category);
      if (m.status) title += " · " + T("status." + m.status);
      return L.circleMarker([m.lat, m.lon], {
        radius: m.kind === "camera" ? 4 : m.kind === "case" ? 9 : 6, color: "#fff", weight: 1.5, fillColor: colour, fillOpacity: 0.95,
      }).bindTooltip(title);
    }

    var layers = spec.layers || [];
    var markers = spec.markers || [];
    Promise.all(layers.map(function (layer) {
      return fetch(layer.url, { headers: { Accept: "application/geo+json, application/json" } }).then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.json();
      });
    })).then(function (results) {
      var drawn = results.map(function (data, i) { return shapes(layers[i], data); });
      var dots = markers.map(marker);
      var bounds = L.latLngBounds([]);
      drawn.concat(dots).forEach(function (d) {
        var b = d.getBounds ? d.getBounds() : L.latLngBounds([d.getLatLng()]);
        if (b.isValid()) bounds.extend(b);
      });
      // The box may have changed size while the layers loaded (fonts, a page laid out to the window).
      map.invalidateSize(false);
      // Leaflet needs a view before it can place circle markers.
      if (bounds.isValid()) map.fitBounds(bounds, { padding: [12, 12], maxZoom: 17 });
      else map.setView([0, 0], 2);
      // Added in the order given, so later layers sit on top and take the clicks.
      drawn.concat(dots).forEach(function (d) { d.addTo(map); });
      var fitted = map.getZoom();
      function labels() {
        node.classList.toggle("labels-off", node.clientWidth < 600 && map.getZoom() < fitted + 1);
      }
      map.on("zoomend", labels);
      labels();
      node.setAttribute("data-markers", dots.length);
      if (spec.pick) setUpPick(map, node, document.querySelector(spec.pick));
      // Tests and later scripts reach the map through its node.
      node.leafletMap = map;
      node.setAttribute("data-ready", "true");
      node.dispatchEvent(new CustomEvent("map-ready", { detail: map }));
    }).catch(function (e) {
      if (window.console) console.error(e);
      node.appendChild(el("p", { "class": "map-fallback", role: "alert" }, T("map.failed")));
      node.setAttribute("data-ready", "error");
      // Live layers (calls.js) still draw on it, without the boundaries.
      node.leafletMap = map;
      node.dispatchEvent(new CustomEvent("map-ready", { detail: map }));
    });
  }

  // ---- Picking a point: a tap drops the pin and fills the form's lat/lon. ----

  function setUpPick(map, node, form) {
    if (!form) return;
    var lat = form.querySelector('input[name="lat"]');
    var lon = form.querySelector('input[name="lon"]');
    var pin = null;
    function place(latlng, pan) {
      if (!pin) {
        pin = L.circleMarker(latlng, { radius: 9, color: "#fff", weight: 2, fillColor: MARKER_COLOURS["case"], fillOpacity: 0.95 }).addTo(map);
      } else {
        pin.setLatLng(latlng);
      }
      if (pan) map.panTo(latlng);
      node.setAttribute("data-pin", latlng.lat.toFixed(6) + "," + latlng.lng.toFixed(6));
    }
    map.on("click", function (e) {
      lat.value = e.latlng.lat.toFixed(6);
      lon.value = e.latlng.lng.toFixed(6);
      place(e.latlng, false);
    });
    function typed() {
      var a = Number(lat.value), b = Number(lon.value);
      if (lat.value && lon.value && isFinite(a) && isFinite(b) && Math.abs(a) <= 90 && Math.abs(b) <= 180) place(L.latLng(a, b), true);
    }
    lat.addEventListener("change", typed);
    lon.addEventListener("change", typed);
  }

  // ---- Sending JSON to the API: resolves with the body, rejects with its error message. ----

  function sendJson(url, body, headers) {
    var h = { "Content-Type": "application/json", Accept: "application/json" };
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    return fetch(url, { method: "POST", headers: h, body: JSON.stringify(body) })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (b) { return { ok: r.ok, status: r.status, body: b }; });
      })
      .then(function (res) {
        if (res.ok) return res.body;
        var message = res.body && res.body.error ? res.body.error.message : String(res.status);
        throw new Error(message);
      });
  }

  // Photos of a file input go up one by one as raw bodies; resolves with their ids.
  function upload(input) {
    var files = input ? Array.prototype.slice.call(input.files || []) : [];
    return Promise.all(files.map(function (f) {
      return fetch(input.getAttribute("data-upload"), { method: "POST", headers: { "Content-Type": f.type, Accept: "application/json" }, body: f })
        .then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (b) {
            if (!r.ok) throw new Error(b && b.error ? b.error.message : String(r.status));
            return b.id;
          });
        });
    })).catch(function (err) { err.upload = true; throw err; });
  }

  function randomKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  // ---- Where to build next: the proposals of the API, listed and drawn on the map. ----

  function setUpProposals(form) {
    var section = form.closest("section");
    var error = section.querySelector(".form-error");
    var table = section.querySelector("#proposal-table");
    var summary = section.querySelector("#proposal-summary");
    var drawn = null;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var data = new FormData(form);
      error.hidden = true;
      var body = {
        unit: form.getAttribute("data-unit"),
        category: form.getAttribute("data-category"),
        k: Number(data.get("k")),
        minutes: Number(data.get("minutes")),
        candidates: String(data.get("candidates")),
      };
      sendJson(form.getAttribute("data-proposals"), body).then(function (res) {
        var rows = table.tBodies[0];
        rows.innerHTML = "";
        res.picks.forEach(function (p) {
          var tr = el("tr", { "data-node": p.node });
          tr.appendChild(el("td", { "class": "num" }, String(p.rank)));
          tr.appendChild(el("td", {}, p.name || p.lat.toFixed(5) + ", " + p.lon.toFixed(5)));
          tr.appendChild(el("td", { "class": "mono" }, p.grid || ""));
          tr.appendChild(el("td", { "class": "num" }, "+" + p.gain_households.toLocaleString()));
          tr.appendChild(el("td", { "class": "num" }, p.covered_after.toLocaleString() + (p.share_after === null ? "" : " (" + (p.share_after * 100).toFixed(1) + "%)")));
          rows.appendChild(tr);
        });
        table.hidden = false;
        var last = res.picks.length ? res.picks[res.picks.length - 1].covered_after : res.covered_before;
        summary.textContent = T("access.proposal_summary", { before: res.covered_before.toLocaleString(), total: res.households.toLocaleString(), after: last.toLocaleString() });
        summary.hidden = false;
        var mapNode = document.getElementById("access-map");
        var map = mapNode && mapNode.leafletMap;
        if (map) {
          if (drawn) map.removeLayer(drawn);
          drawn = L.layerGroup(res.picks.map(function (p) {
            return L.marker([p.lat, p.lon], {
              icon: L.divIcon({ className: "proposal-pin", html: String(p.rank), iconSize: [24, 24] }),
              title: "+" + p.gain_households,
            });
          })).addTo(map);
          mapNode.setAttribute("data-proposals", res.picks.length);
        }
      }).catch(function (err) { showFailure(error, err); });
    });
  }

  // A refused request, as the API words it, in the form's error line.
  function showFailure(error, err) {
    error.textContent = T("case.action_failed") + (err && err.message ? ": " + err.message : "");
    error.hidden = false;
  }

  // ---- What if: one more facility at the point picked on the map. ----

  function setUpWhatIf(form) {
    var section = form.closest("section");
    var error = section.querySelector(".form-error");
    var result = section.querySelector("#whatif-result");
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var data = new FormData(form);
      error.hidden = true;
      var category = form.getAttribute("data-category");
      var body = { unit: form.getAttribute("data-unit"), category: category, lat: Number(data.get("lat")), lon: Number(data.get("lon")) };
      sendJson(form.getAttribute("data-whatif"), body).then(function (res) {
        var pct = function (s) { return s === null ? "–" : (s * 100).toFixed(1) + "%"; };
        result.textContent = T("access.whatif_result", {
          before: pct(res.before.categories[category].share[2]),
          after: pct(res.after.categories[category].share[2]),
          gained: (res.after.categories[category].covered[2] - res.before.categories[category].covered[2]).toLocaleString(),
          compounds: res.compounds_nearer.length,
        });
        result.setAttribute("data-gained", res.after.categories[category].covered[2] - res.before.categories[category].covered[2]);
        result.hidden = false;
      }).catch(function (err) { showFailure(error, err); });
    });
  }

  // ---- The report form: photos first (when offered), then the case, once. ----

  function setUpReport(form) {
    var error = document.getElementById("report-error");
    var submit = form.querySelector('button[type="submit"]');
    // One key per form: a double click or a retry makes one case.
    var key = randomKey();
    form.setAttribute("data-idempotency-key", key);
    var busy = false;
    function fail(prefix, err) {
      error.textContent = T(prefix) + (err && err.message ? ": " + err.message : "");
      error.hidden = false;
    }
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (busy) return;
      var data = new FormData(form);
      error.hidden = true;
      if (!String(data.get("lat") || "").trim() || !String(data.get("lon") || "").trim()) {
        error.textContent = T("report.pin_needed");
        error.hidden = false;
        return;
      }
      var body = {
        title: String(data.get("title") || "").trim(),
        description: String(data.get("description") || "").trim(),
        lat: Number(data.get("lat")),
        lon: Number(data.get("lon")),
      };
      if (data.get("category")) body.category = String(data.get("category"));
      if (data.get("source")) body.source = String(data.get("source"));
      var fileInput = form.querySelector('input[type="file"][data-upload]');
      busy = true;
      submit.disabled = true;
      submit.textContent = T("report.busy");
      upload(fileInput)
        .then(function (ids) {
          if (ids.length) body.photos = ids;
          return sendJson("/api/v1/cases", body, { "Idempotency-Key": key });
        })
        .then(function (c) {
          window.location.href = "/cases/" + c.id + "?flash=flash.case_reported";
        })
        .catch(function (err) {
          fail(err && err.upload ? "report.upload_failed" : "report.failed", err);
          busy = false;
          submit.disabled = false;
          submit.textContent = T("report.submit");
        });
    });
  }

  // ---- Case actions: each form posts one event; the page shows the result. ----

  function setUpAction(form) {
    var error = form.querySelector(".form-error");
    var submit = form.querySelector('button[type="submit"]');
    var label = submit.textContent;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var data = new FormData(form);
      var body = { type: form.getAttribute("data-action") };
      ["category", "unit", "request", "level"].forEach(function (k) { if (data.get(k)) body[k] = String(data.get(k)); });
      if (data.has("passed")) body.passed = data.get("passed") === "true";
      if (data.has("satisfaction")) body.satisfaction = Number(data.get("satisfaction"));
      if (data.has("extra_hours")) body.extra = "PT" + Math.round(Number(data.get("extra_hours"))) + "H";
      if (data.has("case")) body["case"] = Number(data.get("case"));
      if (body.type === "escalated") body.supervision = data.get("supervision") === "true";
      var note = String(data.get("note") || "").trim();
      if (note) body.note = note;
      error.hidden = true;
      submit.disabled = true;
      submit.textContent = T("case.busy");
      upload(form.querySelector('input[type="file"][data-upload]'))
        .then(function (ids) {
          if (ids.length) body.photos = ids;
          return sendJson("/api/v1/cases/" + encodeURIComponent(form.getAttribute("data-case")) + "/events", body);
        })
        .then(function () {
          window.location.href = window.location.pathname + "?flash=flash.case_updated";
        })
        .catch(function (err) {
          error.textContent = T(err && err.upload ? "report.upload_failed" : "case.action_failed") + (err && err.message ? ": " + err.message : "");
          error.hidden = false;
          submit.disabled = false;
          submit.textContent = label;
        });
    });
  }

  // ---- The locate form: asks the API which grid holds a point. ----

  function setUpLocate(form) {
    var out = form.querySelector(".locate-result");
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var data = new FormData(form);
      var query = new URLSearchParams();
      ["lat", "lon", "crs"].forEach(function (k) { query.set(k, String(data.get(k) || "").trim()); });
      out.className = "locate-result";
      out.textContent = T("locate.busy");
      fetch("/api/v1/locate?" + query.toString(), { headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (res) {
          out.textContent = "";
          if (res.ok) {
            var b = res.body;
            out.className = "locate-result ok";
            out.append(T("locate.found") + " ");
            out.appendChild(el("a", { href: "/units/" + b.grid.code, "data-grid": b.grid.code }, b.grid.name + " (" + b.grid.code + ")"));
            out.append(" · " + b.community.name + " · " + b.street.name);
          } else {
            out.className = "locate-result error";
            var message = res.body && res.body.error ? res.body.error.message : "";
            out.textContent = T("locate.failed") + (message ? ": " + message : "");
          }
        })
        .catch(function () {
          out.className = "locate-result error";
          out.textContent = T("locate.failed");
        });
    });
  }

  // ---- Residents: the full ID and phone numbers, on a reason, audited. ----

  function setUpUnmask(section) {
    var dialog = section.querySelector("dialog.unmask-dialog");
    if (!dialog || typeof dialog.showModal !== "function") return;
    var form = dialog.querySelector("form");
    var reason = form.querySelector('input[name="reason"]');
    var error = form.querySelector(".form-error");
    var who = dialog.querySelector(".unmask-who");
    var submit = form.querySelector('button[type="submit"]');
    var row = null;

    section.querySelectorAll("button[data-unmask]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        row = button.closest("tr");
        who.textContent = row.querySelector(".resident-name").firstChild.textContent.trim();
        error.hidden = true;
        error.textContent = "";
        reason.value = "";
        dialog.showModal();
        reason.focus();
      });
    });
    form.querySelector("[data-cancel]").addEventListener("click", function () { dialog.close(); });

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!row) return;
      var id = row.getAttribute("data-resident");
      submit.disabled = true;
      error.hidden = true;
      fetch("/api/v1/residents/" + encodeURIComponent(id) + "/unmask", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ reason: reason.value.trim() }),
      })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (res) {
          if (!res.ok) {
            var message = res.body && res.body.error ? res.body.error.message : "";
            throw new Error(message);
          }
          var idCell = row.querySelector(".id-number");
          var phoneCell = row.querySelector(".phone");
          idCell.textContent = res.body.id_number;
          phoneCell.textContent = res.body.phone || "";
          idCell.classList.add("unmasked");
          phoneCell.classList.add("unmasked");
          var button = row.querySelector("button[data-unmask]");
          if (button) button.replaceWith(el("span", { "class": "unmasked-note" }, T("residents.unmasked")));
          dialog.close();
        })
        .catch(function (err) {
          error.textContent = T("residents.unmask_failed") + (err && err.message ? ": " + err.message : "");
          error.hidden = false;
        })
        .then(function () { submit.disabled = false; });
    });
  }

  // What the live call pages (calls.js) build on: the catalogue, markup and keys.
  window.CivicGrid = { T: T, el: el, lang: lang, numberFormat: numberFormat, randomKey: randomKey };

  document.querySelectorAll("table.data").forEach(setUpTable);
  document.querySelectorAll("section#residents").forEach(setUpUnmask);
  document.querySelectorAll(".bar-chart[data-chart]").forEach(drawChart);
  document.querySelectorAll(".map[data-map]").forEach(drawMap);
  document.querySelectorAll("form[data-locate]").forEach(setUpLocate);
  document.querySelectorAll("form[data-report]").forEach(setUpReport);
  document.querySelectorAll("form.case-action[data-action]").forEach(setUpAction);
  document.querySelectorAll("form[data-proposals]").forEach(setUpProposals);
  document.querySelectorAll("form[data-whatif]").forEach(setUpWhatIf);
})();
