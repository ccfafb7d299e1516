// IncidentRelay: progressive enhancement only. Everything works without this file.
(function () {
  "use strict";
  // Phones start with the menu folded.
  var menu = document.querySelector("details.menu");
  if (menu && window.matchMedia("(max-width: 720px)").matches) menu.removeAttribute("open");

  // A form sent back with errors: go to the first one (the summary at the top lists them all).
  var bad = document.querySelector(".field.invalid input, .field.invalid select, .field.invalid textarea");
  var summary = document.getElementById("form-errors");
  if (bad) bad.focus(); else if (summary) summary.focus();

  // Switching a new channel's type keeps what was typed for its team and name.
  document.querySelectorAll("a[data-keep]").forEach(function (a) {
    a.addEventListener("click", function () {
      var form = a.closest("form");
      if (!form) return;
      var parts = a.getAttribute("href").split("#");
      a.getAttribute("data-keep").split(" ").forEach(function (name) {
        var f = form.elements[name];
        if (f && f.value) parts[0] += "&" + encodeURIComponent(name) + "=" + encodeURIComponent(f.value);
      });
      a.setAttribute("href", parts.join("#"));
    });
  });

  // Confirm destructive buttons.
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  });

  // Selects that apply themselves (the active group).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });

  // Copy buttons.
  document.querySelectorAll("[data-copy]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var el = document.getElementById(b.getAttribute("data-copy"));
      if (!el || !navigator.clipboard) return;
      navigator.clipboard.writeText(el.textContent.trim()).then(function () {
        var t = b.textContent; b.textContent = "Copied"; setTimeout(function () { b.textContent = t; }, 1500);
      });
    });
  });

  // New channel: each type has its own fields — choosing another type loads its form.
  var kind = document.querySelector("form[action='/channels'] #f-channel_type");
  if (kind) {
    kind.addEventListener("change", function () {
      var team = kind.form.querySelector("[name=team_id]");
      window.location = "/channels?channel_type=" + encodeURIComponent(kind.value) +
        (team && team.value ? "&team_id=" + encodeURIComponent(team.value) : "") + "#new";
    });
  }

  // Routes: "Try a payload" answers as you type, through the simulate endpoint (nothing is
  // stored). Without JavaScript the form posts and the page shows the result.
  document.querySelectorAll("form[data-simulate]").forEach(function (form) {
    var box = form.querySelector("textarea[name=payload]"), out = form.querySelector(".simulation");
    var csrf = form.querySelector("input[name=csrf]").value, timer = null;
    var esc = function (t) { var d = document.createElement("div"); d.textContent = t; return d.innerHTML; };
    var run = function () {
      fetch(form.getAttribute("data-simulate"), {
        method: "POST", credentials: "same-origin", body: box.value,
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }
      }).then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
        .then(function (res) {
          if (!res.ok) {
            var details = (res.j.details || []).map(function (d) { return "<p>" + esc(d.field + ": " + d.message) + "</p>"; }).join("");
            out.innerHTML = '<div class="flash error">' + esc(res.j.message || "invalid") + details + "</div>";
            return;
          }
          out.innerHTML = '<div class="flash ok">' + (res.j.alerts || []).map(function (a) {
            return "<p><strong>" + esc(a.alert.title) + "</strong> — " + (a.matched ? "accepted" : "rejected by the matchers") +
              ": " + esc(a.decision) + "</p>" + a.matcher_failures.map(function (f) { return '<p class="error">' + esc(f) + "</p>"; }).join("");
          }).join("") + "</div>";
        }).catch(function () {});
    };
    form.addEventListener("submit", function (e) { e.preventDefault(); run(); });
    box.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 400); });
  });

  // Rotations: adding a layer previews the final schedule it would give (the next 7 days) as the
  // form changes, through the preview endpoint (nothing is saved).
  document.querySelectorAll("form[data-preview]").forEach(function (form) {
    var out = form.querySelector(".layer-preview"), csrf = form.querySelector("input[name=csrf]").value, timer = null;
    var existing = JSON.parse(form.getAttribute("data-layers") || "[]"), tz = form.getAttribute("data-tz") || "UTC";
    var esc = function (t) { var d = document.createElement("div"); d.textContent = t; return d.innerHTML; };
    var fmt = new Intl.DateTimeFormat(undefined, { timeZone: tz, weekday: "short", hour: "2-digit", minute: "2-digit", hour12: false });
    var when = function (s, e) { return fmt.format(new Date(s)) + " → " + fmt.format(new Date(e)); };
    var value = function (n) { var el = form.querySelector("[name=" + n + "]"); return el ? el.value : ""; };
    var ticked = function (n) {
      return Array.prototype.map.call(form.querySelectorAll("input[name=" + n + "]:checked"), function (i) { return parseInt(i.value, 10); });
    };
    var run = function () {
      var layer = { rotation_type: value("rotation_type") || "daily", handoff_time: value("handoff_time"), members: ticked("members"),
        position: existing.reduce(function (m, l) { return Math.max(m, l.position || 0); }, 0) + 1, restrictions: [] };
      if (value("start_at")) layer.start_at = value("start_at");
      var days = ticked("days");
      if (days.length) layer.restrictions = [{ days: days, start: value("from"), end: value("until") }];
      fetch(form.getAttribute("data-preview"), {
        method: "POST", credentials: "same-origin", body: JSON.stringify({ layers: existing.concat([layer]), days: 7 }),
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }
      }).then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
        .then(function (res) {
          if (!res.ok) {
            out.innerHTML = '<p class="error">' + esc((res.j.details || []).map(function (d) { return d.field + ": " + d.message; }).join("; ") || res.j.message || "invalid") + "</p>";
            return;
          }
          var items = res.j.shifts.slice(0, 12).map(function (s) { return "<li><strong>" + esc(s.username) + "</strong> " + esc(when(s.start, s.end)) + "</li>"; })
            .concat(res.j.gaps.slice(0, 5).map(function (g) { return '<li class="error">nobody ' + esc(when(g.start, g.end)) + "</li>"; }));
          out.innerHTML = "<p><strong>Preview</strong>: the next 7 days with this layer (" + esc(tz) + ")</p><ul>" + items.join("") + "</ul>";
        }).catch(function () {});
    };
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 300); });
    form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(run, 300); });
  });

  // Relative times stay fresh.
  function rel(t) {
    var d = Math.round((Date.now() - Date.parse(t)) / 1000), a = Math.abs(d), s;
    if (a < 45) return d >= 0 ? "just now" : "in a moment";
    if (a < 3600) s = Math.round(a / 60) + " min";
    else if (a < 86400) s = Math.round(a / 3600) + " h";
    else s = Math.round(a / 86400) + " d";
    return d >= 0 ? s + " ago" : "in " + s;
  }
  // The absolute part is in the viewer's zone (their profile's); the relative part stays fresh.
  function refreshTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var r = el.querySelector(".rel");
      if (r) r.textContent = "(" + rel(el.getAttribute("datetime")) + ")";
    });
  }

  // Auto-refresh a live region in place: filters, scroll position and selections survive
  // (it pauses while something is selected or focused inside it).
  var live = document.getElementById("live");
  if (live && window.fetch && window.DOMParser) {
    var every = (parseInt(live.getAttribute("data-refresh"), 10) || 30) * 1000;
    setInterval(function () {
      if (document.hidden) return;
      if (live.querySelector("input:checked") || live.contains(document.activeElement)) return;
      fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "refresh" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
          if (fresh) { live.innerHTML = fresh.innerHTML; refreshTimes(live); }
        })
        .catch(function () {});
    }, every);
  }
  setInterval(function () { refreshTimes(); }, 60000);
})();
