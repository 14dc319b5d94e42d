// wheelclash HTML report filters. Elements with class "f" carry data-verdicts (space
// separated), data-scenario, data-target, data-unexpected ("1" or "0") and data-baseline.
// The filter state lives in the address (#f:verdict=segfault&unexpected=1), so a filtered
// view can be linked to; #cell-N opens that cell's details.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  var keys = ["verdict", "scenario", "target", "baseline"];
  function control(name) { return form.elements.namedItem(name); }
  function state() {
    var s = {};
    keys.forEach(function (k) { var c = control(k); s[k] = c ? c.value : ""; });
    s.unexpected = control("unexpected").checked;
    return s;
  }
  function keep(el, s) {
    var d = el.dataset;
    if (s.verdict && (" " + d.verdicts + " ").indexOf(" " + s.verdict + " ") < 0) return false;
    if (s.scenario && d.scenario !== s.scenario) return false;
    if (s.target && d.target !== s.target) return false;
    if (s.baseline && d.baseline !== s.baseline) return false;
    if (s.unexpected && d.unexpected !== "1") return false;
    return true;
  }
  function apply() {
    var s = state(), shown = 0, all = 0;
    document.querySelectorAll(".f").forEach(function (el) {
      var ok = keep(el, s);
      el.classList.toggle("off", !ok);
      if (el.tagName === "DETAILS") { all += 1; if (ok) shown += 1; }
    });
    document.querySelectorAll("section.table").forEach(function (sec) {
      sec.classList.toggle("off", !sec.querySelector("td.f:not(.off)"));
    });
    document.getElementById("shown").textContent = shown + " of " + all + " cells shown";
    var parts = [];
    keys.forEach(function (k) { if (s[k]) parts.push(k + "=" + encodeURIComponent(s[k])); });
    if (s.unexpected) parts.push("unexpected=1");
    var hash = parts.length ? "#f:" + parts.join("&") : "";
    if (location.hash.indexOf("#cell-") !== 0 && hash !== location.hash) {
      history.replaceState(null, "", hash || location.pathname + location.search);
    }
  }
  function fromHash() {
    var h = decodeURIComponent(location.hash || "");
    if (h.indexOf("#cell-") === 0) {
      var target = document.getElementById(h.slice(1));
      if (target) { target.open = true; target.scrollIntoView(); }
      return;
    }
    if (h.indexOf("#f:") !== 0) return;
    h.slice(3).split("&").forEach(function (pair) {
      var i = pair.indexOf("="), k = pair.slice(0, i), v = pair.slice(i + 1);
      if (k === "unexpected") { control("unexpected").checked = v === "1"; }
      else if (keys.indexOf(k) >= 0 && control(k)) { control(k).value = v; }
    });
  }
  form.addEventListener("change", apply);
  window.addEventListener("hashchange", function () { fromHash(); apply(); });
  fromHash();
  apply();
  document.body.dataset.filtersReady = "1";
})();
