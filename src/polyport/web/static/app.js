// Polyport web: keyboard shortcuts, new mail without reload, address suggestions, confirmations.
// The pages work without this file; it only makes them quicker. No inline script anywhere (CSP).
"use strict";
(function () {
  const body = document.body;

  // Confirm destructive forms (data-confirm on a form or a button).
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const button = event.submitter;
    const text = (button && button.dataset.confirm) || form.dataset.confirm;
    if (text && !window.confirm(text)) event.preventDefault();
  });

  // Select all messages.
  const all = document.getElementById("select-all");
  if (all) all.addEventListener("change", () => {
    document.querySelectorAll('#rows input[name="uid"]').forEach((box) => { box.checked = all.checked; });
  });

  // Keyboard shortcuts: j/k older/newer, u back to the list, r/a/f reply/all/forward, c write, # delete,
  // s flag, / search, ? help.
  const keys = {};
  document.querySelectorAll("[data-key]").forEach((el) => { keys[el.dataset.key] = el; });
  document.querySelectorAll("a[rel=next]").forEach((el) => { keys.j = keys.j || el; });
  document.querySelectorAll("a[rel=prev]").forEach((el) => { keys.k = keys.k || el; });
  const compose = document.querySelector('a[href="/mail/compose"]');
  if (compose) keys.c = compose;
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) return;
    if (event.key === "/") {
      const search = document.getElementById("search");
      if (search) { event.preventDefault(); search.focus(); }
      return;
    }
    if (event.key === "?") {
      let help = document.getElementById("shortcut-help");
      if (!help) {
        help = document.createElement("div");
        help.id = "shortcut-help";
        help.className = "help-dialog";
        help.textContent = "j/k: older/newer · u: list · r: reply · a: reply all · f: forward · c: write · " +
          "#: delete · s: flag · /: search · ?: this help";
        body.appendChild(help);
      } else {
        help.classList.toggle("hidden");
      }
      return;
    }
    const target = keys[event.key];
    if (!target) return;
    event.preventDefault();
    if (target.tagName.toLowerCase() === "a") window.location.href = target.href;
    else target.click();
  });

  // New mail without reload: the server sends "changed" events; the list refreshes its rows.
  const events = body.dataset.events;
  const list = body.dataset.list;
  if (events && window.EventSource) {
    const source = new EventSource(events);
    let timer = null;
    source.addEventListener("changed", () => {
      if (timer) return;
      timer = setTimeout(async () => {
        timer = null;
        if (!list) return;
        const checked = new Set(Array.from(document.querySelectorAll('#rows input[name="uid"]:checked'))
          .map((box) => box.value));
        const response = await fetch(list, { credentials: "same-origin" });
        if (response.redirected || response.status === 401) { window.location.reload(); return; }
        if (!response.ok) return;
        const rows = document.getElementById("rows");
        rows.innerHTML = await response.text();  // our own server-rendered, escaped HTML
        rows.querySelectorAll('input[name="uid"]').forEach((box) => { box.checked = checked.has(box.value); });
        body.dispatchEvent(new CustomEvent("polyport:list-updated"));
      }, 300);
    });
  }

  // Drag messages onto a mailbox in the side list to move them (the checked ones, or the one dragged).
  const listForm = document.getElementById("list-form");
  function makeDraggable() {
    document.querySelectorAll("#rows tr[data-uid]").forEach((row) => { row.draggable = true; });
  }
  if (listForm) {
    makeDraggable();
    body.addEventListener("polyport:list-updated", makeDraggable);
    document.addEventListener("dragstart", (event) => {
      const row = event.target.closest && event.target.closest("tr[data-uid]");
      if (!row) return;
      const checked = Array.from(document.querySelectorAll('#rows input[name="uid"]:checked')).map((b) => b.value);
      const uids = checked.includes(row.dataset.uid) ? checked : [row.dataset.uid];
      event.dataTransfer.setData("application/x-polyport-uids", uids.join(","));
      event.dataTransfer.effectAllowed = "move";
    });
    document.querySelectorAll(".boxes a").forEach((link) => {
      const target = new URL(link.href).searchParams.get("box");
      link.addEventListener("dragover", (event) => {
        if (event.dataTransfer.types.includes("application/x-polyport-uids")) {
          event.preventDefault();
          link.classList.add("drop");
        }
      });
      link.addEventListener("dragleave", () => link.classList.remove("drop"));
      link.addEventListener("drop", async (event) => {
        event.preventDefault();
        link.classList.remove("drop");
        const uids = event.dataTransfer.getData("application/x-polyport-uids").split(",").filter(Boolean);
        if (!uids.length || !target) return;
        const data = new URLSearchParams();
        data.set("csrf", listForm.querySelector('input[name="csrf"]').value);
        data.set("box", listForm.querySelector('input[name="box"]').value);
        data.set("do", "move");
        data.set("to", target);
        uids.forEach((uid) => data.append("uid", uid));
        await fetch("/mail/act", { method: "POST", body: data, credentials: "same-origin" });
        window.location.reload();
      });
    });
  }

  // Address suggestions: contacts and the domain's directory.
  const datalist = document.getElementById("addresses");
  document.querySelectorAll("input[data-complete]").forEach((input) => {
    let last = "";
    input.addEventListener("input", async () => {
      const word = input.value.split(",").pop().trim();
      if (word.length < 2 || word === last || !datalist) return;
      last = word;
      const response = await fetch("/mail/complete?q=" + encodeURIComponent(word), { credentials: "same-origin" });
      if (!response.ok) return;
      const found = await response.json();
      datalist.replaceChildren(...found.map((text) => {
        const option = document.createElement("option");
        const before = input.value.includes(",") ? input.value.slice(0, input.value.lastIndexOf(",") + 1) + " " : "";
        option.value = before + text;
        return option;
      }));
    });
  });

  // Attachments over the limit are refused before the upload.
  document.querySelectorAll("input[type=file][data-limit]").forEach((input) => {
    input.addEventListener("change", () => {
      const total = Array.from(input.files).reduce((sum, file) => sum + file.size, 0);
      input.setCustomValidity(total > Number(input.dataset.limit) ? "These files are larger than the limit." : "");
    });
  });
})();
