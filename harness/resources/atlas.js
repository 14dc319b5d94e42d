// wheelclash atlas page (atlas.html). A square's link (data-square="sq-M-I-J") shows that
// square's details in the panel and marks the square; the address keeps it (#sq-M-I-J), so
// a square can be linked to. The culprit table's links do the same.
(function () {
  "use strict";
  var panel = document.getElementById("details");
  function show(id) {
    var found = id ? document.getElementById(id) : null;
    if (!found || !found.classList.contains("square-details")) return false;
    panel.querySelectorAll(".square-details").forEach(function (s) { s.hidden = s !== found; });
    document.querySelectorAll("td.sq.selected").forEach(function (td) {
      td.classList.remove("selected");
    });
    var link = document.querySelector('td.sq a[data-square="' + id + '"]');
    if (link) link.parentElement.classList.add("selected");
    document.getElementById("details-empty").hidden = true;
    panel.dataset.shown = id;
    return true;
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-square]");
    if (!link || !show(link.dataset.square)) return;
    event.preventDefault();
    history.replaceState(null, "", "#" + link.dataset.square);
    if (panel.getBoundingClientRect().top < 0 || window.innerWidth <= 1000) panel.scrollIntoView();
  });
  window.addEventListener("hashchange", function () { show(location.hash.slice(1)); });
  show(location.hash.slice(1));
  document.body.dataset.atlasReady = "1";
})();
