/* The admin pages' behaviour, kept out of the HTML: the pages' Content-Security-Policy allows no inline script. */
(function () {
  "use strict";
  /* a <select data-autosubmit> sends its form as soon as it changes (the tenant switcher) */
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
