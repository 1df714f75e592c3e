// Live delivery states in the sent folder: every 5 seconds, fetch the states
// and update each recipient's badge. The page works without this script.
(function () {
  "use strict";
  function refresh(table) {
    fetch(table.getAttribute("data-live-status"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (states) {
        if (!states) { return; }
        table.querySelectorAll("[data-track]").forEach(function (el) {
          var key = el.getAttribute("data-track");
          var cut = key.lastIndexOf("|");
          var rows = states[key.slice(0, cut)] || [];
          rows.forEach(function (row) {
            if (row.address === key.slice(cut + 1) && el.textContent !== row.state) {
              el.textContent = row.state;
              el.className = "state state-" + row.state;
              if (row.detail) { el.title = row.detail; }
            }
          });
        });
      })
      .catch(function () {});
  }
  document.addEventListener("DOMContentLoaded", function () {
    var table = document.querySelector("[data-live-status]");
    if (table) { setInterval(function () { refresh(table); }, 5000); }
  });
})();
