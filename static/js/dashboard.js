/* TenSafe IR dashboard: progressive enhancement only. Every page works without this file;
   with it, countdowns tick, copy buttons appear, the timeline poll asks only for new events,
   the live panels leave alone the one being typed in, and focus stays where it was when htmx
   swaps a section. No eval, no inline handlers (CSP). */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // --- clock: tick against the server's clock, not the browser's ---------------------------
  var offset = 0;
  function serverNow() { return Date.now() + offset; }
  function readOffset() {
    var stamp = document.body && document.body.getAttribute("data-server-now");
    var parsed = stamp ? Date.parse(stamp) : NaN;
    if (!isNaN(parsed)) { offset = parsed - Date.now(); }
  }

  // Same wording as dashboard_tags.human_duration on the server.
  function human(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60), sec = s % 60;
    function pad(n) { return n < 10 ? "0" + n : String(n); }
    if (d) { return d + " d " + h + " h"; }
    if (h) { return h + " h " + pad(m) + " min"; }
    if (m) { return m + " min " + pad(sec) + " s"; }
    return sec + " s";
  }

  function tick() {
    var now = serverNow();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) { return; }
      var left = due - now, overdue = left < 0;
      var text = overdue ? "OVERDUE by " + human(left) : "in " + human(left);
      var label = el.getAttribute("data-label");
      var textEl = el.querySelector(".countdown-text");
      var iconEl = el.querySelector(".countdown-icon");
      if (textEl) { textEl.textContent = text; }
      if (iconEl) { iconEl.textContent = overdue ? "\u26A0 " : ""; }
      el.classList.toggle("is-overdue", overdue);
      el.setAttribute("aria-label", label ? label + ": " + text : text);
    });
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-since"));
      if (!isNaN(since)) { el.textContent = human(now - since); }
    });
  }

  // --- copy buttons: clipboard API, else select the text and say how --------------------------
  function revealCopyButtons(root) {
    if (!navigator.clipboard && !document.queryCommandSupported) { return; }
    (root || document).querySelectorAll("button.copy[hidden]").forEach(function (b) { b.hidden = false; });
  }
  function hint(button, text) {
    var note = button.parentNode.querySelector(".copy-hint");
    if (!note) {
      note = document.createElement("span");
      note.className = "copy-hint";
      note.setAttribute("role", "status");
      button.parentNode.appendChild(note);
    }
    note.textContent = text;
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy-target]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source) { return; }
    function fallback() {
      source.focus();
      source.select();
      hint(button, "Selected: press Ctrl+C (\u2318C on a Mac) to copy.");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(function () {
        hint(button, "Copied.");
      }, fallback);
    } else {
      fallback();
    }
  });

  // --- htmx: timeline "after", de-duplication and focus ----------------------------------------
  function lastEventId(listId) {
    var items = document.querySelectorAll("#" + listId + " [data-event-id]");
    var max = 0;
    items.forEach(function (li) { max = Math.max(max, parseInt(li.getAttribute("data-event-id"), 10) || 0); });
    return max;
  }
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    var listId = elt && elt.getAttribute && elt.getAttribute("data-timeline-list");
    if (listId) { event.detail.parameters.after = String(lastEventId(listId)); }
  });

  var focusKey = null;
  function keyOf(el) {
    if (!el || el === document.body) { return null; }
    if (el.id) { return "#" + CSS.escape(el.id); }
    if (el.getAttribute("data-item")) { return '[data-item="' + CSS.escape(el.getAttribute("data-item")) + '"]'; }
    if (el.getAttribute("href")) { return 'a[href="' + CSS.escape(el.getAttribute("href")) + '"]'; }
    return null;
  }
  document.addEventListener("htmx:beforeSwap", function () {
    focusKey = keyOf(document.activeElement);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (target && target.id === "timeline-events") {
      var seen = {};
      target.querySelectorAll("[data-event-id]").forEach(function (li) {
        var id = li.getAttribute("data-event-id");
        if (seen[id]) { li.remove(); } else { seen[id] = true; }
      });
    }
    var error = document.querySelector(".has-error input, .has-error select, .has-error textarea");
    if (error && event.detail.elt && event.detail.elt.contains && event.detail.elt.contains(error)) {
      error.focus();
    } else if (focusKey && (document.activeElement === document.body || !document.activeElement)) {
      var again = document.querySelector(focusKey);
      if (again) { again.focus(); }
    }
    focusKey = null;
    tick();
  });
  document.addEventListener("htmx:load", function (event) { revealCopyButtons(event.detail.elt); });

  // --- live panels: one someone is typing in is not replaced under them -----------------------
  // The poller's version is kept back while a panel was left alone, so the next check sends
  // the panels again and that one is brought up to date once it is no longer being edited.
  function edited(panel) {
    var active = document.activeElement;
    if (active && panel.contains(active) && active.matches("input, select, textarea")) { return true; }
    return Array.prototype.some.call(panel.querySelectorAll("input, select, textarea"), function (f) {
      if (f.type === "hidden") { return false; }
      if (f.type === "checkbox" || f.type === "radio") { return f.checked !== f.defaultChecked; }
      if (f.tagName === "SELECT") {
        // With no option marked selected, a single select starts on its first option.
        var marked = Array.prototype.some.call(f.options, function (o) { return o.defaultSelected; });
        if (!marked && !f.multiple) { return f.selectedIndex > 0; }
        return Array.prototype.some.call(f.options, function (o) { return o.selected !== o.defaultSelected; });
      }
      return f.value !== f.defaultValue;
    });
  }
  var leftAlone = false;
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt && event.detail.elt.id === "live-poller") { leftAlone = false; }
  });
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (!target) { return; }
    if (target.hasAttribute("data-live") && edited(target)) {
      event.detail.shouldSwap = false;
      leftAlone = true;
    } else if (target.id === "live-poller" && leftAlone) {
      event.detail.shouldSwap = false;
    }
  });

  function start() {
    readOffset();
    revealCopyButtons(document);
    tick();
    window.setInterval(tick, 1000);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
