// The live one-click call pages: the command centre (calls, responders and
// cameras on one map; the selected call's offers, timeline and take-over), the
// responder's phone page (duty, position, offers, steps) and the caller's
// button. Built on app.js (window.CivicGrid: the catalogue's T, el); every
// human text comes from the message catalogue. Only the JSON API and its event
// stream are read: the pages never reload.
(function () {
  "use strict";

  var CG = window.CivicGrid;
  if (!CG) return;
  var T = CG.T;
  var el = CG.el;
  var numberFormat = CG.numberFormat;

  function live(node) {
    try { return JSON.parse(node.getAttribute("data-live")) || {}; } catch (e) { return {}; }
  }

  // ---- The API: JSON in and out; a refusal rejects with its status, code and message. ----

  // How far the browser's clock is from the server's (offers expire by the
  // server's clock). The Date header has whole seconds: only a clearly wrong
  // clock is corrected.
  var skew = 0;
  function serverNow() { return Date.now() + skew; }
  function noteClock(r) {
    var d = Date.parse(r.headers.get("Date") || "");
    if (isNaN(d)) return;
    var off = d + 500 - Date.now();
    skew = Math.abs(off) > 2000 ? off : 0;
  }

  function failure(status, body) {
    var e = body && body.error;
    var code = typeof e === "string" ? e : e && e.code;
    var message = (body && body.message) || (e && e.message) || String(status);
    var err = new Error(message);
    err.status = status;
    err.code = code || "";
    return err;
  }

  function request(method, url, body, headers) {
    var h = { Accept: "application/json" };
    if (body !== undefined) h["Content-Type"] = "application/json";
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    var init = { method: method, headers: h, credentials: "same-origin" };
    if (body !== undefined) init.body = JSON.stringify(body);
    return fetch(url, init).then(function (r) {
      noteClock(r);
      return r.json().catch(function () { return null; }).then(function (b) {
        if (!r.ok) throw failure(r.status, b);
        return b;
      });
    }, function (e) {
      var err = new Error(e && e.message ? e.message : "network");
      err.status = 0;
      err.code = "network";
      throw err;
    });
  }
  var get = function (url) { return request("GET", url); };

  // Photos go up one by one as raw bodies, as the report form sends them; resolves with their ids.
  function uploadPhotos(url, input) {
    var files = input ? Array.prototype.slice.call(input.files || []) : [];
    return Promise.all(files.map(function (f) {
      return fetch(url, { method: "POST", headers: { "Content-Type": f.type, Accept: "application/json" }, body: f })
        .then(function (r) {
          return r.json().catch(function () { return null; }).then(function (b) {
            if (!r.ok) throw failure(r.status, b);
            return b.id;
          });
        });
    }));
  }

  // Runs `work` (a promise maker) now, or once more after the run in flight:
  // bursts of events cost at most two reads.
  function coalesce(work) {
    var running = false, again = false;
    function run() {
      if (running) { again = true; return; }
      running = true;
      again = false;
      Promise.resolve().then(work).catch(function (e) { if (window.console) console.warn(e); }).then(function () {
        running = false;
        if (again) run();
      });
    }
    return run;
  }

  // Calls `work` every `ms`, never two at once.
  function every(ms, work) {
    var stopped = false, timer = null;
    function tick() {
      if (stopped) return;
      Promise.resolve().then(work).catch(function (e) { if (window.console) console.warn(e); }).then(function () {
        if (!stopped) timer = setTimeout(tick, ms);
      });
    }
    tick();
    return function () { stopped = true; clearTimeout(timer); };
  }

  // The case event stream. EventSource reconnects by itself after a dropped
  // connection; a refused one (CLOSED) is retried here after a pause.
  function listen(url, onCase, onState) {
    if (!window.EventSource) { onState("off"); return; }
    var source = null;
    function open() {
      source = new EventSource(url);
      source.addEventListener("open", function () { onState("on"); });
      source.addEventListener("case", function (e) {
        var data = null;
        try { data = JSON.parse(e.data); } catch (x) { data = null; }
        onCase(data);
      });
      // Too much was missed to replay: re-read everything.
      source.addEventListener("reset", function () { onCase(null); });
      source.addEventListener("error", function () {
        onState("off");
        if (source.readyState === EventSource.CLOSED) setTimeout(open, 5000);
      });
    }
    open();
  }

  // ---- Small formats ----

  // A moment as the pages show times: China Standard Time (UTC+8), to the second.
  function clock(iso) {
    var t = Date.parse(iso);
    return isNaN(t) ? "" : new Date(t + 8 * 3600e3).toISOString().slice(11, 19);
  }
  function metres(m) {
    if (m === null || m === undefined || !isFinite(m)) return "–";
    return m < 1000 ? T("calls.metres", { m: numberFormat.format(Math.round(m)) }) : T("calls.km", { km: (m / 1000).toFixed(1) });
  }
  function minutes(s) { return Math.max(1, Math.ceil((Number(s) || 0) / 60)); }
  function secondsLeft(iso) { return Math.max(0, Math.ceil((Date.parse(iso) - serverNow()) / 1000)); }
  function distance(a, b) {
    var rad = Math.PI / 180, R = 6371008.8;
    var dLat = (b.lat - a.lat) * rad, dLon = (b.lon - a.lon) * rad;
    var h = Math.sin(dLat / 2) * Math.sin(dLat / 2) + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
  }
  // Where a call is, as people read it: a registered address (a device's
  // or the caller's home) says so, so nobody takes it for a live fix.
  function registeredAddress(c) {
    return c.address && c.located_by && c.located_by !== "position" ? T("call.registered_address", { address: c.address }) : "";
  }
  function whereText(c) {
    var registered = registeredAddress(c);
    return registered ? registered + (c.grid_name ? " · " + c.grid_name : "") : c.grid_name || c.grid || "";
  }
  function kindName(kind) { return T("call.kind." + kind); }
  function teamName(team) { return team ? T("call.team." + team) : ""; }
  var OPEN = { dispatching: true, alarmed: true, accepted: true, en_route: true, on_scene: true };
  var UNACCEPTED = { dispatching: true, alarmed: true };

  // Every countdown on the page (`data-expires`), once a second.
  function tickCountdowns() {
    document.querySelectorAll("[data-expires]").forEach(function (node) {
      var left = secondsLeft(node.getAttribute("data-expires"));
      node.textContent = T("calls.seconds", { s: left });
      node.classList.toggle("late", left <= 10);
    });
  }
  setInterval(tickCountdowns, 1000);

  // ---- A short beep. Browsers may refuse sound until the visitor has
  // clicked or tapped; then nothing happens, and the colour and the counter
  // still tell. ----

  var audio = null;
  function audioContext(create) {
    if (!audio && create) {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return null;
      try { audio = new Ctx(); } catch (e) { audio = null; }
    }
    return audio;
  }
  function unlockSound() {
    var ctx = audioContext(true);
    if (!ctx) return Promise.resolve(false);
    return Promise.resolve(ctx.state === "suspended" ? ctx.resume() : null)
      .then(function () { return ctx.state === "running"; }, function () { return false; });
  }
  function beep() {
    var ctx = audioContext(false);
    if (!ctx || ctx.state !== "running") return;
    try {
      var t = ctx.currentTime;
      [0, 0.22].forEach(function (d) {
        var osc = ctx.createOscillator();
        var gain = ctx.createGain();
        osc.type = "square";
        osc.frequency.value = d ? 1320 : 880;
        gain.gain.setValueAtTime(0.0001, t + d);
        gain.gain.exponentialRampToValueAtTime(0.25, t + d + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + d + 0.18);
        osc.connect(gain);
        gain.connect(ctx.destination);
        osc.start(t + d);
        osc.stop(t + d + 0.2);
      });
    } catch (e) { /* no sound is no harm */ }
  }

  // ======================================================================
  // The command centre
  // ======================================================================

  var TEAM_COLOURS = { grid_worker: "#1f6feb", street_rider: "#1a7f37", party_member: "#b7791f", volunteer: "#8250df" };
  var STALE_COLOUR = "#8c959f";
  // How a responder's state shows: size and ring.
  var RESPONDER_LOOK = {
    idle: { radius: 4.5, color: "#ffffff", weight: 1 },
    offered: { radius: 6, color: "#d4a72c", weight: 3 },
    accepted: { radius: 6.5, color: "#0f1b2d", weight: 2.5 },
    en_route: { radius: 6.5, color: "#0f1b2d", weight: 2.5, dashArray: "3 2" },
    on_scene: { radius: 7.5, color: "#0f1b2d", weight: 4 },
  };
  /// Cameras listed for a call: those this close, nearest first.
  var CAMERA_RADIUS_M = 300;
  var CAMERA_LIMIT = 8;
  /// Responders offered for a hand assignment.
  var ASSIGN_LIMIT = 8;

  function setUpCommand(section) {
    var cfg = live(section);
    var CALL_STATES = cfg.call_states || [];
    var mapNode = document.getElementById("command-map");
    var list = document.getElementById("call-list");
    var panel = document.getElementById("call-panel");
    var bar = document.getElementById("command-bar");
    var map = null, canvas = null, cameraLayer = null;
    var calls = new Map();          // id → call, the open ones
    var callMarkers = new Map();    // id → L.marker
    var responders = new Map();     // id → responder
    var responderMarkers = new Map(); // id → L.circleMarker
    var seen = null;                // call ids already announced (null until the first read)
    var selectedId = null, selected = null, selectedCase = null;
    var cameraCache = new Map();    // community code → cameras
    var baseTitle = document.title;

    // -- the map: ready when app.js has drawn the boundaries --
    function onMap(m) {
      if (map) return;
      map = m;
      map.createPane("responders").style.zIndex = 450;
      map.createPane("cameras").style.zIndex = 460;
      canvas = L.canvas({ pane: "responders", padding: 0.3 });
      // The wall's map follows its box (a late font, a resized window).
      if (window.ResizeObserver) new ResizeObserver(function () { map.invalidateSize(); }).observe(mapNode);
      cameraLayer = L.layerGroup().addTo(map);
      drawCalls();
      drawResponders();
      if (selected) showCameras(selected);
    }
    if (mapNode.leafletMap) onMap(mapNode.leafletMap);
    mapNode.addEventListener("map-ready", function (e) { onMap(e.detail); });
    // The boundaries failed to load: the map still needs a view before markers.
    function ensureView(lat, lon) {
      try { map.getCenter(); } catch (e) { map.setView([lat, lon], 15); }
    }

    // -- calls --
    function callOrder(a, b) {
      var ua = UNACCEPTED[a.state] ? 0 : 1, ub = UNACCEPTED[b.state] ? 0 : 1;
      if (ua !== ub) return ua - ub;
      return Date.parse(b.created_at) - Date.parse(a.created_at);
    }

    var refreshCalls = coalesce(function () {
      return get(cfg.calls).then(function (res) { applyCalls(res.items || []); });
    });

    function applyCalls(items) {
      var fresh = [];
      var next = new Map();
      items.forEach(function (c) {
        next.set(c.id, c);
        if (seen && !seen.has(c.id)) fresh.push(c);
      });
      if (!seen) seen = new Set();
      items.forEach(function (c) { seen.add(c.id); });
      calls = next;
      var unaccepted = items.filter(function (c) { return UNACCEPTED[c.state]; }).length;
      document.getElementById("open-calls").textContent = numberFormat.format(items.length);
      document.getElementById("unaccepted-calls").textContent = numberFormat.format(unaccepted);
      document.getElementById("calls-count").textContent = numberFormat.format(items.length);
      // Once every call has someone, the alarm may stop flashing.
      if (!unaccepted) bar.classList.remove("alerting");
      var counter = document.getElementById("count-unaccepted");
      counter.setAttribute("data-count", unaccepted);
      counter.classList.toggle("hot", unaccepted > 0);
      section.setAttribute("data-open-calls", items.length);
      section.setAttribute("data-unaccepted", unaccepted);
      document.title = (unaccepted ? "(" + unaccepted + ") " : "") + baseTitle;
      drawCalls(fresh);
      renderList(fresh);
      if (fresh.length) announce(fresh);
      if (selectedId !== null && calls.has(selectedId)) {
        selected = calls.get(selectedId);
        renderPanel();
      }
      if (selectedId === null && fresh.length) select(fresh.sort(callOrder)[0].id);
    }

    function announce(fresh) {
      beep();
      bar.classList.remove("alerting");
      // Restart the flash: a reflow between removing and adding the class.
      void bar.offsetWidth;
      bar.classList.add("alerting");
      setTimeout(function () { bar.classList.remove("alerting"); }, 6000);
      fresh.forEach(function (c) {
        var m = callMarkers.get(c.id);
        if (m && m.getElement()) m.getElement().classList.add("call-new");
      });
    }

    function callClass(c) {
      return "call-marker call-" + c.state + (c.id === selectedId ? " call-selected" : "");
    }

    function callTip(c) {
      return kindName(c.kind) + " · " + T("call.state." + c.state) + " · " + (c.grid_name || c.grid);
    }

    function drawCalls() {
      if (!map) return;
      calls.forEach(function (c) {
        var marker = callMarkers.get(c.id);
        if (!marker) {
          ensureView(c.lat, c.lon);
          marker = L.marker([c.lat, c.lon], {
            icon: L.divIcon({ className: callClass(c), html: '<span class="call-ring"></span><span class="call-core"></span>', iconSize: [40, 40] }),
            keyboard: true,
            title: callTip(c),
            zIndexOffset: UNACCEPTED[c.state] ? 1000 : 0,
          });
          marker.on("click", function () { select(c.id, true); });
          marker.addTo(map);
          marker.callState = c.state;
          callMarkers.set(c.id, marker);
        } else {
          var at = marker.getLatLng();
          if (at.lat !== c.lat || at.lng !== c.lon) marker.setLatLng([c.lat, c.lon]);
          if (marker.callState !== c.state) {
            marker.callState = c.state;
            marker.setZIndexOffset(UNACCEPTED[c.state] ? 1000 : 0);
            var node = marker.getElement();
            if (node) node.title = callTip(c);
          }
        }
        var node = marker.getElement();
        if (node) {
          CALL_STATES.forEach(function (s) { node.classList.toggle("call-" + s, s === c.state); });
          node.classList.toggle("call-selected", c.id === selectedId);
          node.setAttribute("data-call", c.id);
          node.setAttribute("data-state", c.state);
        }
      });
      callMarkers.forEach(function (marker, id) {
        if (!calls.has(id)) {
          map.removeLayer(marker);
          callMarkers.delete(id);
        }
      });
      mapNode.setAttribute("data-calls-drawn", callMarkers.size);
    }

    function renderList(fresh) {
      var freshIds = new Set((fresh || []).map(function (c) { return c.id; }));
      var items = Array.from(calls.values()).sort(callOrder);
      var wasNew = new Set();
      list.querySelectorAll("li.call-new").forEach(function (li) { wasNew.add(Number(li.getAttribute("data-call"))); });
      list.textContent = "";
      items.forEach(function (c) {
        var li = el("li", { "class": "call-item call-" + c.state, "data-call": c.id, "data-state": c.state });
        if (c.id === selectedId) li.classList.add("selected");
        if (freshIds.has(c.id) || wasNew.has(c.id)) li.classList.add("call-new");
        var b = el("button", { type: "button" });
        b.appendChild(el("span", { "class": "call-item-kind" }, kindName(c.kind)));
        b.appendChild(el("span", { "class": "badge call-state call-state-" + c.state }, T("call.state." + c.state)));
        b.appendChild(el("span", { "class": "call-item-where" }, c.grid_name || c.grid));
        b.appendChild(el("time", { "class": "mono", datetime: c.created_at }, clock(c.created_at)));
        b.addEventListener("click", function () { select(c.id, true); });
        li.appendChild(b);
        list.appendChild(li);
      });
      document.getElementById("no-calls").hidden = items.length > 0;
    }

    // -- the selected call --
    var refreshSelected = coalesce(function () {
      if (selectedId === null) return null;
      var id = selectedId;
      return get(cfg.call + encodeURIComponent(id)).then(function (c) {
        if (id !== selectedId) return null;
        selected = c;
        renderPanel();
        return get(cfg["case"] + encodeURIComponent(c.case_id)).then(function (k) {
          if (id !== selectedId) return;
          selectedCase = k;
          renderTimeline();
        });
      });
    });

    // `look`: the operator asked for it, so the map zooms in on it; a call
    // chosen for them (a new one) is only brought into view.
    function inView(c) {
      try { return map.getBounds().contains([c.lat, c.lon]); } catch (e) { return false; }
    }
    function zoomTo(c) {
      if (map && c) map.setView([c.lat, c.lon], Math.max(map.getZoom(), 16));
    }
    function select(id, look) {
      if (selectedId === id) {
        if (look) zoomTo(selected);
        return;
      }
      selectedId = id;
      selected = calls.get(id) || null;
      selectedCase = null;
      document.getElementById("call-timeline").textContent = "";
      document.getElementById("takeover-error").hidden = true;
      list.querySelectorAll("li").forEach(function (li) {
        li.classList.toggle("selected", Number(li.getAttribute("data-call")) === id);
      });
      // The marker's class marks the selection; the list item stops being new once looked at.
      drawCalls();
      var li = list.querySelector('li[data-call="' + id + '"]');
      if (li) li.classList.remove("call-new");
      var marker = callMarkers.get(id);
      if (marker && marker.getElement()) marker.getElement().classList.remove("call-new");
      if (history.replaceState) history.replaceState(null, "", "#call-" + id);
      if (selected) {
        renderPanel();
        if (look) zoomTo(selected);
        else if (map && !inView(selected)) map.panTo([selected.lat, selected.lon]);
        showCameras(selected);
      }
      refreshSelected();
    }

    document.getElementById("call-close").addEventListener("click", function () {
      selectedId = null;
      selected = null;
      panel.hidden = true;
      document.getElementById("pick-call").hidden = false;
      if (cameraLayer) cameraLayer.clearLayers();
      if (history.replaceState) history.replaceState(null, "", window.location.pathname + window.location.search);
      drawCalls();
      list.querySelectorAll("li.selected").forEach(function (li) { li.classList.remove("selected"); });
    });

    // Who took a step: a responder by name ("responder:12" is how the case
    // records one), the system by what it did, anyone else by account name.
    function actorName(actor) {
      if (!actor) return "";
      var m = /^responder:(\d+)$/.exec(actor.username);
      if (m) return nameOf(Number(m[1]));
      var key = "actor." + actor.username.replace(":", ".");
      var said = T(key);
      return said === key ? actor.username : said;
    }

    function nameOf(responderId) {
      var c = selected;
      var offer = c && (c.offers || []).find(function (o) { return o.responder_id === responderId; });
      if (offer && offer.first_name) return offer.first_name;
      if (c && c.owner && c.owner.responder_id === responderId) return c.owner.first_name;
      var r = responders.get(responderId);
      return r ? r.name : "#" + responderId;
    }

    function renderPanel() {
      var c = selected;
      if (!c) return;
      panel.hidden = false;
      document.getElementById("pick-call").hidden = true;
      panel.setAttribute("data-call", c.id);
      panel.setAttribute("data-state", c.state);
      document.getElementById("call-kind").textContent = kindName(c.kind);
      var state = document.getElementById("call-state");
      state.className = "badge call-state call-state-" + c.state;
      state.textContent = T("call.state." + c.state);
      var link = document.getElementById("call-case");
      link.href = "/cases/" + encodeURIComponent(c.case_id);
      link.textContent = c.case_number || "#" + c.case_id;
      document.getElementById("call-grid").textContent = (c.grid_name || "") + " " + c.grid;
      var addressRow = document.getElementById("call-address-row");
      addressRow.hidden = !registeredAddress(c);
      document.getElementById("call-address").textContent = registeredAddress(c);
      document.getElementById("call-created").textContent = clock(c.created_at);
      var giveUpRow = document.getElementById("call-give-up-row");
      var giveUp = document.getElementById("call-give-up");
      giveUpRow.hidden = c.state !== "dispatching" || !c.give_up_at;
      if (!giveUpRow.hidden) {
        giveUp.setAttribute("data-expires", c.give_up_at);
        giveUp.textContent = T("calls.seconds", { s: secondsLeft(c.give_up_at) });
      } else {
        giveUp.removeAttribute("data-expires");
      }
      var owner = document.getElementById("call-owner");
      owner.textContent = c.owner
        ? c.owner.first_name + " · " + teamName(c.owner.team) + " · " + metres(c.owner.distance_m) +
          (c.owner.eta_s !== null && c.owner.eta_s !== undefined ? " · " + T("calls.eta", { min: minutes(c.owner.eta_s) }) : "")
        : "–";

      var offers = document.getElementById("call-offers");
      offers.textContent = "";
      var sorted = (c.offers || []).slice().sort(function (a, b) { return Date.parse(b.offered_at) - Date.parse(a.offered_at); });
      sorted.forEach(function (o) {
        var li = el("li", { "class": "offer offer-" + o.state, "data-responder": o.responder_id, "data-state": o.state });
        li.appendChild(el("span", { "class": "offer-who" }, o.first_name + " · " + teamName(o.team)));
        li.appendChild(el("span", { "class": "offer-far" }, metres(o.distance_m)));
        li.appendChild(el("span", { "class": "badge offer-state" }, T("call.offer." + o.state)));
        if (o.state === "offered" && o.expires_at) {
          li.appendChild(el("span", { "class": "countdown-chip mono", "data-expires": o.expires_at }, T("calls.seconds", { s: secondsLeft(o.expires_at) })));
        }
        offers.appendChild(li);
      });
      if (!sorted.length) offers.appendChild(el("li", { "class": "note" }, T("command.no_offers")));

      var open = !!OPEN[c.state];
      document.getElementById("takeover").hidden = !open;
      document.getElementById("escalate-submit").hidden = c.state === "alarmed";
      document.getElementById("assign-form").hidden = !(c.state === "dispatching" || c.state === "alarmed");
      renderAssign();
      if (selectedCase) renderTimeline();
    }

    // The nearest responders on duty and free, for a hand assignment.
    function renderAssign() {
      var c = selected;
      var box = document.getElementById("assign-list");
      if (!c || document.getElementById("assign-form").hidden) return;
      var checked = box.querySelector("input:checked");
      var keep = checked ? Number(checked.value) : null;
      var offeredHere = new Set((c.offers || []).filter(function (o) { return o.state === "offered"; })
        .map(function (o) { return o.responder_id; }));
      var near = [];
      responders.forEach(function (r) {
        if (!r.on_duty || r.stale || r.lat === null || r.lat === undefined) return;
        if (r.state !== "idle" && !(r.state === "offered" && offeredHere.has(r.id))) return;
        near.push({ r: r, d: distance(c, r) });
      });
      near.sort(function (a, b) { return a.d - b.d; });
      near = near.slice(0, ASSIGN_LIMIT);
      // Rebuilt only when the list changes, so a choice being made is left alone.
      var signature = c.id + ":" + near.map(function (n) { return n.r.id + "@" + Math.round(n.d / 10); }).join(",");
      if (signature === box.getAttribute("data-signature")) return;
      box.setAttribute("data-signature", signature);
      box.textContent = "";
      near.forEach(function (n, i) {
        var li = el("li");
        var label = el("label", { "class": "check" });
        var input = el("input", { type: "radio", name: "responder_id", value: n.r.id });
        if (n.r.id === keep || (keep === null && i === 0)) input.checked = true;
        label.appendChild(input);
        label.appendChild(el("span", { "class": "dot team-" + n.r.team, "aria-hidden": "true" }));
        label.appendChild(el("span", { "class": "assign-who" }, n.r.name + " · " + teamName(n.r.team)));
        label.appendChild(el("span", { "class": "assign-far" }, metres(n.d)));
        li.appendChild(label);
        box.appendChild(li);
      });
      if (!near.length) box.appendChild(el("li", { "class": "note" }, T("command.no_responders")));
      document.getElementById("assign-submit").disabled = !near.length;
    }

    function renderTimeline() {
      var box = document.getElementById("call-timeline");
      var events = (selectedCase && selectedCase.events) || [];
      box.textContent = "";
      events.slice().reverse().forEach(function (e) {
        var data = e.data || e;
        var li = el("li", { "class": "event event-" + e.type, "data-type": e.type });
        var head = el("div", { "class": "event-head" });
        var what = T("case.event." + e.type);
        if (e.type === "respond" && data.step) what = T("call.step." + data.step, { name: nameOf(data.responder) });
        head.appendChild(el("strong", { "class": "event-what" }, what));
        head.appendChild(el("time", { "class": "mono", datetime: e.at }, clock(e.at)));
        li.appendChild(head);
        var who = actorName(e.actor);
        if (data.distance_m !== undefined && data.distance_m !== null) who += (who ? " · " : "") + metres(data.distance_m);
        if (who) li.appendChild(el("div", { "class": "event-who" }, who));
        if (e.note) li.appendChild(el("p", { "class": "event-note" }, e.note));
        box.appendChild(li);
      });
    }

    // -- cameras near the selected call --
    function showCameras(c) {
      if (!cfg.cameras || !c) return;
      var community = String(c.grid).slice(0, 12);
      var have = cameraCache.get(community);
      var load = have ? Promise.resolve(have) : get(cfg.cameras + "?unit=" + encodeURIComponent(community) + "&limit=1000")
        .then(function (res) { cameraCache.set(community, res.items || []); return res.items || []; });
      load.then(function (all) {
        if (!selected || selected.id !== c.id) return;
        var near = all.map(function (k) { return { k: k, d: distance(c, k) }; })
          .filter(function (n) { return n.d <= CAMERA_RADIUS_M; })
          .sort(function (a, b) { return a.d - b.d; })
          .slice(0, CAMERA_LIMIT);
        var box = document.getElementById("call-cameras");
        box.textContent = "";
        near.forEach(function (n) {
          var li = el("li", { "class": "camera", "data-camera": n.k.code });
          li.appendChild(el("span", { "class": "camera-name" }, n.k.name));
          li.appendChild(el("span", { "class": "camera-far" }, metres(n.d)));
          li.appendChild(el("span", { "class": "status status-" + n.k.status }, T("status." + n.k.status)));
          box.appendChild(li);
        });
        if (!near.length) box.appendChild(el("li", { "class": "note" }, T("command.no_cameras", { m: CAMERA_RADIUS_M })));
        document.getElementById("cameras-part").hidden = false;
        if (!map) return;
        cameraLayer.clearLayers();
        near.forEach(function (n) {
          L.marker([n.k.lat, n.k.lon], {
            pane: "cameras",
            icon: L.divIcon({ className: "camera-marker camera-" + n.k.status, iconSize: [12, 12] }),
            title: n.k.name + " · " + metres(n.d),
          }).addTo(cameraLayer);
        });
      }).catch(function () {
        document.getElementById("cameras-part").hidden = true;
      });
    }

    // -- take-over --
    function takeOver(path, body, button) {
      var error = document.getElementById("takeover-error");
      error.hidden = true;
      if (!selected) return;
      button.disabled = true;
      request("POST", cfg.call + encodeURIComponent(selected.id) + "/" + path, body)
        .then(function (c) {
          if (c && c.id === selectedId) { selected = c; renderPanel(); }
          refreshCalls();
          refreshSelected();
          return true;
        })
        .catch(function (err) {
          error.textContent = T("command.failed") + ": " + err.message;
          error.hidden = false;
          return false;
        })
        .then(function (ok) {
          button.disabled = false;
          if (ok && body.note !== undefined) document.querySelector('#note-form textarea[name="note"]').value = "";
        });
    }

    document.getElementById("assign-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var picked = this.querySelector('input[name="responder_id"]:checked');
      if (!picked) return;
      takeOver("assign", { responder_id: Number(picked.value) }, document.getElementById("assign-submit"));
    });
    document.getElementById("note-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var button = e.submitter || document.getElementById("callback-submit");
      var what = button.value;
      var note = this.querySelector('textarea[name="note"]').value.trim();
      takeOver(what, { note: note }, button);
    });

    // -- responders, every poll: markers moved and restyled in place --
    function responderStyle(r) {
      var look = RESPONDER_LOOK[r.state] || RESPONDER_LOOK.idle;
      return {
        radius: look.radius, color: look.color, weight: look.weight, dashArray: look.dashArray || null,
        fillColor: r.stale ? STALE_COLOUR : TEAM_COLOURS[r.team] || STALE_COLOUR,
        fillOpacity: r.stale ? 0.55 : 0.95, opacity: r.stale ? 0.6 : 1,
      };
    }
    function responderTip(r) {
      return r.name + " · " + teamName(r.team) + " · " + T("call.rstate." + r.state) + (r.stale ? " · " + T("command.stale") : "");
    }

    function drawResponders() {
      if (!map) return;
      var drawn = 0;
      responders.forEach(function (r) {
        var shown = r.on_duty && r.lat !== null && r.lat !== undefined && r.lon !== null && r.lon !== undefined;
        var marker = responderMarkers.get(r.id);
        if (!shown) {
          if (marker) { map.removeLayer(marker); responderMarkers.delete(r.id); }
          return;
        }
        drawn += 1;
        var look = r.state + (r.stale ? ":stale" : "") + ":" + r.team;
        if (!marker) {
          ensureView(r.lat, r.lon);
          var style = responderStyle(r);
          style.renderer = canvas;
          style.pane = "responders";
          marker = L.circleMarker([r.lat, r.lon], style).bindTooltip(responderTip(r));
          marker.on("click", function () { pickResponder(r.id); });
          marker.look = look;
          marker.addTo(map);
          responderMarkers.set(r.id, marker);
          return;
        }
        var at = marker.getLatLng();
        if (at.lat !== r.lat || at.lng !== r.lon) marker.setLatLng([r.lat, r.lon]);
        if (marker.look !== look) {
          marker.look = look;
          marker.setStyle(responderStyle(r));
          marker.setTooltipContent(responderTip(r));
        }
      });
      responderMarkers.forEach(function (marker, id) {
        if (!responders.has(id)) { map.removeLayer(marker); responderMarkers.delete(id); }
      });
      mapNode.setAttribute("data-responders-drawn", drawn);
    }

    // A responder clicked on the map becomes the one to assign, when listed.
    function pickResponder(id) {
      var input = document.querySelector('#assign-list input[value="' + id + '"]');
      if (input) input.checked = true;
    }

    // Every page of the list, then drawn at once.
    function allResponders(after, into) {
      var url = cfg.responders + "&limit=5000" + (after ? "&after=" + after : "");
      return get(url).then(function (res) {
        (res.items || []).forEach(function (r) { into.set(r.id, r); });
        return res.next_after ? allResponders(res.next_after, into) : into;
      });
    }

    function pollResponders() {
      return allResponders(null, new Map()).then(function (next) {
        var onDuty = 0;
        next.forEach(function (r) { if (r.on_duty) onDuty += 1; });
        responders = next;
        document.getElementById("on-duty").textContent = numberFormat.format(onDuty);
        drawResponders();
        renderAssign();
      });
    }

    // -- sound: the operator's click allows it --
    var soundButton = document.getElementById("sound-toggle");
    function showSound(on) {
      soundButton.setAttribute("aria-pressed", on ? "true" : "false");
      soundButton.textContent = T(on ? "command.sound_on" : "command.sound_off");
    }
    soundButton.addEventListener("click", function () {
      unlockSound().then(function (on) { showSound(on); if (on) beep(); });
    });
    document.addEventListener("pointerdown", function once() {
      document.removeEventListener("pointerdown", once);
      unlockSound().then(showSound);
    });

    // -- live --
    var liveState = document.getElementById("live-state");
    listen(cfg.events, function (change) {
      refreshCalls();
      if (!change || (selected && change.case_id === selected.case_id)) refreshSelected();
    }, function (state) {
      liveState.setAttribute("data-state", state);
      liveState.textContent = T(state === "on" ? "command.live.on" : "command.live.off");
      // Back after a gap: what happened meanwhile.
      if (state === "on") { refreshCalls(); refreshSelected(); }
    });
    refreshCalls();
    every(cfg.poll_ms || 2000, pollResponders);
    // Should the stream stall without an error, the list is still re-read now and then.
    setInterval(refreshCalls, 15000);
    var fromHash = /^#call-(\d+)$/.exec(window.location.hash);
    if (fromHash) select(Number(fromHash[1]), true);
  }

  // ======================================================================
  // The responder's phone page
  // ======================================================================

  function amapLink(lat, lon, gaode, name) {
    return "https://uri.amap.com/marker?position=" + Number(lon).toFixed(6) + "," + Number(lat).toFixed(6) +
      "&name=" + encodeURIComponent(name) + "&coordinate=" + (gaode ? "gaode" : "wgs84") + "&callnative=1";
  }

  function setUpResponder(section) {
    var cfg = live(section);
    var error = document.getElementById("responder-error");
    var flash = document.getElementById("responder-flash");
    var toggle = document.getElementById("duty-toggle");
    var positionLine = document.getElementById("position-state");
    var me = null;
    var stopPolling = null;
    var watchId = null, sendTimer = null;
    var fix = null, sentFix = null, sending = false;
    var hadTask = null;
    var shownOffer = null;
    // The GCJ-02 point of each offer, kept for the navigation link once it is a task.
    var gcj = {};
    try { gcj = JSON.parse(sessionStorage.getItem("civicgrid.gcj02") || "{}") || {}; } catch (e) { gcj = {}; }

    function say(node, text) {
      node.textContent = text;
      node.hidden = !text;
    }
    function fail(err, prefix) {
      say(error, T(prefix || "responder.failed") + (err && err.message ? ": " + err.message : ""));
    }

    // -- position: watched while on duty, the latest fix sent every few seconds --
    function positionState(text, state) {
      positionLine.textContent = text;
      positionLine.setAttribute("data-state", state);
    }
    function onFix(p) {
      fix = p;
      if (!sentFix) sendFix();
    }
    function onFixError(e) {
      var denied = e && e.code === 1;
      positionState(T(denied ? "responder.position.denied" : "responder.position.unavailable"), denied ? "denied" : "unavailable");
    }
    function startWatch() {
      if (watchId !== null) return;
      if (!navigator.geolocation) { positionState(T("responder.position.denied"), "denied"); return; }
      positionState(T("responder.position.waiting"), "waiting");
      watchId = navigator.geolocation.watchPosition(onFix, onFixError, { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 });
      sendTimer = setInterval(sendFix, cfg.send_every_ms || 5000);
    }
    function stopWatch() {
      if (watchId !== null && navigator.geolocation) navigator.geolocation.clearWatch(watchId);
      watchId = null;
      clearInterval(sendTimer);
      sendTimer = null;
      fix = null;
      sentFix = null;
      positionState(T("responder.position.off"), "off");
    }
    function sendFix() {
      if (!fix || sending) return;
      // A phone standing still may not report again: ask afresh rather than resend an old fix.
      if (Date.now() - fix.timestamp > 30000 && navigator.geolocation) {
        navigator.geolocation.getCurrentPosition(onFix, function () {}, { enableHighAccuracy: true, maximumAge: 0, timeout: 20000 });
      }
      var f = fix;
      var body = { lat: f.coords.latitude, lon: f.coords.longitude, crs: "wgs84", at: new Date(f.timestamp).toISOString() };
      if (isFinite(f.coords.accuracy)) body.accuracy_m = Math.round(f.coords.accuracy);
      sending = true;
      request("POST", cfg.locations, body).then(function () {
        sentFix = f;
        var at = new Date().toISOString();
        section.setAttribute("data-position-sent", at);
        positionState(T("responder.position.sent", { time: clock(at), m: body.accuracy_m === undefined ? "?" : body.accuracy_m }), "sent");
      }, function (err) {
        positionState(T("responder.position.failed") + ": " + err.message, "failed");
      }).then(function () { sending = false; });
    }

    // -- duty --
    toggle.addEventListener("click", function () {
      if (!me) return;
      var want = !me.on_duty;
      // The tap allows sound for the offers to come.
      unlockSound();
      toggle.disabled = true;
      error.hidden = true;
      request("PUT", cfg.duty, { on_duty: want }).then(function (item) {
        me = Object.assign({}, me, item || {}, { on_duty: item && item.on_duty !== undefined ? item.on_duty : want });
        render();
        poll();
      }, function (err) { fail(err); }).then(function () { toggle.disabled = false; });
    });

    // -- offers --
    function answer(accept) {
      var offer = me && me.offer;
      if (!offer) return;
      var buttons = [document.getElementById("offer-accept"), document.getElementById("offer-decline")];
      buttons.forEach(function (b) { b.disabled = true; });
      error.hidden = true;
      request("POST", cfg.call + encodeURIComponent(offer.call_id) + "/answer", { accept: accept }).then(function () {
        poll();
      }, function (err) {
        if (err.status === 409) say(error, T(err.code === "taken" ? "responder.taken" : "responder.expired"));
        else fail(err);
        poll();
      }).then(function () { buttons.forEach(function (b) { b.disabled = false; }); });
    }
    document.getElementById("offer-accept").addEventListener("click", function () { answer(true); });
    document.getElementById("offer-decline").addEventListener("click", function () { answer(false); });

    // -- steps --
    function progress(body, button) {
      var task = me && me.task;
      if (!task) return Promise.resolve();
      button.disabled = true;
      error.hidden = true;
      return request("POST", cfg.call + encodeURIComponent(task.id) + "/progress", body).then(function () {
        poll();
      }, function (err) { fail(err); }).then(function () { button.disabled = false; });
    }
    ["en_route", "on_scene"].forEach(function (step) {
      var b = document.getElementById("step-" + step);
      b.addEventListener("click", function () { progress({ step: step }, b); });
    });
    var doneForm = document.getElementById("done-form");
    doneForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var note = doneForm.querySelector('textarea[name="note"]').value.trim();
      var button = document.getElementById("step-done");
      if (!note) { say(error, T("responder.note_needed")); return; }
      var input = doneForm.querySelector('input[type="file"]');
      button.disabled = true;
      button.textContent = T("responder.busy");
      var photos = cfg.attachments && input ? uploadPhotos(cfg.attachments, input) : Promise.resolve([]);
      photos.then(function (ids) {
        var body = { step: "done", note: note };
        if (ids.length) body.photos = ids;
        return progress(body, button);
      }, function (err) { fail(err, "responder.upload_failed"); })
        .then(function () {
          button.disabled = false;
          button.textContent = T("responder.done");
        });
    });

    // -- what the page shows, from the last read --
    function render() {
      if (!me) return;
      toggle.disabled = false;
      var onDuty = !!me.on_duty;
      document.getElementById("responder-name").textContent =
        [me.name, teamName(me.team), me.grid_name].filter(Boolean).join(" · ");
      document.getElementById("duty-card").setAttribute("data-on-duty", onDuty ? "true" : "false");
      document.getElementById("duty-state").textContent = T(onDuty ? "responder.on_duty" : "responder.off_duty");
      toggle.textContent = T(onDuty ? "responder.go_off" : "responder.go_on");
      toggle.setAttribute("aria-pressed", onDuty ? "true" : "false");
      if (onDuty) startWatch(); else if (watchId !== null) stopWatch();

      var offer = me.offer, task = me.task;
      var offerCard = document.getElementById("offer-card");
      var taskCard = document.getElementById("task-card");
      var idleCard = document.getElementById("idle-card");
      offerCard.hidden = !offer || !!task;
      taskCard.hidden = !task;
      idleCard.hidden = !!offer || !!task;
      section.setAttribute("data-state", task ? "task" : offer ? "offer" : onDuty ? "idle" : "off");

      if (offer && !task) {
        if (offer.gcj02 && !gcj[offer.call_id]) {
          gcj[offer.call_id] = offer.gcj02;
          try { sessionStorage.setItem("civicgrid.gcj02", JSON.stringify(gcj)); } catch (e) { /* private mode */ }
        }
        if (shownOffer !== offer.call_id) {
          shownOffer = offer.call_id;
          beep();
          if (navigator.vibrate) navigator.vibrate([300, 150, 300]);
        }
        offerCard.setAttribute("data-call", offer.call_id);
        document.getElementById("offer-kind").textContent = kindName(offer.kind);
        document.getElementById("offer-where").textContent = whereText(offer);
        document.getElementById("offer-distance").textContent = T("responder.offer_distance", {
          far: metres(offer.distance_m), min: minutes(offer.walk_s),
        });
        var count = document.getElementById("offer-countdown-text");
        count.setAttribute("data-expires", offer.expires_at);
        var whole = Date.parse(offer.expires_at) - Date.parse(offer.offered_at);
        var left = Date.parse(offer.expires_at) - serverNow();
        count.textContent = T("calls.seconds", { s: secondsLeft(offer.expires_at) });
        var barNode = document.getElementById("offer-countdown-bar");
        barNode.style.width = (whole > 0 ? Math.max(0, Math.min(1, left / whole)) * 100 : 0).toFixed(1) + "%";
      } else {
        shownOffer = null;
        document.getElementById("offer-countdown-text").removeAttribute("data-expires");
      }

      if (task) {
        hadTask = task.id;
        taskCard.setAttribute("data-call", task.id);
        taskCard.setAttribute("data-state", task.state);
        document.getElementById("task-number").textContent = task.case_number || "";
        document.getElementById("task-kind").textContent = kindName(task.kind);
        var badge = document.getElementById("task-state");
        badge.className = "badge call-state call-state-" + task.state;
        badge.textContent = T("call.state." + task.state);
        document.getElementById("task-where").textContent = whereText(task);
        var point = task.gcj02 || gcj[task.id];
        var name = kindName(task.kind) + " · " + (task.grid_name || task.address || "");
        document.getElementById("task-navigate").href = point
          ? amapLink(point.lat, point.lon, true, name)
          : amapLink(task.lat, task.lon, false, name);
        document.getElementById("step-en_route").hidden = task.state !== "accepted";
        document.getElementById("step-on_scene").hidden = !(task.state === "accepted" || task.state === "en_route");
        doneForm.hidden = task.state !== "on_scene";
      } else {
        if (hadTask !== null) {
          say(flash, T("responder.finished"));
          setTimeout(function () { flash.hidden = true; }, 8000);
          doneForm.reset();
        }
        hadTask = null;
        document.getElementById("idle-text").textContent = T(onDuty ? "responder.waiting" : "responder.off_hint");
      }
    }

    function poll() {
      return get(cfg.me).then(function (item) {
        me = item;
        render();
      }, function (err) {
        if (err.status === 404) {
          say(error, T("responder.not_linked"));
          section.setAttribute("data-state", "unlinked");
          toggle.disabled = true;
          if (stopPolling) stopPolling();
          stopWatch();
        }
      });
    }
    stopPolling = every(cfg.poll_ms || 1000, poll);
  }

  // ======================================================================
  // The caller's page
  // ======================================================================

  var ACTIVE_CALL = "civicgrid.call";

  function setUpCaller(section) {
    var cfg = live(section);
    var button = document.getElementById("call-button");
    var positionLine = document.getElementById("call-position");
    var error = document.getElementById("call-error");
    var status = document.getElementById("call-status");
    var fix = null, fixError = null;
    var key = null;          // the Idempotency-Key of the press being sent
    var busy = false;
    var call = null;
    var stopPolling = null;
    // The caller's registered address: where a call without a position goes.
    var home = cfg.home || null;
    var useHome = document.getElementById("call-use-home");

    function say(node, text) {
      node.textContent = text;
      node.hidden = !text;
    }
    function positionState(text, state) {
      positionLine.textContent = text;
      positionLine.setAttribute("data-state", state);
    }

    // -- position: asked for as the page opens, so a press goes out at once --
    function onFix(p) {
      fix = p;
      fixError = null;
      var m = Math.round(p.coords.accuracy || 0);
      positionState(m > 0 ? T("call.position.ok", { m: m }) : T("call.position.found"), "ok");
    }
    function onFixError(e) {
      fixError = e && e.code === 1 ? "denied" : "unavailable";
      if (home) positionState(T("call.position.home_fallback"), fixError);
      else positionState(T("call.position." + fixError), fixError);
    }
    if (navigator.geolocation) {
      navigator.geolocation.watchPosition(onFix, onFixError, { enableHighAccuracy: true, maximumAge: 10000, timeout: 20000 });
    } else {
      onFixError({ code: 1 });
    }
    // A position asked for now, for a press made before one arrived.
    function position() {
      if (fix) return Promise.resolve(fix);
      if (!navigator.geolocation) { onFixError({ code: 1 }); return Promise.reject({ code: 1 }); }
      return new Promise(function (resolve, reject) {
        navigator.geolocation.getCurrentPosition(function (p) { onFix(p); resolve(p); }, function (e) { onFixError(e); reject(e); },
          { enableHighAccuracy: true, maximumAge: 10000, timeout: 15000 });
      });
    }

    // -- the press: one key per press, kept for its retries --
    function place() {
      if (busy || (call && OPEN[call.state])) return;
      busy = true;
      error.hidden = true;
      button.disabled = true;
      section.setAttribute("data-state", "locating");
      var kind = (document.querySelector('#call-kinds input[name="kind"]:checked') || {}).value || "other";
      // Without a position (refused, unavailable, or the caller's choice) a
      // caller with a registered address calls from there: the server places it.
      var where = home && useHome && useHome.checked ? Promise.resolve(null) : position().catch(function (e) {
        if (home) return null;
        throw e;
      });
      where.then(function (p) {
        if (!key) key = CG.randomKey();
        section.setAttribute("data-state", "sending");
        showStatus(null, T("call.sending"));
        var body = p ? { lat: p.coords.latitude, lon: p.coords.longitude, crs: "wgs84", kind: kind } : { kind: kind };
        return send(body, 0);
      }, function () {
        // No position, no call: the line under the button says why (set by
        // onFixError), and shakes so the press is seen to have been heard.
        section.setAttribute("data-state", "no-position");
        status.hidden = true;
        positionLine.classList.remove("again");
        void positionLine.offsetWidth;
        positionLine.classList.add("again");
        return null;
      }).then(function (c) {
        if (c) {
          key = null;
          follow(c);
        }
      }).catch(function (err) {
        status.hidden = true;
        say(error, T("call.failed") + ": " + err.message);
        section.setAttribute("data-state", "failed");
        // A refusal is final; a lost answer is not: the next press retries with the same key.
        if (err.status >= 400 && err.status < 500 && err.status !== 429) key = null;
      }).then(function () {
        busy = false;
        button.disabled = !!(call && OPEN[call.state]);
      });
    }

    var BACKOFF = [1000, 2000, 4000];
    function send(body, attempt) {
      return request("POST", cfg.calls, body, { "Idempotency-Key": key }).catch(function (err) {
        var retry = err.status === 0 || err.status >= 500 || err.status === 429;
        if (!retry || attempt >= BACKOFF.length) throw err;
        showStatus(null, T("call.retrying"));
        return new Promise(function (resolve) { setTimeout(resolve, BACKOFF[attempt]); })
          .then(function () { return send(body, attempt + 1); });
      });
    }
    button.addEventListener("click", place);

    // -- following the call --
    function statusText(c) {
      var text = stateText(c);
      if (c.address && c.located_by && c.located_by !== "position") text += " " + T("call.sent_to_address", { address: c.address });
      return text;
    }
    function stateText(c) {
      var o = c.owner;
      switch (c.state) {
        case "dispatching": return T("call.dispatching");
        case "alarmed": return T("call.alarmed");
        case "accepted":
        case "en_route":
          if (!o) return T("call.dispatching");
          return T("call.coming." + (o.team || "other"), { name: o.first_name, min: minutes(o.eta_s) });
        case "on_scene": return T("call.arrived", { name: o ? o.first_name : "" });
        case "done": return T("call.done");
        default: return T("call.state." + c.state);
      }
    }
    function showStatus(c, text) {
      status.hidden = false;
      status.setAttribute("data-state", c ? c.state : "sending");
      document.getElementById("call-status-text").textContent = text || statusText(c);
      document.getElementById("call-number").textContent = c && c.case_number ? c.case_number : "…";
      document.getElementById("call-status-kind").textContent = c ? kindName(c.kind) : "";
      var follow = document.getElementById("call-follow");
      follow.hidden = !c;
      if (c) follow.href = "/cases/" + encodeURIComponent(c.case_id);
      document.getElementById("call-again").hidden = !c || !!OPEN[c.state];
    }
    function show(c) {
      call = c;
      showStatus(c);
      section.setAttribute("data-state", c.state);
      button.disabled = !!OPEN[c.state];
      button.classList.toggle("active", !!OPEN[c.state]);
      if (!OPEN[c.state]) {
        try { localStorage.removeItem(ACTIVE_CALL); } catch (e) { /* private mode */ }
        if (stopPolling) { stopPolling(); stopPolling = null; }
      }
    }
    var reread = coalesce(function () {
      if (!call) return null;
      return get(cfg.call + encodeURIComponent(call.id)).then(show);
    });
    function follow(c) {
      try { localStorage.setItem(ACTIVE_CALL, String(c.id)); } catch (e) { /* private mode */ }
      show(c);
      if (OPEN[c.state] && !stopPolling) stopPolling = every(cfg.poll_ms || 2000, reread);
    }
    // The caller reported the call's case, so its events reach them: re-read at once.
    listen(cfg.events, function (change) {
      if (call && (!change || change.case_id === call.case_id)) reread();
    }, function () {});

    document.getElementById("call-again").addEventListener("click", function () {
      call = null;
      status.hidden = true;
      button.disabled = false;
      button.classList.remove("active");
      section.setAttribute("data-state", "ready");
    });

    // A call still open from before the page was reloaded.
    var before = null;
    try { before = localStorage.getItem(ACTIVE_CALL); } catch (e) { before = null; }
    if (before) {
      get(cfg.call + encodeURIComponent(before)).then(function (c) {
        if (OPEN[c.state]) follow(c); else localStorage.removeItem(ACTIVE_CALL);
      }, function () {
        try { localStorage.removeItem(ACTIVE_CALL); } catch (e) { /* private mode */ }
      });
    }
  }

  var command = document.getElementById("command");
  if (command) setUpCommand(command);
  var responder = document.getElementById("responder");
  if (responder) setUpResponder(responder);
  var caller = document.getElementById("caller");
  if (caller) setUpCaller(caller);
})();
