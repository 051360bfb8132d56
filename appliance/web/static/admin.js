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
  inbox();
  ruleForm();

  /* Rules: the rule form shows only the fields of the match type chosen (without script, all are shown with a
     note saying which type each one is for) */
  function ruleForm() {
    var type = document.getElementById("f-match_type");
    if (!type || !document.getElementById("rule-form")) return;
    var parts = {keyword: ["mode", "keywords"], regex: ["pattern"], payload: ["payload"], event: ["event"]};
    function show() {
      Object.keys(parts).forEach(function (kind) {
        parts[kind].forEach(function (name) {
          var control = document.getElementById("f-" + name);
          if (control) control.closest(".field").hidden = kind !== type.value;
        });
      });
    }
    type.addEventListener("change", show);
    show();
  }

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

  /* Inbox: the tenant's event stream moves a conversation with a new message to the top of the list (bumping its
     unread count), and adds new messages and delivery statuses to the open conversation. Customer text is only
     ever set as textContent. The browser's EventSource resumes by itself with Last-Event-ID. */
  function inbox() {
    var list = document.querySelector("[data-inbox]");
    var open = document.querySelector("[data-open-conversation]");
    var source = (list || open);
    if (!source || !window.EventSource) return;
    var labels = {};
    document.querySelectorAll("[data-labels] [data-label]").forEach(function (el) {
      labels[el.getAttribute("data-label")] = el.textContent;
    });
    var stream = new EventSource(source.getAttribute("data-events"));
    function on(name, handle) {
      stream.addEventListener(name, function (e) { handle(JSON.parse(e.data)); });
    }
    on("message.in", function (ev) { message(ev, true); });
    on("message.out", function (ev) { message(ev, false); });
    on("message.status", function (ev) { if (open) status(ev.data); });
    ["conversation.handoff", "conversation.assigned", "conversation.resumed", "conversation.closed"].forEach(
      function (name) { on(name, function (ev) { state(ev.conversation_id, ev.data.status); }); });
    on("ready", function () { source.setAttribute("data-live", "ready"); }); /* tests and styles can tell */
    on("reset", function () { /* events were missed (no longer kept): say so instead of showing a wrong page */
      var note = document.createElement("div");
      note.className = "flash flash-error";
      note.setAttribute("role", "status");
      note.textContent = labels.reload || "";
      document.getElementById("main").insertBefore(note, document.getElementById("main").firstChild);
    });

    function message(ev, inbound) {
      if (list) listed(ev, inbound);
      if (open && Number(open.getAttribute("data-open-conversation")) === ev.conversation_id) appended(ev.data);
    }
    function listed(ev, inbound) {
      var id = ev.conversation_id, text = ev.data.text;
      var row = list.querySelector('li[data-conversation="' + Number(id) + '"]');
      if (!row) {
        if (!wanted(ev.data)) return;
        row = newRow(id, ev.data.customer);
      }
      row.querySelector("[data-last]").textContent = text.slice(0, 140);
      var badge = row.querySelector("[data-unread]");
      var count = inbound ? Number(badge.textContent || 0) + 1 : 0;
      badge.textContent = String(count);
      badge.hidden = count === 0;
      list.insertBefore(row, list.firstChild);
      var empty = document.querySelector("[data-empty]");
      if (empty) empty.hidden = true;
    }
    /* a new conversation joins the list when it passes the list's filters (none on an older page) */
    function wanted(m) {
      if (!list.hasAttribute("data-add-new")) return false;
      var channel = list.getAttribute("data-filter-channel"), state = list.getAttribute("data-filter-status");
      var user = list.getAttribute("data-filter-user");
      return (!channel || channel === m.channel) && (!state || state === m.conversation_status) &&
        (!user || user === String(m.assigned_user));
    }
    function newRow(id, customer) {
      var row = document.createElement("li"), link = document.createElement("a");
      row.setAttribute("data-conversation", String(Number(id)));
      link.href = list.getAttribute("data-link").replace(/\/0$/, "/" + Number(id));
      [["who", (customer && customer.name) || labels["new"] || ""], ["badge", "0"], ["state", ""], ["last", ""]].forEach(function (part) {
        var span = document.createElement("span");
        span.className = part[0];
        span.textContent = part[1];
        if (part[0] === "badge") span.setAttribute("data-unread", "");
        if (part[0] === "last") span.setAttribute("data-last", "");
        if (part[0] === "state") span.setAttribute("data-state", "");
        link.appendChild(span);
      });
      row.appendChild(link);
      return row;
    }
    function appended(m) {
      var messages = document.querySelector("[data-messages]");
      if (messages.querySelector('li[data-message="' + Number(m.id) + '"]')) return;
      var item = document.createElement("li"), meta = document.createElement("p"), text = document.createElement("p");
      item.className = "msg msg-" + (m.direction === "in" ? "in" : "out");
      item.setAttribute("data-message", String(Number(m.id)));
      meta.className = "meta";
      var sender = document.createElement("span"), state = document.createElement("span");
      var error = document.createElement("span");
      sender.className = "sender";
      sender.textContent = labels[m.direction === "in" ? "sender-in" : "sender-" + m.sender] || "";
      state.setAttribute("data-status", m.status);
      state.textContent = labels["status-" + m.status] || m.status;
      error.className = "error";
      error.setAttribute("data-error", "");
      error.textContent = m.error || "";
      error.hidden = !m.error;
      meta.appendChild(sender);
      meta.appendChild(document.createTextNode(" · "));
      meta.appendChild(state);
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(error);
      text.className = "text";
      text.textContent = m.text;
      item.appendChild(meta);
      item.appendChild(text);
      messages.appendChild(item);
    }
    function status(m) {
      var item = document.querySelector('[data-messages] li[data-message="' + Number(m.id) + '"]');
      if (!item) { appended(m); return; }
      var state = item.querySelector("[data-status]"), error = item.querySelector("[data-error]");
      state.setAttribute("data-status", m.status);
      state.textContent = labels["status-" + m.status] || m.status;
      error.textContent = m.error || "";
      error.hidden = !m.error;
    }
    /* after a state change the buttons that fit it come from the server (a fragment: no flash is used up) */
    function redraw() {
      var actions = document.querySelector("[data-actions]");
      if (actions) actions.setAttribute("data-redrawn", "pending");
      fetch(open.getAttribute("data-actions-url"), {credentials: "same-origin"})
        .then(function (r) { if (!r.ok) throw new Error("status " + r.status); return r.text(); })
        .then(function (body) {
          var fresh = new DOMParser().parseFromString(body, "text/html");
          var now = document.querySelector("[data-actions]"), next = fresh.querySelector("[data-actions]");
          if (now && next) now.replaceWith(document.importNode(next, true));
          var drawn = document.querySelector("[data-actions]");
          if (drawn) drawn.setAttribute("data-redrawn", "done");
        })
        .catch(function () { /* the buttons still work: a stale one does nothing and says why */ });
    }
    function state(id, value) {
      var label = labels["conversation-" + value] || value;
      if (list) {
        var row = list.querySelector('li[data-conversation="' + Number(id) + '"] [data-state]');
        if (row) row.textContent = label;
      }
      if (open && Number(open.getAttribute("data-open-conversation")) === id) {
        open.querySelector("[data-state]").textContent = label;
        redraw();
      }
    }
  }
})();
