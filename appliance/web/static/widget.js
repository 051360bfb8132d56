/* The appliance chat bubble. Embedded with one <script src=".../widget/<channel>.js"> tag.
   This file is served unchanged for every channel: it reads its channel id from its own src and its
   settings (title...) from /widget/<channel>/config as JSON; any text it shows goes in as textContent. */
(function () {
  "use strict";
  var script = document.currentScript || findScript();
  if (!script) return;
  var src = new URL(script.src, location.href);
  var match = /\/widget\/([A-Za-z0-9_-]+)\.js$/.exec(src.pathname);
  if (!match) return;
  var CHANNEL = match[1];
  var BASE = src.origin;
  var URL_BASE = BASE + "/widget/" + encodeURIComponent(CHANNEL);

  function findScript() {
    var all = document.getElementsByTagName("script");
    for (var i = all.length - 1; i >= 0; i--) {
      if (/\/widget\/[A-Za-z0-9_-]+\.js$/.test(all[i].src)) return all[i];
    }
    return null;
  }

  fetch(URL_BASE + "/config").then(function (r) {
    if (!r.ok) throw new Error("widget config " + r.status);
    return r.json();
  }).then(start).catch(function () { /* no bubble for an unknown or deleted channel */ });

  function start(config) {
    /* the bubble's own words, in the visitor's language (the server picks them from its Accept-Language) */
    function text(key, fallback) {
      var texts = config.texts || {};
      return typeof texts[key] === "string" && texts[key] ? texts[key] : fallback;
    }
    var KEY = "appliance-session-" + CHANNEL;
    var session = localStorage.getItem(KEY);
    if (!session || !/^[A-Za-z0-9_-]{1,128}$/.test(session)) {
      session = "w" + Math.random().toString(36).slice(2) + Date.now().toString(36);
      localStorage.setItem(KEY, session);
    }
    /* the accent colour goes into a style sheet: only a hex colour is used (the server checks it too) */
    var ACCENT = /^#(?:[0-9a-fA-F]{3}){1,2}$/.test(config.accent || "") ? config.accent : "#1f6feb";
    var css = ".apl-bubble{display:flex;align-items:center;justify-content:center;position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;background:" + ACCENT + ";color:#fff;border:0;font-size:26px;cursor:pointer;box-shadow:0 4px 12px rgba(0,0,0,.25);z-index:2147483000}" +
      ".apl-panel{position:fixed;right:20px;bottom:88px;width:340px;max-width:calc(100vw - 40px);height:460px;background:#fff;border-radius:12px;box-shadow:0 8px 24px rgba(0,0,0,.25);display:none;flex-direction:column;font:14px system-ui,sans-serif;z-index:2147483000;overflow:hidden}" +
      ".apl-panel.open{display:flex}.apl-head{background:" + ACCENT + ";color:#fff;padding:12px 14px;font-weight:600}" +
      ".apl-log{flex:1;overflow-y:auto;padding:10px;background:#f6f8fa}.apl-msg{margin:6px 0;padding:8px 10px;border-radius:10px;max-width:85%;white-space:pre-wrap;word-wrap:break-word}" +
      ".apl-me{background:" + ACCENT + ";color:#fff;margin-left:auto}.apl-bot{background:#fff;border:1px solid #d0d7de}" +
      ".apl-form{display:flex;border-top:1px solid #d0d7de}.apl-form input{flex:1;border:0;padding:12px;font:inherit;outline:none}.apl-form button{border:0;background:#fff;color:" + ACCENT + ";font-weight:600;padding:0 14px;cursor:pointer}" +
      ".apl-btns{display:flex;flex-wrap:wrap;gap:6px;margin:0 0 6px}.apl-btns button{border:1px solid " + ACCENT + ";background:#fff;color:" + ACCENT + ";border-radius:14px;padding:4px 10px;font:inherit;cursor:pointer}" +
      ".apl-err{color:#cf222e;font-size:12px;padding:4px 10px}" +
      ".apl-head img{height:20px;width:auto;vertical-align:middle;margin-right:8px}.apl-foot{font-size:11px;color:#57606a;text-align:center;padding:2px 0 4px}";
    var style = document.createElement("style");
    style.textContent = css;
    document.head.appendChild(style);

    var bubble = el("button", "apl-bubble");
    bubble.appendChild(icon());
    bubble.setAttribute("aria-label", text("open", "Open chat"));
    var panel = el("div", "apl-panel");
    var head = el("div", "apl-head");
    if (/^https?:\/\//.test(config.logo || "")) {
      var logo = el("img");
      logo.src = config.logo;
      logo.alt = "";
      head.appendChild(logo);
    }
    head.appendChild(document.createTextNode(String(config.title || "Chat")));
    var foot = el("div", "apl-foot", config.product ? String(config.product) : "");
    var log = el("div", "apl-log");
    var err = el("div", "apl-err");
    var form = el("form", "apl-form");
    var input = el("input");
    input.placeholder = text("placeholder", "Type your message…");
    input.maxLength = config.max_chars || 4000;
    var send = el("button", null, text("send", "Send"));
    send.type = "submit";
    form.appendChild(input); form.appendChild(send);
    panel.appendChild(head); panel.appendChild(log); panel.appendChild(err); panel.appendChild(form); panel.appendChild(foot);
    document.body.appendChild(panel); document.body.appendChild(bubble);

    var live = {}; /* reply_to -> element being streamed */
    var shown = {}; /* message id -> element */
    var lastId = 0; /* newest reply received: a new stream resumes after it */
    var source = null, retryTimer = null, failures = 0;
    bubble.onclick = function () { panel.classList.toggle("open"); if (panel.classList.contains("open")) { input.focus(); connect(); } };

    function add(cls, text) {
      var m = el("div", "apl-msg " + cls, text);
      log.appendChild(m);
      log.scrollTop = log.scrollHeight;
      return m;
    }

    /* A stream lasts a short while, or is refused (429) when the shop is busy; EventSource gives up after a
       refusal, so on any error close it and open a new one, later each time it fails, resuming after lastId. */
    function connect() {
      if (source || retryTimer) return;
      var url = URL_BASE + "/events?session=" + encodeURIComponent(session) + (lastId ? "&since=" + lastId : "");
      source = new EventSource(url);
      source.onopen = function () { failures = 0; };
      source.onerror = function () {
        source.close();
        source = null;
        failures += 1;
        var delay = Math.min(30000, 1000 * Math.pow(2, Math.min(failures - 1, 5))) * (0.75 + Math.random() / 2);
        retryTimer = setTimeout(function () { retryTimer = null; connect(); }, delay);
      };
      source.addEventListener("token", function (e) {
        var d = JSON.parse(e.data);
        var m = live[d.reply_to] || (live[d.reply_to] = add("apl-bot", ""));
        m.textContent += d.text;
        log.scrollTop = log.scrollHeight;
      });
      source.addEventListener("message", function (e) {
        var d = JSON.parse(e.data);
        if (d.id > lastId) lastId = d.id;
        if (shown[d.id]) return;
        var m = live[d.reply_to] || add("apl-bot", "");
        delete live[d.reply_to];
        m.textContent = d.text;
        m.setAttribute("data-message-id", d.id);
        shown[d.id] = m;
        choices(m, d.buttons || []);
      });
    }

    /* a reply's buttons: a tap sends the button's title as its text and its id as "button" (a rule's payload) */
    function choices(after, buttons) {
      if (!buttons.length) return;
      var row = el("div", "apl-btns");
      buttons.forEach(function (b) {
        var button = el("button", null, String(b.title || ""));
        button.type = "button";
        button.onclick = function () { row.parentNode.removeChild(row); say(String(b.title || ""), String(b.id || "")); };
        row.appendChild(button);
      });
      log.insertBefore(row, after.nextSibling);
      log.scrollTop = log.scrollHeight;
    }

    form.onsubmit = function (ev) {
      ev.preventDefault();
      say(input.value.trim());
    };

    function say(message, button) {
      if (!message) return;
      err.textContent = "";
      connect();
      add("apl-me", message);
      input.value = "";
      fetch(URL_BASE + "/messages", {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({session: session, text: message, button: button || undefined,
                              id: Date.now().toString(36) + Math.random().toString(36).slice(2, 6)})
      }).then(function (r) {
        if (!r.ok) return r.json().then(function (b) { err.textContent = (b.error && b.error.message) || text("failed", "Could not send."); });
      }).catch(function () { err.textContent = text("unreachable", "Could not reach the shop's chat; try again."); });
    }
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  function icon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    var attrs = {width: "28", height: "28", viewBox: "0 0 24 24", fill: "none", stroke: "#fff", "stroke-width": "2",
                 "stroke-linecap": "round", "stroke-linejoin": "round", "aria-hidden": "true"};
    for (var k in attrs) svg.setAttribute(k, attrs[k]);
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z");
    svg.appendChild(path);
    return svg;
  }
})();
