/* The admin pages' behaviour, kept out of the HTML: the pages' Content-Security-Policy allows no inline script.
   Every page works without it; it only saves clicks and reloads. */
(function () {
  "use strict";
  document.documentElement.classList.add("js"); /* the buttons that only serve pages without script can go */
  /* a <select data-autosubmit> sends its form as soon as it changes (the tenant switcher, the language) */
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  /* read-only fields to copy (webhook URL, verify token): one click selects the whole value */
  document.querySelectorAll("input[data-copy]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });

  /* Knowledge: while a document is queued or being read, its progress bar follows the server; once one is ready
     or failed the page reloads, so its status, chunk count and error are shown in the reader's language. */
  var table = document.querySelector("table[data-poll]");
  if (!table) return;
  function poll() {
    fetch(table.getAttribute("data-poll"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error("status " + r.status); return r.json(); })
      .then(function (body) {
        var changed = false, unfinished = false;
        body.documents.forEach(function (doc) {
          var row = table.querySelector('tr[data-document="' + Number(doc.id) + '"]');
          if (!row) { changed = true; return; }
          if (row.getAttribute("data-status") !== doc.status) changed = true;
          if (doc.status === "queued" || doc.status === "processing") unfinished = true;
          var bar = row.querySelector("progress");
          if (bar) bar.value = doc.progress;
        });
        if (changed) { location.reload(); return; }
        if (unfinished) setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
