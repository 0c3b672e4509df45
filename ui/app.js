// Sharelock's window. Everything it does goes through the app's commands (window.__TAURI__):
// this file only shows state and forwards what the user asks for.
"use strict";

const T = window.__TAURI__;
const $ = (id) => document.getElementById(id);
const ROW = 44;

const state = {
  files: [],
  shown: [],
  sort: { key: "created_at", desc: true },
  filter: "",
  /** Which files the list shows: "all", "mine" (added here) or "received" (through upload links). */
  kind: "all",
  /** The ids of the selected rows; never one the list does not show. */
  selection: new Set(),
  /** Where a Shift-click or Shift+arrow range starts: the last row chosen alone or with Ctrl. */
  anchor: null,
  /** The one selected file whose details show; null when none or several are selected. */
  selected: null,
  view: "files",
  defaultExpiry: "7d",
  defaultLimit: "",
  inboxCount: 0,
  serving: false,
  dataDir: "",
  /** The links whose history is folded away (`false`) or shown in full (`"all"`); a link not in
   *  here shows its latest accesses, if it is active. */
  historyOpen: new Map(),
  /** What `file_info` last said of the file whose details show (its SHA-256, who sent it). */
  shownInfo: null,
};

// ---------- small helpers ----------

let commandsInFlight = 0;
/** Calls one of the app's commands. Until every command sent has been answered the page is
 *  `aria-busy`: a sign to assistive technology (and to tests) that what it shows is about to
 *  change. */
async function invoke(cmd, args) {
  if (commandsInFlight++ === 0) document.body.setAttribute("aria-busy", "true");
  try {
    return await T.core.invoke(cmd, args);
  } finally {
    if (--commandsInFlight === 0) document.body.removeAttribute("aria-busy");
  }
}

/** Builds an element; strings become text nodes, never HTML. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function formatSize(bytes) {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const shortThisYear = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
const shortOtherYear = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
function formatDate(iso) { return dateFormat.format(new Date(iso)); }
/** A date that fits a table cell: "Nov 24, 3:05 PM" this year, "Mar 2, 2025" before. */
function shortDate(iso) {
  const date = new Date(iso);
  return (date.getFullYear() === new Date().getFullYear() ? shortThisYear : shortOtherYear).format(date);
}

/** A date for a narrow cell: the time today, the day this year, else the day and the year. */
const cellDay = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
function cellDate(iso) {
  const date = new Date(iso);
  if (date.toDateString() === new Date().toDateString()) return timeOnly.format(date);
  return (date.getFullYear() === new Date().getFullYear() ? cellDay : shortOtherYear).format(date);
}

function relative(iso) {
  const seconds = Math.round((new Date(iso) - Date.now()) / 1000);
  const abs = Math.abs(seconds);
  const [n, unit] = abs < 60 ? [abs, "second"] : abs < 3600 ? [Math.round(abs / 60), "minute"]
    : abs < 86400 ? [Math.round(abs / 3600), "hour"] : [Math.round(abs / 86400), "day"];
  const text = `${n} ${unit}${n === 1 ? "" : "s"}`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

function expiryText(iso) {
  if (!iso) return "never expires";
  return new Date(iso) > new Date() ? `expires ${relative(iso)}` : `expired ${relative(iso)}`;
}

// ---------- errors in words ----------

const NOUNS = { file: "file", link: "link", slot: "upload link" };

/** A message the core wrote for people, as a sentence. */
function sentence(text) {
  const t = String(text || "").trim();
  return t ? `${t[0].toUpperCase()}${t.slice(1)}${/[.!?…]$/.test(t) ? "" : "."}` : "";
}

/**
 * The one place a command's failure is put into words: its code (`src-tauri/src/error.rs`)
 * gives a sentence and, where there is one, a next step. Only `invalid_input` and `refused` show
 * the core's own message, which it writes for people; every other detail goes to the log.
 */
const ERROR_WORDS = {
  not_found: (e) => `That ${NOUNS[e.kind] || "item"} is no longer in Sharelock. It may have been removed in another window or from the command line.`,
  invalid_input: (e) => sentence(e.message),
  refused: (e) => sentence(e.message),
  server_stopped: () => "Sharelock's server is not running, so a new link would not open. Fix it in the banner above.",
  disk_full: () => "The disk is full, so nothing was changed. Free some space, then try again.",
  io: (e) => ({
    missing: "That file or folder is not there any more. Check where it is, then try again.",
    denied: "Sharelock may not read or write there. Check the permissions, then try again.",
    read_only: "Sharelock's data folder is read-only, so nothing can be changed in it.",
  })[e.kind] || "Sharelock could not read or write a file. Try again; the details are in the log.",
  database: () => "Sharelock's database could not be read or written. Try again; if it keeps failing, run “sharelock verify”.",
  open_failed: (e) => ({
    text: e.kind === "file" ? `Couldn't open the folder. The file is at ${e.path}` : `Couldn't open the folder. It is at ${e.path}`,
    action: { label: "Copy path", run: () => copy(e.path, "Path") },
  }),
  internal: () => "Something went wrong inside Sharelock. Try again; the details are in the log.",
  // A Sharelock server's failures: the shell writes these for people (src-tauri/src/error.rs).
  unreachable: (e) => sentence(e.message),
  untrusted: (e) => sentence(e.message),
  unauthorized: (e) => sentence(e.message),
  forbidden: (e) => sentence(e.message),
  server: (e) => sentence(e.message),
};

/** What to tell the user about `e`: `{ text, action }`. Anything that is not a command's error
 *  (a plugin's, the page's own) is an internal one. */
function words(e) {
  const worded = (e && ERROR_WORDS[e.code]) ? ERROR_WORDS[e.code](e) : ERROR_WORDS.internal(e);
  return typeof worded === "string" ? { text: worded } : worded;
}

/** Says what went wrong: at the field it concerns when `form` has that field, else in a toast
 *  (after `prefix`, e.g. "Not added."). The raw detail goes to the log. */
function showError(e, { form = null, prefix = "" } = {}) {
  console.warn("sharelock:", e && e.code ? `${e.code}: ${e.message}` : e);
  const input = form && e && e.code === "invalid_input" ? fieldInput(form, e.field) : null;
  if (input) return setFieldError(input, e.message);
  const { text, action } = words(e);
  toast(prefix ? `${prefix} ${text}` : text, "error", action);
}

/** The fields of each form, by the names commands give them. */
const FIELDS = {
  "link-form": { expires: "l-expiry", max_downloads: "l-limit", label: "l-label", password: "l-password" },
  "share-form": { name: "share-name" },
  "slot-form": { expires: "s-expiry", max_size: "s-max-size", max_files: "s-max-files", max_total: "s-max-total", accept: "s-accept", label: "s-label" },
  "location-form": { url: "loc-url", token: "loc-token" },
  "settings-form": { port: "set-port", base_url: "set-base-url", default_link_expiry: "set-expiry", default_link_limit: "set-limit", history: "set-history" },
};

function fieldInput(form, field) {
  if (form.id === "link-form" && field === "expires" && $("l-expiry").value === "custom") return $("l-date");
  const id = FIELDS[form.id]?.[field];
  return id ? $(id) : null;
}

/** Marks `input` invalid and says why under it; the focus goes there. */
function setFieldError(input, message) {
  const id = `${input.id}-error`;
  let note = $(id);
  if (!note) {
    note = el("span", { class: "field-error", id });
    input.after(note);
  }
  note.textContent = sentence(message);
  input.setAttribute("aria-invalid", "true");
  const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  if (!described.includes(id)) input.setAttribute("aria-describedby", [...described, id].join(" "));
  input.focus();
}

function clearFieldError(input) {
  const id = `${input.id}-error`;
  $(id)?.remove();
  input.removeAttribute("aria-invalid");
  const described = (input.getAttribute("aria-describedby") || "").split(" ").filter((d) => d && d !== id);
  if (described.length) input.setAttribute("aria-describedby", described.join(" ")); else input.removeAttribute("aria-describedby");
}

function clearFieldErrors(form) {
  for (const input of form.querySelectorAll("[aria-invalid=true]")) clearFieldError(input);
}

/** A toast; an error's stays longer, and may offer one action (a button). */
function toast(message, kind = "info", action = null) {
  const node = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" },
    message,
    action && el("button", { type: "button", class: "toast-action", onclick: () => { action.run(); node.remove(); } }, action.label));
  $("toasts").append(node);
  setTimeout(() => node.remove(), kind === "error" ? (action ? 15000 : 8000) : 3500);
}

async function copy(text, what) {
  try {
    await T.clipboardManager.writeText(text);
    // Who could not open it is said before the copy and on the row (the forms' notes, the rows'
    // reach lines), not here: a long toast would cover the details panel's buttons.
    toast(`${what} copied to the clipboard`);
  } catch (e) {
    console.warn("sharelock: copy:", e);
    toast("Couldn't copy to the clipboard. Select the text and copy it by hand.", "error");
  }
}

/**
 * The window's one modal dialog. Resolves true only when its confirm button was used: a click,
 * Enter or Space while it has the focus, or Enter in one of the dialog's fields. Escape, Cancel,
 * a click outside and any other close resolve false. The outcome comes from what was used,
 * never from `returnValue`, which the element keeps from its last close. A destructive (`danger`)
 * dialog opens with the focus on Cancel, so a stray Enter does nothing.
 */
function dialog({ title, body, ok = "OK", danger = false, cancel = true }) {
  const d = $("dialog");
  if (d.open) return Promise.resolve(false);
  const confirmButton = $("dialog-ok");
  const cancelButton = $("dialog-cancel");
  $("dialog-title").textContent = title;
  $("dialog-body").replaceChildren(...(Array.isArray(body) ? body : [body]));
  confirmButton.textContent = ok;
  confirmButton.className = danger ? "danger" : "primary";
  cancelButton.hidden = !cancel;
  d.setAttribute("role", danger ? "alertdialog" : "dialog");
  d.returnValue = "";
  return new Promise((resolve) => {
    let confirmed = false;
    let pressedOutside = false;
    const listening = new AbortController();
    const on = (target, type, handler) => target.addEventListener(type, handler, { signal: listening.signal });
    // The confirm button is the form's only submit button, so a field's Enter submits through
    // it too; anything else that submits (a script, no submitter) does not confirm.
    on($("dialog-form"), "submit", (e) => { confirmed = e.submitter === confirmButton; });
    on(cancelButton, "click", () => d.close());
    on(d, "cancel", () => { confirmed = false; });
    // Clicks on the backdrop reach the dialog element itself, outside its box. Only a press
    // that also started there counts, so selecting text and letting go outside keeps it open.
    const outside = (e) => {
      if (e.target !== d) return false;
      const box = d.getBoundingClientRect();
      return e.clientX < box.left || e.clientX > box.right || e.clientY < box.top || e.clientY > box.bottom;
    };
    on(d, "pointerdown", (e) => { pressedOutside = outside(e); });
    on(d, "click", (e) => { if (pressedOutside && outside(e)) d.close(); });
    on(d, "close", () => { listening.abort(); resolve(confirmed); });
    d.showModal();
    const field = $("dialog-body").querySelector("input, select, textarea");
    (danger && cancel ? cancelButton : field || confirmButton).focus();
  });
}

async function showQr(title, url, warning = null) {
  try {
    const svg = await invoke("qr_code", { text: url });
    // One image to assistive technology, named, not a heap of squares.
    const box = el("div", { class: "qr", id: "qr-image", role: "img", "aria-label": "QR code of the address below" });
    box.innerHTML = svg; // SVG made by the app from the URL, not user markup
    // The whole URL, wrapped, beside a way to copy it: a phone's camera is not always at hand.
    const address = el("div", { class: "qr-address" },
      el("code", { class: "qr-url", id: "qr-url" }, url),
      el("button", { type: "button", id: "qr-copy", onclick: () => copy(url, "Link") }, "Copy"));
    const caution = warning && el("p", { class: "reach-note", id: "qr-reach" }, warning);
    await dialog({ title, body: [caution, box, address].filter(Boolean), ok: "Close", cancel: false });
  } catch (e) {
    showError(e);
  }
}

/** `fn` run once in the next frame, however often it is called before that frame. */
function perFrame(fn) {
  let asked = false;
  return () => {
    if (asked) return;
    asked = true;
    requestAnimationFrame(() => { asked = false; fn(); });
  };
}

function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

/** A press of the mouse (or a finger) in progress, and the live update that waits for its end.
 *  Views re-render by replacing their elements, and a click whose press and release land on
 *  different elements is no click: a download finishing while the user holds "Revoke" would
 *  re-render the link and swallow it. So a change that comes during a press is shown right after
 *  the release, once its click was handled, or after 2 s at most: a press whose end the page
 *  never sees (released over another window) must not stop the window updating. */
const press = { down: false, waiting: null, timer: null };

function watchPresses() {
  document.addEventListener("pointerdown", () => { press.down = true; }, true);
  for (const end of ["pointerup", "pointercancel", "dragstart"]) document.addEventListener(end, pressEnded, true);
  window.addEventListener("blur", pressEnded);
}

function pressEnded() {
  press.down = false;
  clearTimeout(press.timer);
  const waiting = press.waiting;
  press.waiting = null;
  // The click comes in the same task as the release; the update in the next one.
  if (waiting) setTimeout(waiting, 0);
}

/** `fn`, held back while a press is in progress (see `press`). */
function afterPress(fn) {
  return (...args) => {
    if (!press.down) return fn(...args);
    if (!press.waiting) press.timer = setTimeout(pressEnded, 2000);
    press.waiting = () => fn(...args);
  };
}

// ---------- navigation ----------

/** Where the window remembers how much of the inbox was seen. The page's storage outlives the
 *  data dir (it is the app's, not the store's), so each data dir keeps its own. */
function inboxSeenKey() { return `inboxSeen:${state.dataDir}`; }

function show(view) {
  state.view = view;
  // Settings says who can open a link from the start: the check runs once when first shown.
  if (view === "settings" && !$("reach-verdicts").children.length && !$("reach-check").disabled) checkReach();
  for (const button of document.querySelectorAll(".nav-item")) {
    const active = button.dataset.view === view;
    button.classList.toggle("active", active);
    if (active) button.setAttribute("aria-current", "page"); else button.removeAttribute("aria-current");
  }
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
  if (view === "inbox") localStorage.setItem(inboxSeenKey(), String(state.inboxCount));
  refresh();
}

async function refresh(asked) {
  try {
    if (state.view === "files") await loadFiles(asked);
    else if (state.view === "receive") await loadSlots();
    else if (state.view === "inbox") await loadInbox();
    await updateCounts();
  } catch (e) {
    showError(e);
  }
}

/** The sidebar's counts, whichever view shows: a file added by the CLI or received over HTTP
 *  while Settings is open still counts at once. */
async function updateCounts() {
  if (state.view !== "files") await readFiles();
  $("files-count").textContent = state.files.length ? String(state.files.length) : "";
  if (state.view !== "receive") showSlotsCount(await invoke("list_slots"));
  const inbox = state.files.filter((f) => f.slot_id);
  state.inboxCount = inbox.length;
  if (state.view === "inbox") localStorage.setItem(inboxSeenKey(), String(state.inboxCount));
  const unseen = state.inboxCount - Number(localStorage.getItem(inboxSeenKey()) || 0);
  $("inbox-badge").hidden = unseen <= 0;
  $("inbox-badge").textContent = unseen > 0 ? String(unseen) : "";
}

// ---------- files ----------

/** A file of the list from its row (`FileRow` in commands.rs): the columns in that order. The
 *  details read the rest of a file with `file_info`. */
function fileRow([id, name, size, created_at, isPublic, public_url, slot_id, content_type, links, downloads, last_access_at]) {
  return { id, name, size, created_at, public: isPublic, public_url, slot_id, content_type, links, downloads, last_access_at };
}

/** The latest read of the list: when it began, and whether it is over. */
let filesRead = null;
/** The read that follows it, which every ask made meanwhile shares. */
let filesReadNext = null;

/** Reads the list into `state.files`, one read at a time: with 100,000 files a read takes most of
 *  a second, and a drop asks for one while the store's change events ask for more. A read begun
 *  before `since` (by default: now) may have missed a change, so the ask waits for it and reads
 *  once more; a read begun after serves the ask as it is. */
function readFiles({ since = performance.now() } = {}) {
  if (filesRead && filesRead.started >= since) return filesRead.done;
  if (filesRead && !filesRead.over) {
    filesReadNext ??= filesRead.done.catch(() => {}).then(() => { filesReadNext = null; return readFiles(); });
    return filesReadNext;
  }
  const read = { started: performance.now(), over: false };
  read.done = invoke("list_files")
    .then((rows) => { state.files = withAdded(rows.map(fileRow), read.started); })
    .finally(() => { read.over = true; });
  filesRead = read;
  return read.done;
}

async function loadFiles(asked) {
  await readFiles(asked);
  $("files-count").textContent = state.files.length ? String(state.files.length) : "";
  applyFilter();
  await showSelection();
}

/** Names sort as the user's language sorts them: "apple" before "Émile" before "Zebra", and
 *  "file2" before "file10". A system on the C locale names no language, and the default
 *  collator then sorts in POSIX order (capitals first, accents last): it gets English's order,
 *  which is the common one for Latin letters, like the English of the window. */
const NAME_ORDER = { sensitivity: "base", numeric: true };
const nameOrder = new Intl.Collator(userLanguages(), NAME_ORDER);
function userLanguages() {
  const languages = navigator.languages.filter((tag) => {
    if (/^(c|posix)$/i.test(tag)) return false;
    try { return Intl.getCanonicalLocales(tag).length > 0; } catch { return false; }
  });
  return languages.length ? languages : ["en"];
}

/** Whether `file` is of the kind the list shows. */
function ofKind(file, kind = state.kind) {
  return kind === "all" || (kind === "received") === Boolean(file.slot_id);
}

// ---------- the list's order ----------

/** The list in each column's order, worked out once per list read and kept until the next:
 *  a click on a column head, its second click (the reverse order) and every filter then only
 *  walk an ordered array, with no sort, so they stay quick with 100,000 files. */
const orders = { files: null, byKey: new Map(), names: null };

/** How two files compare by the column `key`; a file never accessed sorts as the oldest. */
function compareBy(key) {
  if (key === "name") return (a, b) => nameOrder.compare(a.name, b.name);
  return (a, b) => {
    const x = a[key] ?? "", y = b[key] ?? "";
    return x === y ? 0 : x < y ? -1 : 1;
  };
}

/** `state.files` ordered by `key`, descending if `desc`. Files that compare equal keep the order
 *  the core listed them in, either way, as a stable sort with the comparison turned round does. */
function orderOf(key, desc) {
  if (orders.files !== state.files) {
    orders.files = state.files;
    orders.byKey.clear();
    orders.names = null;
    orderNamesAside(state.files);
  }
  const wanted = `${key}:${desc}`;
  if (orders.byKey.has(wanted)) return orders.byKey.get(wanted);
  let ascending = orders.byKey.get(`${key}:false`);
  if (!ascending) {
    ascending = key === "name" && orders.names ? Array.from(orders.names, (i) => state.files[i])
      : [...state.files].sort(compareBy(key));
    orders.byKey.set(`${key}:false`, ascending);
  }
  if (!desc) return ascending;
  const descending = turnedRound(ascending, compareBy(key));
  orders.byKey.set(wanted, descending);
  return descending;
}

/** `ascending` from its end, each run of equal files kept in its own order. */
function turnedRound(ascending, compare) {
  const out = [];
  let end = ascending.length;
  while (end > 0) {
    let start = end - 1;
    while (start > 0 && compare(ascending[start - 1], ascending[end - 1]) === 0) start--;
    for (let i = start; i < end; i++) out.push(ascending[i]);
    end = start;
  }
  return out;
}

/** Sorting 100,000 names with the collator takes the page's thread 0.2 to 0.5 s, so a worker
 *  sorts them as soon as a list is read, before anyone asks; until it answers, a sort by name
 *  is made here as before. */
let nameWorker;
function orderNamesAside(files) {
  if (files.length < 2000) return;
  try {
    nameWorker ??= new Worker("name-order.js");
  } catch {
    return;
  }
  nameWorker.onmessage = ({ data }) => {
    if (orders.files !== files) return; // a list read since
    orders.names = data.order;
  };
  nameWorker.postMessage({ languages: userLanguages(), options: NAME_ORDER, names: files.map((f) => f.name) });
}

function applyFilter() {
  const needle = state.filter.trim().toLowerCase();
  const { key, desc } = state.sort;
  state.shown = orderOf(key, desc).filter((f) => ofKind(f) && (!needle || (f.lower ??= f.name.toLowerCase()).includes(needle)));
  // Rows the filter hides leave the selection, as do files removed elsewhere.
  if (state.selection.size) {
    const listed = new Set();
    for (const f of state.shown) if (state.selection.has(f.id)) listed.add(f.id);
    for (const id of state.selection) if (!listed.has(id)) state.selection.delete(id);
  }
  syncSelected();
  $("rows-spacer").style.height = `${state.shown.length * ROW}px`;
  $("files-table").setAttribute("aria-rowcount", String(state.shown.length + 1));
  // With nothing to list, the table (headers too) gives way to a message saying why.
  const none = state.files.length === 0;
  const noMatch = !none && state.shown.length === 0;
  $("files-empty").hidden = !none;
  $("files-no-match").hidden = !noMatch;
  if (noMatch) {
    const what = { all: "file", mine: "file of your own", received: "received file" }[state.kind];
    $("no-match-text").textContent = needle ? `No ${what} matches “${state.filter.trim()}”` : `No ${what}s yet`;
    $("no-match-hint").textContent = needle ? "Try fewer letters, or clear the filter to see every file."
      : state.kind === "received" ? "Files people send you through an upload link show here, and in the Inbox."
        : "Files you add show here; choose All to see received ones too.";
  }
  $("files-table").hidden = none || noMatch;
  renderRows();
}

// ---------- thumbnails ----------

/** Thumbnails already fetched, by file id: a `data:` URL, or null when the file has none. Kept
 *  for the most recent few hundred only (a Map keeps insertion order), so scrolling through a
 *  hundred thousand images does not keep them all. */
const thumbs = new Map();
const THUMBS_KEPT = 400;
/** Fetches under way, and rows waiting their turn: two at a time, so a fast scroll does not queue
 *  hundreds of decodes ahead of the rows now in view. */
const thumbsPending = new Set();
let thumbsWanted = [];
const THUMBS_AT_ONCE = 2;

/** Whether a file may have a thumbnail, by its recorded type: only those are asked for (the
 *  core sniffs the bytes anyway; an SVG never has one). */
function mayHaveThumb(file) {
  return /^image\/(png|jpeg|gif|webp)$/.test(file.content_type || "");
}

/** A row's thumbnail of file `id` from its `data:` URL. */
function thumbImage(id, url) {
  return el("img", { class: "thumb", alt: "", src: url, dataset: { thumb: id } });
}

/** The small picture at the start of a row: the thumbnail when known, a placeholder icon
 *  otherwise; an image's is asked for once the row scrolls into view. */
function thumbFor(file) {
  const known = thumbs.get(file.id);
  if (known) return thumbImage(file.id, known);
  const icon = el("span", { class: "thumb placeholder", "aria-hidden": "true", dataset: { thumb: file.id } });
  if (mayHaveThumb(file) && known !== null) thumbWatcher().observe(icon);
  return icon;
}

let watcher = null;
function thumbWatcher() {
  watcher ??= new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      watcher.unobserve(entry.target);
      const id = entry.target.dataset.thumb;
      if (!thumbs.has(id) && !thumbsPending.has(id) && !thumbsWanted.includes(id)) thumbsWanted.push(id);
    }
    nextThumbs();
  }, { root: $("rows") });
  return watcher;
}

function nextThumbs() {
  // Rows scrolled away meanwhile are not fetched: only ids still drawn are.
  thumbsWanted = thumbsWanted.filter((id) => document.querySelector(`#rows [data-thumb="${id}"]`));
  while (thumbsPending.size < THUMBS_AT_ONCE && thumbsWanted.length) {
    const id = thumbsWanted.shift();
    thumbsPending.add(id);
    invoke("file_thumbnail", { id }).catch(() => null).then((url) => {
      thumbsPending.delete(id);
      thumbs.set(id, url);
      if (thumbs.size > THUMBS_KEPT) thumbs.delete(thumbs.keys().next().value);
      if (url) {
        for (const icon of document.querySelectorAll(`#rows .thumb.placeholder[data-thumb="${id}"]`)) {
          icon.replaceWith(thumbImage(id, url));
        }
      }
      nextThumbs();
    });
  }
}

/** Renders only the rows in view: the list stays smooth with tens of thousands of files. */
function renderRows() {
  const rows = $("rows");
  // Rows are drawn afresh: the focus, if on one, moves to its new self.
  const focused = document.activeElement?.closest?.(".file-row")?.dataset.id;
  // The rows drawn before are dropped: their icons are watched no more (only the new ones are).
  watcher?.disconnect();
  const first = Math.max(0, Math.floor(rows.scrollTop / ROW) - 5);
  const last = Math.min(state.shown.length, first + Math.ceil(rows.clientHeight / ROW) + 10);
  const nodes = [$("rows-spacer")];
  for (let i = first; i < last; i++) {
    const f = state.shown[i];
    const access = f.public ? el("span", { class: "pill public" }, "public")
      : f.slot_id ? el("span", { class: "pill inbox" }, "received") : el("span", { class: "pill" }, "private");
    const selected = state.selection.has(f.id);
    const row = el("div", {
      class: `file-row${selected ? " selected" : ""}`, role: "row", tabindex: "0",
      dataset: { id: f.id }, "aria-label": f.name, "aria-rowindex": String(i + 2), "aria-selected": String(selected),
      // A Shift-click selects rows, not the text between them.
      onmousedown: (e) => { if (e.shiftKey) e.preventDefault(); },
      // A click focuses the row too, so the arrow keys go on from there.
      onclick: (e) => clickRow(e, f.id, i),
      onkeydown: (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openFile(f.id); }
        if (e.key === "ArrowDown" || e.key === "ArrowUp") {
          e.preventDefault();
          const to = i + (e.key === "ArrowDown" ? 1 : -1);
          if (!e.shiftKey) return moveSelection(to);
          if (!shownIds().has(state.anchor)) state.anchor = f.id;
          extendTo(to);
        }
      },
    },
    el("span", { class: "col name", role: "gridcell", title: f.name }, thumbFor(f), el("span", { class: "name-text" }, f.name)),
    el("span", { class: "col size", role: "gridcell" }, formatSize(f.size)),
    el("span", { class: "col added", role: "gridcell", title: formatDate(f.created_at) }, shortDate(f.created_at)),
    el("span", { class: "col access", role: "gridcell" }, access),
    el("span", { class: "col links", role: "gridcell" }, String(f.links)),
    el("span", { class: "col downloads", role: "gridcell" }, String(f.downloads)),
    el("span", { class: "col last", role: "gridcell", title: f.last_access_at ? `Last downloaded ${formatDate(f.last_access_at)}` : "Never downloaded" },
      f.last_access_at ? cellDate(f.last_access_at) : "—"));
    row.style.top = `${i * ROW}px`;
    nodes.push(row);
  }
  rows.replaceChildren(...nodes);
  // A scrollbar that takes room narrows the rows; the head follows, so columns stay aligned.
  $("files-table").style.setProperty("--gutter", `${rows.offsetWidth - rows.clientWidth}px`);
  if (focused) focusRow(focused);
}

/** Below 1,000 px the window shows one pane: the list, or a file's details in its place. */
const onePane = window.matchMedia("(max-width: 999.98px)");

/** Selects a file and shows its details (a click, Enter): in one pane, the details take the
 *  list's place and the focus goes to Back; beside the list, the row keeps the focus. */
async function openFile(id) {
  await select(id);
  if (onePane.matches) $("d-back").focus(); else focusRow(id);
}

/** Back from the details to the list (one pane): the files stay selected, the file's row (or
 *  the anchor's, of several) in view and focused. */
function backToList() {
  document.querySelector(".files-layout").classList.add("showing-list");
  const id = state.selected ?? state.anchor;
  const index = state.shown.findIndex((f) => f.id === id);
  if (index >= 0) reveal(index);
  renderRows();
  if (index >= 0) focusRow(id);
}

/** A click on a row. Alone it opens the file. With Ctrl it adds the row to the selection or drops
 *  it, and the row becomes the anchor. With Shift it selects the rows from the anchor to this one
 *  (added to the selection, with Ctrl too). */
function clickRow(e, id, index) {
  if (e.shiftKey) {
    const range = rangeTo(index);
    const ids = e.ctrlKey || e.metaKey ? [...state.selection, ...range] : range;
    setSelection(ids, { keepList: true }).then(() => focusRow(id));
  } else if (e.ctrlKey || e.metaKey) {
    const ids = new Set(state.selection);
    if (ids.has(id)) ids.delete(id); else ids.add(id);
    setSelection(ids, { anchor: id, keepList: true }).then(() => focusRow(id));
  } else {
    openFile(id);
  }
}

function shownIds() {
  return new Set(state.shown.map((f) => f.id));
}

/** The ids of the rows from the anchor to row `index`, both included. Without an anchor in the
 *  list, row `index` becomes it. */
function rangeTo(index) {
  let from = state.shown.findIndex((f) => f.id === state.anchor);
  if (from < 0) {
    from = index;
    state.anchor = state.shown[index].id;
  }
  const [low, high] = from <= index ? [from, index] : [index, from];
  return state.shown.slice(low, high + 1).map((f) => f.id);
}

/** Shift+arrow: the range from the anchor grows or shrinks to row `index`, which takes the focus. */
function extendTo(index) {
  if (index < 0 || index >= state.shown.length) return;
  reveal(index);
  const id = state.shown[index].id;
  setSelection(rangeTo(index), { keepList: true }).then(() => focusRow(id));
}

/** Ctrl+A: every row the filter shows. */
function selectAll() {
  if (!state.shown.length) return;
  const anchor = shownIds().has(state.anchor) ? state.anchor : state.shown[0].id;
  setSelection(state.shown.map((f) => f.id), { anchor, keepList: true });
}

/** Scrolls the list just enough that row `index` shows whole. */
function reveal(index) {
  const rows = $("rows");
  const top = index * ROW;
  if (top < rows.scrollTop) rows.scrollTop = top;
  if (top + ROW > rows.scrollTop + rows.clientHeight) rows.scrollTop = top + ROW - rows.clientHeight;
}

function focusRow(id) {
  $("rows").querySelector(`.file-row[data-id="${CSS.escape(id)}"]`)?.focus({ preventScroll: true });
}

/** Brings the file `id` into the list: the filters give way if they hide it, and the list
 *  scrolls to its row. */
function revealFile(id) {
  const file = state.files.find((f) => f.id === id);
  if (!file) return;
  if (!ofKind(file)) { state.kind = "all"; $("kind-filter").value = "all"; }
  if (state.filter.trim() && !file.name.toLowerCase().includes(state.filter.trim().toLowerCase())) {
    state.filter = ""; $("filter").value = "";
  }
  applyFilter();
  const index = state.shown.findIndex((f) => f.id === id);
  const rows = $("rows");
  const top = index * ROW;
  if (top < rows.scrollTop || top + ROW > rows.scrollTop + rows.clientHeight) rows.scrollTop = Math.max(0, top - ROW);
  renderRows();
}

function moveSelection(index) {
  if (index < 0 || index >= state.shown.length) return;
  reveal(index);
  const id = state.shown[index].id;
  select(id, { keepPane: true }).then(() => focusRow(id));
}

/** Selects one file and shows its details; `keepPane` keeps the list in view when one pane shows
 *  the list (the arrow keys move there without leaving it). */
async function select(id, { keepPane = false } = {}) {
  await setSelection([id], { anchor: id, keepList: keepPane });
}

/** Makes `ids` the selection and shows it: one file's details, or for several what can be done
 *  to all. With `keepList`, a list in view (one pane) stays in view: choosing more rows or moving
 *  with the arrows does not leave it. */
async function setSelection(ids, { anchor = state.anchor, keepList = false } = {}) {
  const layout = document.querySelector(".files-layout");
  const listInView = !layout.classList.contains("with-details") || layout.classList.contains("showing-list");
  layout.classList.toggle("showing-list", keepList && listInView);
  state.selection = new Set(ids);
  state.anchor = anchor;
  syncSelected();
  if (state.selection.size === 0) return closeDetails();
  $("details").hidden = false;
  layout.classList.add("with-details");
  showSortColumn();
  renderRows();
  await renderDetails();
}

/** `state.selected` follows the selection: the file when it is one. What was typed in the
 *  new-link form for one file never carries over to another. */
function syncSelected() {
  const single = state.selection.size === 1 ? state.selection.values().next().value : null;
  if (single !== state.selected) resetLinkForm();
  state.selected = single;
}

/** Shows what is selected after the list changed (the watcher, a filter): the details, or none. */
async function showSelection() {
  if (state.selection.size) await renderDetails();
  else if (!$("details").hidden) closeDetails();
}

/** The new-link form as Settings has it: what was typed for one file never carries over to the
 *  next. */
function resetLinkForm() {
  $("link-form").reset();
  clearFieldErrors($("link-form"));
  $("l-expiry").value = state.defaultExpiry;
  $("l-limit").value = state.defaultLimit;
  showDateField($("l-expiry"), $("l-date"), $("l-date-row"));
}

/** The table keeps the column it is sorted by, with its arrow, even where the details panel
 *  would drop it (links, downloads). */
function showSortColumn() {
  document.querySelector(".files-layout").dataset.sort = state.sort.key;
}

/** Clears the selection and closes the details. */
function closeDetails() {
  document.querySelector(".files-layout").classList.remove("showing-list");
  resetLinkForm();
  state.selection = new Set();
  state.selected = null;
  $("details").hidden = true;
  $("details").classList.remove("bulk");
  $("d-bulk").hidden = true;
  $("selection-open").hidden = true;
  document.querySelector(".files-layout").classList.remove("with-details");
  renderRows();
}

async function renderDetails() {
  const many = state.selection.size > 1;
  $("details").classList.toggle("bulk", many);
  $("d-bulk").hidden = !many;
  $("selection-open").hidden = !many;
  if (many) return renderBulk();
  const file = state.files.find((f) => f.id === state.selected);
  if (!file) return closeDetails();
  $("d-name").textContent = file.name;
  const last = file.last_access_at ? `last downloaded ${ago(file.last_access_at)}` : "never downloaded";
  // What `file_info` said of this file before, shown until it answers again: a live update
  // redraws the same lines, and the panel never shifts under the pointer meanwhile.
  const known = state.shownInfo?.id === file.id ? state.shownInfo : null;
  $("d-meta").replaceChildren(`${formatSize(file.size)} · added ${formatDate(file.created_at)} · `,
    el("span", { id: "d-last-access", title: file.last_access_at ? formatDate(file.last_access_at) : "" }, last), el("br"),
    el("span", { class: "hash", title: "SHA-256 of the contents" }, `SHA-256 ${known ? known.sha256 : "…"}`));
  // Who sent a received file is read below; its date is in the row.
  const received = $("d-received");
  received.hidden = !file.slot_id;
  if (file.slot_id) showReceived(known || file);
  $("d-public").checked = file.public;
  $("d-public-row").hidden = !file.public;
  $("d-public-url").textContent = file.public_url || "";
  // What the row does not carry (the SHA-256, who sent the file), read with the links.
  // A file removed meanwhile has no record: the next read of the list closes its details.
  const [whole, links] = await Promise.all([invoke("file_info", { id: file.id }).catch(() => null),
    invoke("list_links", { file_id: file.id })]);
  // Each link's history, read with the links so they show together, never one before the other.
  const histories = await Promise.all(links.map((l) => invoke("link_history", { link_id: l.id }).catch((e) => {
    console.warn("sharelock: history:", e);
    return null;
  })));
  if (state.selected !== file.id) return;
  state.shownInfo = whole;
  if (whole) $("d-meta").querySelector(".hash").textContent = `SHA-256 ${whole.sha256}`;
  if (whole?.slot_id) showReceived(whole);
  $("d-no-links").hidden = links.length > 0;
  $("d-links").replaceChildren(...links.map((l, i) => linkItem(l, histories[i], file)));
  const inactive = links.filter((l) => l.status !== "active").length;
  $("d-clear-inactive").hidden = inactive === 0;
  $("d-clear-inactive").textContent = `Clear inactive (${inactive})`;
}

/** The details' "Received" line: when, and from whom with their message once `file_info` told. */
function showReceived(file) {
  $("d-received").replaceChildren(
    el("strong", {}, "Received"), ` ${formatDate(file.created_at)}`,
    file.uploader_name ? ` from ${file.uploader_name}` : "",
    file.uploader_message ? el("div", { class: "message" }, file.uploader_message) : "");
}

/** What a link's state is and since when. A dead link says why and when it died, and offers no
 *  copy or QR code: a link handed out now would only say "gone". */
function linkState(link, downloads) {
  switch (link.status) {
    case "revoked": return `Revoked ${formatDate(link.revoked_at)} · ${downloads}`;
    case "expired": return `Expired ${formatDate(link.expires_at)} · ${downloads}`;
    case "used_up": return `Used up: ${downloads} · ${link.expires_at ? `would expire ${formatDate(link.expires_at)}` : "no expiry"}`;
    default: return `${downloads} · ${expiryText(link.expires_at)}`;
  }
}

/** An item of a list (a link, an upload link, a received file) whose buttons say which item they
 *  act on: many read alike ("Expiry…", "Copy link"), and a screen reader may read a button on its
 *  own. */
function describedByHead(item, id) {
  const head = item.querySelector(".item-head, .received-name");
  head.id = id;
  for (const button of item.querySelectorAll(".item-actions button")) button.setAttribute("aria-describedby", id);
  return item;
}

/** Who can open a link or upload link, in words, from the address it carries (the core's
 *  `reach` and `reach_warning`). */
const REACH_WORDS = { this_computer: "this computer only", local_network: "devices on your network", internet: "anyone on the internet" };
function reachLine(item) {
  return el("div", { class: `reach-line${item.reach_warning ? " warn" : ""}`, title: item.reach_warning || "" },
    `Opens for ${REACH_WORDS[item.reach] || item.reach}`);
}

/** Whether to offer the link by this computer's mDNS name: only while the server is announced. */
function byName(item) { return Boolean(item.url_by_name && state.server?.announced_as); }

/** What an access was, in a word or three, and the tone it is shown in. */
function visitWhat(visit) {
  switch (visit.kind) {
    case "download":
      if (visit.state === "completed" && visit.downloads > 1) return [`Downloaded ${visit.downloads} times`, "ok"];
      return { completed: ["Downloaded", "ok"], partial: ["Partly downloaded", "warn"], started: ["Download started", "warn"] }[visit.state] || ["Download", ""];
    case "page.viewed": return ["Opened the page", ""];
    case "access.refused": return [`Refused${visit.status ? ` (${visit.status})` : ""}`, "bad"];
    case "link.expired": return ["The link expired", "notice"];
    case "link.exhausted": return ["The link was used up", "notice"];
    default: return [visit.kind, ""];
  }
}

/** Who made an access and how far it got: "curl 8.5 · 192.0.2.7 · 1.3 MiB of 1.3 MiB". */
function visitDetail(visit, file) {
  if (visit.kind === "link.expired" || visit.kind === "link.exhausted") return null;
  const parts = [visit.client_name];
  if (visit.client) parts.push(visit.client);
  if (visit.kind === "download") {
    parts.push(visit.state === "completed" || !file ? formatSize(visit.bytes) : `${formatSize(visit.bytes)} of ${formatSize(file.size)}`);
    if (visit.requests > 1) parts.push(`${visit.requests} requests`);
  } else if (visit.kind === "access.refused") {
    if (visit.reason) parts.push(visit.reason);
    if (visit.requests > 1) parts.push(`${visit.requests} tries`);
  }
  return parts.join(" · ");
}

/** A time as a history shows it: how long ago, the exact date on hover. Kept fresh by the clock
 *  (`tickTimes`). */
function agoTime(iso) {
  return el("time", { datetime: iso, title: formatDate(iso), dataset: { ago: iso } }, ago(iso));
}

/** How long ago, where the last few seconds are "just now" rather than a count that jumps. */
function ago(iso) {
  return Date.now() - new Date(iso) < 45_000 ? "just now" : relative(iso);
}

/** How many accesses a link shows before "Show all". */
const VISITS_SHOWN = 5;

/** A link's history: its accesses, newest first. Active links show their latest; a dead one's
 *  is folded until asked for. */
function historyBlock(link, visits, file) {
  if (visits === null) return el("p", { class: "history-note muted" }, "The history could not be read.");
  if (visits.length === 0) return el("p", { class: "history-note muted" }, "Not opened yet.");
  const choice = state.historyOpen.get(link.id);
  const open = choice === undefined ? link.status === "active" : choice !== false;
  const all = choice === "all";
  const downloads = visits.filter((v) => v.kind === "download" && v.state === "completed").length;
  const toggle = el("button", {
    type: "button", class: "link-button history-toggle", "aria-expanded": String(open),
    onclick: () => { state.historyOpen.set(link.id, open ? false : true); renderDetails(); },
  }, `History (${visits.length})${downloads ? ` · ${plural(downloads, "complete download")}` : ""}`);
  const shown = all ? visits : visits.slice(0, VISITS_SHOWN);
  const list = open && el("ol", { class: "history", "aria-label": `History of ${link.label || "the link"}` },
    ...shown.map((v) => {
      const [what, tone] = visitWhat(v);
      const detail = visitDetail(v, file);
      return el("li", { class: "visit", dataset: { kind: v.kind, state: v.state || "" } },
        el("div", { class: "visit-head" }, el("span", { class: `visit-what ${tone}` }, what), agoTime(v.last_at)),
        detail && el("div", { class: "visit-detail" }, detail));
    }));
  const more = open && !all && visits.length > VISITS_SHOWN && el("button", {
    type: "button", class: "link-button history-more",
    onclick: () => { state.historyOpen.set(link.id, "all"); renderDetails(); },
  }, `Show all ${visits.length}`);
  return el("div", { class: "history-block" }, toggle, list, more);
}

/** Keeps every "… ago" in view true as time passes. */
function tickTimes() {
  for (const time of document.querySelectorAll("time[data-ago]")) time.textContent = ago(time.dataset.ago);
}

async function setLinkNotify(link, input) {
  input.disabled = true;
  try {
    await invoke("edit_link", { id: link.id, notify: input.checked });
    toast(input.checked ? "You will be notified of its downloads" : "No notifications for this link");
  } catch (e) {
    input.checked = !input.checked;
    showError(e);
  } finally { input.disabled = false; }
}

function linkItem(link, visits = [], file = null) {
  const downloads = link.max_downloads ? `${link.downloads} of ${link.max_downloads} downloads` : `${link.downloads} download${link.downloads === 1 ? "" : "s"}`;
  const active = link.status === "active";
  const button = (text, onclick, cls) => el("button", { type: "button", class: cls, onclick }, text);
  return describedByHead(el("li", { class: `link${active ? "" : " dead"}`, dataset: { id: link.id, status: link.status } },
    el("div", { class: "item-head" },
      el("span", { class: `status ${link.status}` }, link.status.replace("_", " ")),
      el("span", { class: "title" }, link.label || "Link"),
      // A word, not a glyph: emoji fonts are not on every desktop.
      link.password && el("span", { class: "pill lock", title: "Asks for a password before the download" }, "password")),
    el("div", { class: "item-meta" }, linkState(link, downloads)),
    active && el("code", { class: "url link-url", title: link.url }, link.url),
    active && reachLine(link),
    active && el("label", { class: "switch link-notify" },
      el("input", { type: "checkbox", checked: link.notify !== false, onchange: (e) => setLinkNotify(link, e.target) }),
      el("span", {}, "Notify me when it is downloaded")),
    el("div", { class: "item-actions" },
      active && button("Copy link", () => copy(link.url, "Link")),
      active && byName(link) && button("Copy by name", () => copy(link.url_by_name, "Link by name")),
      active && button("Copy page link", () => copy(link.page_url, "Page link")),
      // The QR code carries the address, not the name: many phones do not resolve `.local` names.
      active && button("QR code", () => showQr("Scan to download", link.url, link.reach_warning)),
      // An expired or used-up link comes back with a later expiry or a higher limit, same URL.
      link.status !== "revoked" && button("Expiry…", () => extendLink(link)),
      link.status !== "revoked" && button("Limit…", () => limitLink(link)),
      link.status !== "revoked" && button("Password…", () => passwordLink(link)),
      active && button("Revoke", () => revokeLink(link), "danger"),
      !active && button("Remove from list", () => deleteLink(link))),
    historyBlock(link, visits, file)), `link-${link.id}`);
}

async function deleteLink(link) {
  try {
    await invoke("delete_link", { id: link.id });
    toast("Link removed from the list");
    await loadFiles();
  } catch (e) { showError(e); }
}

async function clearInactiveLinks() {
  try {
    const removed = await invoke("delete_inactive_links", { file_id: state.selected });
    toast(`Removed ${removed} inactive link${removed === 1 ? "" : "s"} from the list`);
    await loadFiles();
  } catch (e) { showError(e); }
}

function expiryChoice(seconds) {
  return seconds === null ? "never" : `${Math.max(1, Math.round(seconds))}s`;
}

function expiryFromForm(select, dateInput) {
  if (select.value !== "custom") return select.value;
  const invalid = (message) => ({ code: "invalid_input", field: "expires", message });
  if (!dateInput.value) throw invalid("choose the expiry date");
  const seconds = (new Date(dateInput.value) - Date.now()) / 1000;
  if (seconds < 60) throw invalid("the expiry date must be in the future");
  return expiryChoice(seconds);
}

/** A date as a `datetime-local` field holds it: local time, to the minute. */
function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Shows the date field only for "on a date…". It refuses the past itself (`min`), and starts at
 *  this time tomorrow unless it already holds a later date. Hidden, it is disabled, so a stale
 *  date in it can never block the form. */
function showDateField(select, input, row) {
  const custom = select.value === "custom";
  row.hidden = !custom;
  input.disabled = !custom;
  if (!custom) return;
  input.min = localInput(new Date(Date.now() + 60_000));
  if (!input.value || input.value < input.min) input.value = localInput(new Date(Date.now() + 86_400_000));
}

/** The expiry choices of the new-link form, for the dialog that changes one. */
function expiryOptions() {
  return [...$("l-expiry").options].map((o) => el("option", { value: o.value }, o.textContent));
}

async function extendLink(link) {
  const select = el("select", { id: "extend-choice", "aria-label": "New expiry" }, expiryOptions());
  const date = el("input", { type: "datetime-local", id: "extend-date", "aria-label": "Expiry date" });
  const row = el("label", {}, "Expiry date ", date);
  // It opens on what the link has now, so Save without a change changes nothing.
  const current = link.expires_at ? new Date(link.expires_at) : null;
  if (!current) select.value = "never";
  else if (current > new Date()) { select.value = "custom"; date.value = localInput(current); }
  else select.value = state.defaultExpiry;
  const unchanged = { choice: select.value, date: date.value };
  showDateField(select, date, row);
  select.addEventListener("change", () => showDateField(select, date, row));
  const now = current && current > new Date() ? `Now ${expiryText(link.expires_at)} (${formatDate(link.expires_at)}).`
    : current ? `It expired ${formatDate(link.expires_at)}.` : "Now it never expires.";
  const body = [el("p", { class: "muted" }, `${now} The link's address stays the same.`), el("label", {}, "Expires ", select), row];
  if (!(await dialog({ title: "Change the expiry", body, ok: "Save" }))) return;
  if (select.value === unchanged.choice && date.value === unchanged.date && (select.value === "custom" || select.value === "never")) return;
  try {
    await invoke("edit_link", { id: link.id, expires: expiryFromForm(select, date) });
    toast("Expiry changed");
    await renderDetails();
  } catch (e) { showError(e); }
}

async function limitLink(link) {
  const input = el("input", { type: "text", inputmode: "numeric", id: "limit-choice", value: link.max_downloads || "", placeholder: "no limit", "aria-label": "Download limit" });
  if (!(await dialog({ title: "Download limit", body: [el("p", { class: "muted" }, `${link.downloads} used so far. Leave empty for no limit.`), input], ok: "Save" }))) return;
  try {
    const value = input.value.trim();
    await invoke("edit_link", value ? { id: link.id, max_downloads: value } : { id: link.id, unlimited: true });
    toast("Limit changed");
    await renderDetails();
  } catch (e) { showError(e); }
}

/** Sets a new password on a link, or removes its password. The link's address stays the same;
 *  whoever unlocked it before must type the new password. The password only ever goes to the
 *  command, never into the page's state or a log. */
async function passwordLink(link) {
  const input = el("input", { type: "password", id: "password-choice", autocomplete: "new-password", "aria-label": "New password" });
  let remove = false;
  const removeButton = link.password && el("button", {
    type: "button", id: "password-remove", class: "danger",
    onclick: () => { remove = true; $("dialog").close(); },
  }, "Remove password");
  const now = link.password ? "This link asks for a password." : "This link has no password: anyone with the address can download.";
  const body = [el("p", { class: "muted", id: "password-state" }, now), el("label", {}, "New password ", input)];
  if (removeButton) body.push(el("div", { class: "dialog-extra" }, removeButton));
  const set = await dialog({ title: "Link password", body, ok: "Set password" });
  if (!set && !remove) return;
  try {
    await invoke("edit_link", remove ? { id: link.id, remove_password: true } : { id: link.id, password: input.value });
    toast(remove ? "Password removed" : "Password set");
    await renderDetails();
  } catch (e) { showError(e); }
  finally { input.value = ""; }
}

async function revokeLink(link) {
  if (!(await dialog({ title: "Revoke this link?", body: el("p", {}, "Anyone who opens it from now on gets “this link was revoked”. This cannot be undone."), ok: "Revoke", danger: true }))) return;
  try {
    await invoke("revoke_link", { id: link.id });
    toast("Link revoked");
    await loadFiles();
  } catch (e) { showError(e); }
}

async function createLink(event) {
  event.preventDefault();
  if (!state.serving) return;
  const file = state.selected;
  clearFieldErrors($("link-form"));
  try {
    const expires = expiryFromForm($("l-expiry"), $("l-date"));
    // The limit goes as typed: the command reads it and says at the field what is wrong.
    const limit = $("l-limit").value.trim();
    const link = await invoke("create_link", {
      file_id: file, expires, max_downloads: limit || null, label: $("l-label").value.trim() || null,
      notify: $("l-notify").checked, password: $("l-password").value || null,
    });
    await copy(link.url, "Link");
    $("l-label").value = "";
    $("l-password").value = "";
    await loadFiles();
  } catch (e) {
    showError(e, { form: $("link-form") });
  }
}

/** Makes the selected file public or private. Public means no token is asked, so a link's
 *  download limit and expiry no longer hold anyone back: the user says so first. */
async function setPublic() {
  const makePublic = $("d-public").checked;
  try {
    if (makePublic) {
      const links = await invoke("list_links", { file_id: state.selected });
      const limited = links.filter((l) => l.status === "active" && (l.max_downloads || l.expires_at || l.password)).length;
      const body = el("p", {}, `${limited === 1 ? "1 active link limits" : `${limited} active links limit`} how often or until when it can be downloaded. Once public, anyone with its address can download it, as often as they like, for as long as it stays public: those limits no longer protect it.`);
      if (limited && !(await dialog({ title: "Make this file public?", body, ok: "Make public", danger: true }))) {
        $("d-public").checked = false;
        return;
      }
    }
    await invoke("set_public", { id: state.selected, public: makePublic });
    await loadFiles();
  } catch (e) { showError(e); }
}

// ---------- several files ----------

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** The selected files, in the list's order. */
function selectedFiles() {
  return state.shown.filter((f) => state.selection.has(f.id));
}

/** What several selected files are, and the buttons that act on all of them. */
function renderBulk() {
  const files = selectedFiles();
  const count = files.length;
  const open = files.filter((f) => f.public).length;
  $("bulk-title").textContent = `${count} files selected`;
  const access = open === 0 ? "all private" : open === count ? "all public" : `${open} public, ${count - open} private`;
  $("bulk-meta").textContent = `${formatSize(files.reduce((sum, f) => sum + f.size, 0))} in all · ${access}`;
  $("bulk-public").disabled = open === count;
  $("bulk-private").disabled = open === 0;
  $("bulk-remove").textContent = `Remove ${count} files…`;
  $("share-create").textContent = `Link to ${count} files`;
  $("share-create").disabled = !state.serving;
  $("selection-open").textContent = `${count} selected ›`;
  $("selection-open").setAttribute("aria-label", `Show what to do with the ${count} selected files`);
}

/** The active links of `files`, from one look at every link. */
async function activeLinksOf(files) {
  const ids = new Set(files.map((f) => f.id));
  const links = await invoke("list_links", {});
  return links.filter((l) => ids.has(l.file_id) && l.status === "active");
}

/** Says what a command over several files did. Each file it could not change is named, with the
 *  reason, in an error that stays longer: a partial failure is never passed over. */
function reportBatch(batch, files, done, notDone) {
  const total = files.length;
  if (batch.failed.length === 0) return toast(`${done(plural(total, "file"))}`);
  const name = (id) => files.find((f) => f.id === id)?.name ?? id;
  const why = batch.failed.map((f) =>
    `“${name(f.id)}”, ${f.code === "not_found" ? "no longer in Sharelock (removed elsewhere)" : f.message}`);
  toast(`${done(`${batch.done.length} of ${total} files`)}. ${notDone}: ${why.join("; ")}.`, "error");
}

/** One link to the selected files, in the list's order, with the default expiry: a share whose
 *  URL (the zip of them all) is copied, as a new link's is. */
async function createShare(event) {
  event.preventDefault();
  const files = selectedFiles();
  if (!state.serving || files.length < 2) return;
  try {
    const link = await invoke("create_share", {
      file_ids: files.map((f) => f.id), name: $("share-name").value.trim() || null, expires: state.defaultExpiry,
    });
    await copy(link.url, `Link to ${files.length} files`);
    $("share-name").value = "";
    await loadFiles();
  } catch (e) { showError(e, { form: $("share-form") }); }
}

/** Removes the selected files (the Delete key, or the bulk Remove), after one question that says
 *  how many files and how many working links go. */
async function removeSelected() {
  const files = selectedFiles();
  if (files.length === 1) return removeFile();
  if (files.length === 0) return;
  try {
    const active = (await activeLinksOf(files)).length;
    const dying = active === 0 ? "no active link stops working" : `${plural(active, "active link")} stop${active === 1 ? "s" : ""} working`;
    const body = el("p", {}, `${files.length} files are deleted from Sharelock's store, and ${dying}. The originals you added are not touched.`);
    if (!(await dialog({ title: `Remove ${files.length} files?`, body, ok: `Remove ${files.length} files`, danger: true }))) return;
    const batch = await invoke("remove_files", { ids: files.map((f) => f.id) });
    reportBatch(batch, files, (count) => `Removed ${count}`, "Not removed");
    await loadFiles();
  } catch (e) { toast(errorText(e), "error"); }
}

/** Makes the selected files public or private. Going public asks first when any of them has
 *  active links with a limit, as for one file. */
async function setPublicSelected(makePublic) {
  const files = selectedFiles();
  try {
    if (makePublic) {
      const limited = (await activeLinksOf(files)).filter((l) => l.max_downloads || l.expires_at);
      const holders = new Set(limited.map((l) => l.file_id)).size;
      const body = el("p", {}, `${holders === 1 ? "One of these files has" : `${holders} of these files have`} ${limited.length === 1 ? "an active link that limits" : `${limited.length} active links that limit`} how often or until when ${holders === 1 ? "it" : "they"} can be downloaded. Once public, anyone with a file's address can download it, as often as they like, for as long as it stays public: those limits no longer protect it.`);
      if (limited.length && !(await dialog({ title: `Make ${files.length} files public?`, body, ok: "Make public", danger: true }))) return;
    }
    const batch = await invoke("set_public_many", { ids: files.map((f) => f.id), public: makePublic });
    reportBatch(batch, files, (count) => `Made ${count} ${makePublic ? "public" : "private"}`, "Not changed");
    await loadFiles();
  } catch (e) { toast(errorText(e), "error"); }
}

/** Whether a key in the Files view is the list's: no dialog open, no field being typed in. */
function listKeys() {
  const focus = document.activeElement;
  const inField = focus && (focus.matches("input, textarea, select") || focus.isContentEditable);
  return state.view === "files" && !inField && !$("dialog").open;
}

async function removeFile() {
  const file = state.files.find((f) => f.id === state.selected);
  const body = el("p", {}, `“${file.name}” is deleted from Sharelock's store, and its ${file.links} link(s) stop working. The original you added is not touched.`);
  if (!(await dialog({ title: "Remove this file?", body, ok: "Remove", danger: true }))) return;
  try {
    await invoke("remove_file", { id: file.id });
    toast(`Removed ${file.name}`);
    closeDetails();
    await loadFiles();
  } catch (e) { showError(e); }
}

/** Whether Ctrl+C means "the selected file's link": only when it would copy nothing else (no
 *  text selected, the focus in no field, no dialog open). */
function copiesLink() {
  const focus = document.activeElement;
  const inField = focus && (focus.matches("input, textarea, select") || focus.isContentEditable);
  return state.view === "files" && state.selected && !inField && !$("dialog").open && !window.getSelection().toString();
}

async function copyNewestLink() {
  try {
    const links = await invoke("list_links", { file_id: state.selected });
    const newest = links.filter((l) => l.status === "active")
      .reduce((a, b) => (!a || b.created_at > a.created_at ? b : a), null);
    if (newest) await copy(newest.url, "Link");
    else toast("This file has no active link to copy: create one first");
  } catch (e) { showError(e); }
}

// ---------- adding files ----------

/** Adds files and folders by path: the drop handler, the picker and tests all come here. */
async function addPaths(paths) {
  if (!paths || paths.length === 0) return [];
  const panel = $("progress-panel");
  $("progress-title").textContent = "Preparing…";
  $("progress-bar").value = 0;
  panel.hidden = false;
  try {
    const added = await invoke("add_files", { paths, public: false });
    toast(added.length === 1 ? `Added ${added[0].name}` : `Added ${added.length} files`);
    // The files added go to the top of the list at once; the list is read whole again when the
    // store's change event comes (or now, from another view), which also brings other changes.
    if (state.view === "files") {
      showAdded(added);
    } else {
      const since = performance.now();
      show("files");
      await loadFiles({ since }); // the read that showing Files began
    }
    if (added.length) {
      const last = added[added.length - 1].id;
      revealFile(last);
      await select(last);
    }
    return added;
  } catch (e) {
    showError(e, { prefix: "Not added." });
    await loadFiles();
    return [];
  } finally {
    panel.hidden = true;
    $("progress-text").textContent = "";
  }
}

/** The files the window added last (see `showAdded`), and when it listed them. */
let lastAdded = { at: -Infinity, files: [] };

/** `files`, as read by a read begun at `started`: a read begun before the window listed the files
 *  it just added (one the store's change event asked for in the middle of the add) lists them as
 *  well, so it cannot take them, and their selection, out of the list. The next read has them. */
function withAdded(files, started) {
  if (started >= lastAdded.at) return files;
  const listed = new Set(files.map((f) => f.id));
  return [...lastAdded.files.filter((f) => !listed.has(f.id)), ...files];
}

/** Puts files just added at the top of the list, newest first, as the core lists them, without
 *  reading the whole list again (with 100,000 files a read takes most of a second). A file the
 *  list already has (a read that came in during the add) is not listed twice. */
function showAdded(added) {
  const ids = new Set(added.map((f) => f.id));
  const rows = added.slice().reverse().map((f) => fileRow([f.id, f.name, f.size, f.created_at, f.public,
    f.public_url ?? null, f.slot_id ?? null, f.content_type, f.links, f.downloads, f.last_access_at ?? null]));
  state.files = [...rows, ...state.files.filter((f) => !ids.has(f.id))];
  lastAdded = { at: performance.now(), files: rows };
  $("files-count").textContent = String(state.files.length);
  applyFilter();
}

async function pickFiles() {
  try {
    const picked = await T.dialog.open({ multiple: true, title: "Add files to Sharelock" });
    if (picked) await addPaths(Array.isArray(picked) ? picked : [picked]);
  } catch (e) { showError(e); }
}

function onProgress({ payload }) {
  const percent = payload.total ? Math.floor((payload.done / payload.total) * 100) : 100;
  $("progress-title").textContent = `Adding ${payload.name}${payload.count > 1 ? ` (${payload.index + 1} of ${payload.count})` : ""}`;
  $("progress-bar").value = percent;
  $("progress-text").textContent = `Adding ${payload.name}: ${percent}%`;
}

// ---------- receive ----------

async function loadSlots() {
  const slots = await invoke("list_slots");
  showSlotsCount(slots);
  $("no-slots").hidden = slots.length > 0;
  $("slots").replaceChildren(...slots.map((s) => describedByHead(el("li", { class: "slot", dataset: { id: s.id, status: s.status } },
    el("div", { class: "item-head" },
      el("span", { class: `status ${s.status}` }, s.status),
      el("span", { class: "title" }, s.label || "Upload link")),
    el("div", { class: "item-meta" },
      `${slotState(s)} · ${s.received} of ${s.max_files} files received · up to ${formatSize(s.max_size)} each`
      + (s.accept ? ` · ${s.accept.join(", ")}` : "")),
    s.status === "active" && el("code", { class: "url slot-url", title: s.url }, s.url),
    s.status === "active" && reachLine(s),
    el("div", { class: "item-actions" },
      s.status === "active" && el("button", { type: "button", onclick: () => copy(s.url, "Upload link") }, "Copy link"),
      s.status === "active" && byName(s) && el("button", { type: "button", onclick: () => copy(s.url_by_name, "Upload link by name") }, "Copy by name"),
      s.status === "active" && el("button", { type: "button", onclick: () => showQr("Scan to send files", s.url, s.reach_warning) }, "QR code"),
      s.received > 0 && el("button", { type: "button", onclick: () => show("inbox") }, "See what arrived"),
      s.status === "active" && el("button", { type: "button", class: "danger", onclick: () => closeSlot(s) }, "Close"))),
  `slot-${s.id}`)));
}

/** The sidebar counts the upload links still taking files. */
function showSlotsCount(slots) {
  $("slots-count").textContent = slots.filter((s) => s.status === "active").length || "";
}

/** Since when an upload link is in its state; a closed or expired one offers nothing to send. */
function slotState(slot) {
  switch (slot.status) {
    case "active": return `Open until ${formatDate(slot.expires_at)}`;
    case "closed": return `Closed ${formatDate(slot.closed_at)}`;
    case "expired": return `Expired ${formatDate(slot.expires_at)}`;
    default: return `Full: takes no more files (open until ${formatDate(slot.expires_at)})`;
  }
}

async function createSlot(event) {
  event.preventDefault();
  if (!state.serving) return;
  clearFieldErrors($("slot-form"));
  try {
    const slot = await invoke("create_slot", { form: {
      expires: $("s-expiry").value, max_size: $("s-max-size").value, max_files: $("s-max-files").value,
      max_total: $("s-max-total").value || null, accept: $("s-accept").value || null, label: $("s-label").value || null,
    } });
    await copy(slot.url, "Upload link");
    $("s-label").value = "";
    await loadSlots();
  } catch (e) { showError(e, { form: $("slot-form") }); }
}

async function closeSlot(slot) {
  if (!(await dialog({ title: "Close this upload link?", body: el("p", {}, "Nobody can send files through it any more. Files already received stay in your inbox."), ok: "Close link", danger: true }))) return;
  try {
    await invoke("close_slot", { id: slot.id });
    await loadSlots();
  } catch (e) { showError(e); }
}

// ---------- inbox ----------

async function loadInbox() {
  const [files, slots] = await Promise.all([invoke("inbox"), invoke("list_slots")]);
  state.inboxCount = files.length;
  $("inbox-empty").hidden = files.length > 0;
  const slotsById = new Map(slots.map((s) => [s.id, s]));
  $("inbox").replaceChildren(...groupReceived(files).map(({ slotId, uploads }) => inboxSlot(slotsById.get(slotId), slotId, uploads)));
}

/** Received files (newest first) by upload link, then by upload: the files one sender sent in
 *  one go, with one name and one message, in the order they were sent. A file from before
 *  uploads were recorded stands alone. Links and uploads keep the order of their newest file. */
function groupReceived(files) {
  const slots = new Map();
  for (const file of files) {
    if (!slots.has(file.slot_id)) slots.set(file.slot_id, new Map());
    const uploads = slots.get(file.slot_id);
    const upload = file.upload_id || `file:${file.id}`;
    if (!uploads.has(upload)) uploads.set(upload, []);
    uploads.get(upload).unshift(file);
  }
  return [...slots].map(([slotId, uploads]) => ({ slotId, uploads: [...uploads.values()] }));
}


function inboxSlot(slot, slotId, uploads) {
  const files = uploads.reduce((n, upload) => n + upload.length, 0);
  return el("section", { class: "inbox-slot", dataset: { slot: slotId } },
    el("header", { class: "item-head inbox-slot-head" },
      el("h2", { class: "title" }, slot?.label || "Upload link"),
      slot && el("span", { class: `status ${slot.status}` }, slot.status),
      el("span", { class: "muted" }, `${plural(files, "file")} in ${plural(uploads.length, "upload")}`)),
    ...uploads.map(inboxUpload));
}

function inboxUpload(files) {
  const first = files[0];
  const size = files.reduce((n, f) => n + f.size, 0);
  return el("article", { class: "upload", dataset: { upload: first.upload_id || "" } },
    el("div", { class: "upload-head" },
      el("span", { class: first.uploader_name ? "sender" : "sender muted" }, first.uploader_name || "No name given"),
      el("span", { class: "muted" }, `sent ${formatDate(first.created_at)} · ${plural(files.length, "file")}, ${formatSize(size)}`)),
    first.uploader_message ? el("div", { class: "message" }, first.uploader_message) : null,
    el("ul", { class: "upload-files" }, ...inFolders(files).map((item) =>
      item.folder ? receivedFolder(first.upload_id, item.folder, item.files) : receivedFile(item.file))));
}

/** One upload's files with each received folder gathered where its first file was, its files
 *  by path (as `sharelock ls` shows them: `files::by_folder`). */
function inFolders(files) {
  const items = [];
  const folders = new Map();
  for (const file of files) {
    const slash = file.path ? file.path.indexOf("/") : -1;
    if (slash < 0) { items.push({ file }); continue; }
    const name = file.path.slice(0, slash);
    if (!folders.has(name)) { folders.set(name, { folder: name, files: [] }); items.push(folders.get(name)); }
    folders.get(name).files.push(file);
  }
  for (const folder of folders.values()) folder.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return items;
}

/** A received folder: its name, size and Save as…, then its files by their path inside it. */
function receivedFolder(uploadId, name, files) {
  const size = files.reduce((n, f) => n + f.size, 0);
  // Its Save as… says which folder it saves, as a file's buttons say which file (describedByHead
  // would reach the buttons of the files inside too). Ids from a count: a name may hold spaces.
  const id = `received-folder-${++foldersShown}`;
  return el("li", { class: "received-folder", dataset: { folder: name } },
    el("div", { class: "received-name", id },
      el("span", { class: "folder-name" }, `${name}/`),
      el("span", { class: "muted file-meta" }, ` · ${plural(files.length, "file")}, ${formatSize(size)}`)),
    el("div", { class: "item-actions" },
      uploadId && el("button", { type: "button", class: "save-folder", "aria-describedby": id, onclick: () => saveFolder(uploadId, name) }, "Save as…")),
    el("ul", { class: "upload-files folder-files" }, ...files.map((f) => receivedFile(f, f.path.slice(name.length + 1)))));
}
let foldersShown = 0;

/** A time that tells apart two files of the same name: "14:03" today, with the day before. */
function timeOf(iso) {
  const date = new Date(iso);
  return date.toDateString() === new Date().toDateString() ? timeOnly.format(date) : shortDate(iso);
}
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });

/** A received file, called `shown` (its path inside its folder) or by its name. */
function receivedFile(f, shown = f.name) {
  const button = (text, onclick, cls) => el("button", { type: "button", class: cls, onclick }, text);
  return describedByHead(el("li", { class: "received-file", dataset: { id: f.id } },
    el("div", { class: "received-name" },
      el("span", { class: "title", title: f.path || f.name }, shown),
      el("span", { class: "muted file-meta" }, ` · ${formatSize(f.size)} · ${timeOf(f.created_at)}`)),
    el("div", { class: "item-actions" },
      button("Open", () => openReceived(f), "open"),
      button("Save as…", () => saveAs(f)),
      button("Show in folder", () => showInFolder(f), "local-only"),
      button("Share…", () => shareReceived(f), "share"),
      button("Delete…", () => deleteReceived(f), "danger delete"))), `received-${f.id}`);
}

async function openReceived(file) {
  try { await invoke("open_file", { id: file.id }); } catch (e) { toast(`Could not open ${file.name}: ${errorText(e)}`, "error"); }
}

/** Share…: the file in Files, selected, with the new-link form ready to fill in. */
async function shareReceived(file) {
  show("files");
  await loadFiles();
  revealFile(file.id);
  await select(file.id);
  $("link-form").scrollIntoView({ block: "nearest" });
  $("l-expiry").focus();
}

async function deleteReceived(file) {
  const links = file.links ? `, and its ${plural(file.links, "link")} stop working` : "";
  const body = el("p", {}, `“${file.name}” is deleted from Sharelock's store${links}. Save it first if you want to keep a copy.`);
  if (!(await dialog({ title: "Delete this received file?", body, ok: "Delete", danger: true }))) return;
  try {
    await invoke("remove_file", { id: file.id });
    toast(`Deleted ${file.name}`);
    await refresh();
  } catch (e) { toast(errorText(e), "error"); }
}

async function saveAs(file) {
  try {
    const destination = await T.dialog.save({ defaultPath: file.name, title: "Save a received file" });
    if (!destination) return;
    await invoke("export_file", { id: file.id, destination });
    toast(`Saved ${file.name}`);
  } catch (e) { showError(e); }
}

/** Save as… on a received folder: a folder picker, then the tree written into it. */
async function saveFolder(uploadId, folder) {
  try {
    const destination = await T.dialog.open({ directory: true, title: `Save the folder “${folder}” into…` });
    if (!destination) return;
    await saveFolderInto(uploadId, folder, destination);
  } catch (e) { showError(e); }
}

/** Writes the received folder's tree into `destination` (the picker's choice, or a test's). */
async function saveFolderInto(uploadId, folder, destination) {
  const written = await invoke("save_folder", { upload_id: uploadId, folder, destination });
  toast(`Saved ${folder} (${plural(written.length, "file")})`);
  return written;
}

async function showInFolder(file) {
  try { await invoke("show_in_folder", { id: file.id }); } catch (e) { showError(e); }
}

// ---------- settings and server ----------

let suggestedBaseUrl = null;
/** The settings as last loaded or saved: what the form is compared with to know it has unsaved
 *  edits. */
let savedSettings = null;

/** The Settings form's values, as `save_settings` takes them. Numbers go as typed: the command
 *  reads them and says at the field what is wrong. */
function settingsForm() {
  return {
    listen: document.querySelector("input[name=listen]:checked")?.value || "local",
    port: $("set-port").value.trim(),
    base_url: $("set-base-url").value.trim(),
    default_link_expiry: $("set-expiry").value,
    default_link_limit: $("set-limit").value.trim(),
    notify_received: $("set-notify").checked,
    notify_downloads: $("set-notify-downloads").checked,
    history: $("set-history").value,
  };
}

const SERVER_SETTINGS = ["listen", "port", "base_url"];

/** Which settings differ from the saved ones. */
function changedSettings() {
  if (!savedSettings) return [];
  const now = settingsForm();
  return Object.keys(now).filter((key) => String(now[key]) !== String(savedSettings[key]));
}

/** Marks unsaved edits: the note, the Save/Discard pair, the dot in the sidebar, and what Save
 *  will do (restart the server, or apply at once). */
function showUnsaved() {
  const changed = changedSettings();
  const dirty = changed.length > 0;
  $("settings-unsaved").hidden = !dirty;
  $("settings-dirty").hidden = !dirty;
  $("save-settings").disabled = !dirty;
  $("discard-settings").disabled = !dirty;
  // Only a real change of words touches the button: replacing its text under a press that is
  // under way (the field's change event fires on that press) would lose the click.
  const label = changed.some((key) => SERVER_SETTINGS.includes(key)) ? "Save and restart server" : "Save";
  if ($("save-settings").textContent !== label) $("save-settings").textContent = label;
}

async function loadSettings() {
  const s = await invoke("get_settings");
  suggestedBaseUrl = s.suggested_base_url;
  for (const radio of document.querySelectorAll("input[name=listen]")) radio.checked = radio.value === s.listen;
  $("set-port").value = s.port;
  $("set-base-url").value = s.base_url;
  $("set-expiry").value = s.default_link_expiry;
  $("set-limit").value = s.default_link_limit;
  $("set-notify").checked = s.notify_received;
  $("set-notify-downloads").checked = s.notify_downloads;
  // A lifetime set elsewhere (`sharelock settings history 14d`) shows as it is, among the choices.
  const history = $("set-history");
  if (![...history.options].some((o) => o.value === s.history)) history.append(el("option", { value: s.history }, s.history));
  history.value = s.history;
  $("set-data-dir").textContent = s.data_dir;
  clearFieldErrors($("settings-form"));
  savedSettings = settingsForm();
  showUnsaved();
  state.dataDir = s.data_dir;
  state.defaultExpiry = s.default_link_expiry;
  state.defaultLimit = s.default_link_limit;
  resetLinkForm();
}

/** "12 active links and 2 upload links were sent with http://…:7420; they will stop working." */
function breaksText({ links, upload_links: uploads, base_url: base }) {
  const what = [];
  if (links) what.push(`${links} active link${links === 1 ? "" : "s"}`);
  if (uploads) what.push(`${uploads} upload link${uploads === 1 ? "" : "s"}`);
  const one = links + uploads === 1;
  return `${what.join(" and ")} ${one ? "was" : "were"} sent with ${base}; ${one ? "it" : "they"} will stop working.`;
}

/** Saves the settings. A new server address that would break links already sent is saved only
 *  once the user has read how many and confirmed; Cancel saves nothing and keeps the edits. */
async function saveSettings(event, confirm = false) {
  event?.preventDefault();
  clearFieldErrors($("settings-form"));
  try {
    const result = await invoke("save_settings", { settings: settingsForm(), confirm });
    if (!result.saved) {
      const body = [el("p", { id: "breaks-text" }, breaksText(result.breaks)),
        el("p", { class: "muted" }, "Recipients would need new ones. Cancel keeps the server as it is, with your edits unsaved.")];
      if (await dialog({ title: "Change the server's address?", body, ok: "Save and restart", danger: true })) await saveSettings(null, true);
      return;
    }
    renderServer(result);
    await loadSettings();
    if (!result.restarted) toast("Settings saved: they apply at once");
    else toast(result.running ? "Settings saved; the server restarted" : "Settings saved, but the server could not start", result.running ? "info" : "error");
  } catch (e) { showError(e, { form: $("settings-form") }); }
}

async function discardSettings() {
  try { await loadSettings(); } catch (e) { showError(e); }
}

async function openDataDir() {
  try { await invoke("open_data_dir"); } catch (e) { showError(e); }
}

/** The status bar, and while nothing serves: the banner with the fix, and link and upload-link
 *  creation turned off with the reason beside it. */
function renderServer(status) {
  state.localServer = status;
  if (state.place?.kept === "server") return renderPlace(state.place);
  state.serving = status.running;
  state.server = status;
  // Before a link is made and copied: who could not open it, and where to change that.
  for (const id of ["l-reach", "s-reach"]) {
    $(id).hidden = !(status.running && status.reach_warning);
    $(id).querySelector(".reach-text").textContent = status.reach_warning || "";
  }
  // While the server's first start is under way (a moment at launch) nothing is wrong yet: no
  // banner, no "stopped" notes, only the create buttons wait.
  $("server-banner").hidden = status.running || status.starting;
  for (const [button, note] of [["create-link", "l-stopped"], ["create-slot", "s-stopped"]]) {
    $(button).disabled = !status.running;
    $(note).hidden = status.running || status.starting;
  }
  if (!status.running) {
    $("banner-text").textContent = `${status.error ? `${status.error[0].toUpperCase()}${status.error.slice(1)}.` : ""} Links and upload links do not open until it runs again.`;
    const fix = $("banner-fix");
    fix.hidden = !status.suggested_port;
    fix.textContent = `Use port ${status.suggested_port} instead`;
    fix.onclick = () => usePort(status.suggested_port);
  }
  $("server-dot").className = `dot ${status.running ? "ok" : status.starting ? "" : "bad"}`;
  const usePortButton = $("use-port");
  if (status.running) {
    const base = status.base_url && status.base_url !== status.listen_url ? ` · links use ${status.base_url}` : "";
    const where = status.background ? " · served in the background" : "";
    $("server-text").textContent = `Serving at ${status.listen_url}${base}${where}`;
    const reach = status.links_reach ? `links open for ${REACH_WORDS[status.links_reach]}` : "";
    const name = status.announced_as ? ` (also as ${status.announced_as})` : "";
    const mapping = status.mapping?.state === "failed" ? " · no port mapping (see Settings)" : "";
    $("server-reach").textContent = reach && `· ${reach}${name}${mapping}`;
    usePortButton.hidden = true;
  } else if (status.starting) {
    $("server-text").textContent = "Starting the server…";
    $("server-reach").textContent = "";
    usePortButton.hidden = true;
  } else {
    $("server-text").textContent = `Server stopped: ${status.error || "not running"}`;
    $("server-reach").textContent = "";
    usePortButton.hidden = !status.suggested_port;
    usePortButton.textContent = `Use port ${status.suggested_port} instead`;
    usePortButton.onclick = () => usePort(status.suggested_port);
  }
}

/** Settings' "Who can open my links?": the core's check (`sharelock reach`), a verdict per audience. */
async function checkReach() {
  const button = $("reach-check");
  button.disabled = true;
  button.textContent = "Checking…";
  try {
    const report = await invoke("reach_report");
    $("reach-verdicts").replaceChildren(...report.verdicts.map((v) => el("li", { class: `verdict ${v.can_open ? "yes" : "no"}`, dataset: { audience: v.audience } },
      el("strong", {}, `${v.can_open ? "✓" : "✗"} ${{ this_computer: "This computer", local_network: "Your network", internet: "The internet" }[v.audience]}: `),
      `${v.can_open ? "yes" : "no"}, ${v.why}`,
      ...v.urls.map((u) => el("code", { class: "url verdict-url" }, u)))));
    const mapping = report.mapping;
    $("reach-mapping").hidden = !mapping;
    if (mapping) {
      $("reach-mapping").textContent = mapping.state === "mapped"
        ? `Port mapping: ${mapping.external_ip}:${mapping.external_port} on the router forwards to ${mapping.internal} (${mapping.protocol}).`
        : `No port mapping: ${mapping.message}.`;
    }
    const kinds = { loopback: "this computer", link_local: "link-local", private: "local network", shared_nat: "carrier-grade NAT", special: "reserved", public: "public" };
    $("reach-addresses").replaceChildren(...report.addresses.map((a) => el("li", {},
      `${a.interface} `, el("code", {}, a.ip), ` (${kinds[a.kind] || a.kind}${a.default ? ", default route" : ""})`)));
    $("reach-details").hidden = report.addresses.length === 0;
  } catch (e) {
    showError(e);
  } finally {
    button.disabled = false;
    button.textContent = "Check now";
  }
}

/** The one-click fix for a taken port: save the free port and restart the server on it. */
async function usePort(port) {
  await loadSettings();
  $("set-port").value = port;
  await saveSettings(new Event("submit"));
}

// ---------- where the files are kept ----------

/** "Where your files are kept" as last loaded or saved, and the server whose test passed (the
 *  only one Save takes). */
let savedLocation = null;
let testedServer = null;

function locationForm() {
  return {
    kept: document.querySelector("input[name=kept]:checked")?.value || "local",
    url: $("loc-url").value.trim(),
    token: $("loc-token").value.trim(),
    ca_cert: $("loc-ca").value.trim(),
  };
}

const sameServer = (a, b) => a && b && a.url === b.url && a.token === b.token && a.ca_cert === b.ca_cert;

/** Save is offered for a change, and for a server only once its test passed as typed. */
function showLocationState() {
  const form = locationForm();
  const server = form.kept === "server";
  $("server-fields").hidden = !server;
  const changed = !savedLocation || form.kept !== savedLocation.kept || (server && (form.url !== savedLocation.url || form.token !== "" || form.ca_cert !== savedLocation.ca_cert));
  $("loc-save").disabled = !changed || (server && !sameServer(form, testedServer));
  $("loc-test").disabled = !server;
}

async function loadLocation() {
  const loc = await invoke("get_location");
  savedLocation = { kept: loc.kept, url: loc.url, ca_cert: loc.ca_cert };
  for (const radio of document.querySelectorAll("input[name=kept]")) radio.checked = radio.value === loc.kept;
  $("loc-url").value = loc.url;
  $("loc-token").value = "";
  $("loc-ca").value = loc.ca_cert;
  $("loc-token").placeholder = loc.token_place ? "the token kept for this server" : "slk_…";
  $("loc-token-place").hidden = !loc.token_place;
  $("loc-token-place").textContent = loc.token_place || "";
  clearFieldErrors($("location-form"));
  renderPlace(loc.place);
  showLocationState();
}

function locationResult(text, kind) {
  $("loc-result").textContent = text;
  $("loc-result").className = `small ${kind}`;
}

/** "Test connection": what the server said of the token, or why it could not be asked. */
async function testConnection() {
  const form = locationForm();
  clearFieldErrors($("location-form"));
  testedServer = null;
  $("loc-test").disabled = true;
  locationResult("Testing…", "");
  try {
    const who = await invoke("test_connection", { url: form.url, token: form.token, ca_cert: form.ca_cert });
    testedServer = form;
    const name = who.name ? `“${who.name}”` : who.id;
    locationResult(`✓ The server answers. Token ${name}, allowed to ${who.scopes.join(", ")}.`, "ok");
  } catch (e) {
    const input = e?.code === "invalid_input" ? fieldInput($("location-form"), e.field) : null;
    if (input) { setFieldError(input, e.message); locationResult("", ""); } else locationResult(`✗ ${words(e).text}`, "bad");
  } finally { showLocationState(); }
}

async function saveLocation(event) {
  event?.preventDefault();
  const form = locationForm();
  try {
    const loc = await invoke("save_location", form);
    testedServer = null;
    locationResult("", "");
    toast(loc.kept === "server" ? `Your files are now those on ${loc.url}` : "Your files are those on this computer again");
    await loadLocation();
    await refresh();
  } catch (e) { locationResult(`✗ ${words(e).text}`, "bad"); }
}

/** Where the files are: in the status bar, and what is only this computer's is hidden while
 *  they are on a server (Settings says why). */
function renderPlace(place) {
  state.place = place;
  document.body.dataset.kept = place.kept;
  const server = place.kept === "server";
  $("loc-note").textContent = server
    ? "This computer's own server, data folder, background service and signing secret serve files kept on this computer: they are hidden while your files are on the server. Choosing “On this computer” brings back this computer's files as they were."
    : place.error ? `Your files are those on this computer: ${place.error}.` : "";
  if (!server) { if (state.localServer) renderServer(state.localServer); return; }
  state.serving = true;
  $("server-banner").hidden = true;
  for (const [button, note] of [["create-link", "l-stopped"], ["create-slot", "s-stopped"]]) {
    $(button).disabled = false;
    $(note).hidden = true;
  }
  $("use-port").hidden = true;
  $("server-reach").textContent = "";
  const down = place.reachable === false;
  $("server-dot").className = `dot ${down ? "bad" : place.reachable ? "ok" : ""}`;
  $("server-text").textContent = down
    ? `Files on ${place.url} · ${place.error}`
    : `Files on ${place.url}${place.reachable ? " · connected" : " · connecting…"}`;
}

async function rotateSecret() {
  const body = el("p", {}, "Every link and upload link you have sent stops working at once, and cannot be brought back. Files stay; you can create new links for them.");
  if (!(await dialog({ title: "Replace the signing secret?", body, ok: "Replace secret", danger: true }))) return;
  try {
    await invoke("rotate_secret");
    toast("New secret in place: all earlier links are dead");
    await refresh();
  } catch (e) { showError(e); }
}

// ---------- start ----------

async function start() {
  // The list is read while the rest of the window is set up: with many files it is the longest
  // wait before the window shows anything.
  const opened = performance.now();
  readFiles().catch(() => {});
  for (const button of document.querySelectorAll(".nav-item")) button.addEventListener("click", () => show(button.dataset.view));
  $("add-files").addEventListener("click", pickFiles);
  // Filtering walks the list once, with no sort (see `orderOf`): it keeps up with typing, so the
  // keystrokes of one frame are taken together and nothing waits for the typing to stop.
  $("filter").addEventListener("input", perFrame(() => { state.filter = $("filter").value; applyFilter(); showSelection(); }));
  $("kind-filter").addEventListener("change", (e) => { state.kind = e.target.value; applyFilter(); showSelection(); });
  $("rows").addEventListener("scroll", () => requestAnimationFrame(renderRows), { passive: true });
  window.addEventListener("resize", debounce(renderRows, 50));
  for (const head of document.querySelectorAll(".table-head .sort")) {
    head.addEventListener("click", () => {
      const key = head.dataset.sort;
      state.sort = { key, desc: state.sort.key === key ? !state.sort.desc : key !== "name" };
      for (const h of document.querySelectorAll(".table-head .sort")) { h.classList.remove("active", "desc"); h.parentElement.removeAttribute("aria-sort"); }
      head.classList.add("active");
      head.classList.toggle("desc", state.sort.desc);
      head.parentElement.setAttribute("aria-sort", state.sort.desc ? "descending" : "ascending");
      showSortColumn();
      applyFilter();
    });
  }
  $("d-close").addEventListener("click", closeDetails);
  $("d-back").addEventListener("click", backToList);
  $("bulk-back").addEventListener("click", backToList);
  $("bulk-clear").addEventListener("click", closeDetails);
  $("bulk-public").addEventListener("click", () => setPublicSelected(true));
  $("bulk-private").addEventListener("click", () => setPublicSelected(false));
  $("bulk-remove").addEventListener("click", removeSelected);
  $("share-form").addEventListener("submit", createShare);
  $("selection-open").addEventListener("click", () => {
    document.querySelector(".files-layout").classList.remove("showing-list");
    $("bulk-back").focus();
  });
  $("d-public").addEventListener("change", setPublic);
  $("d-copy-public").addEventListener("click", () => copy($("d-public-url").textContent, "Public link"));
  $("d-remove").addEventListener("click", removeFile);
  $("l-expiry").addEventListener("change", () => showDateField($("l-expiry"), $("l-date"), $("l-date-row")));
  $("d-clear-inactive").addEventListener("click", clearInactiveLinks);
  $("banner-settings").addEventListener("click", () => show("settings"));
  $("link-form").addEventListener("submit", createLink);
  $("slot-form").addEventListener("submit", createSlot);
  $("settings-form").addEventListener("submit", saveSettings);
  $("settings-form").addEventListener("input", showUnsaved);
  $("settings-form").addEventListener("change", showUnsaved);
  $("discard-settings").addEventListener("click", discardSettings);
  $("location-form").addEventListener("submit", saveLocation);
  $("location-form").addEventListener("input", showLocationState);
  $("location-form").addEventListener("change", showLocationState);
  $("loc-test").addEventListener("click", testConnection);
  $("open-data-dir").addEventListener("click", openDataDir);
  $("reach-check").addEventListener("click", checkReach);
  for (const button of document.querySelectorAll(".reach-settings")) {
    button.addEventListener("click", () => { show("settings"); $("reach-card").scrollIntoView({ block: "start" }); checkReach(); });
  }
  // A field's error goes once it is edited.
  for (const form of ["link-form", "slot-form", "settings-form", "location-form"]) {
    $(form).addEventListener("input", (e) => { if (e.target.getAttribute?.("aria-invalid") === "true") clearFieldError(e.target); });
  }
  for (const radio of document.querySelectorAll("input[name=listen]")) {
    radio.addEventListener("change", () => {
      if (radio.value === "network" && radio.checked && !$("set-base-url").value && suggestedBaseUrl) $("set-base-url").value = suggestedBaseUrl;
      showUnsaved();
    });
  }
  $("rotate-secret").addEventListener("click", rotateSecret);
  $("set-autostart").addEventListener("change", (e) => setBackground("set_autostart", e.target));
  $("set-keep-serving").addEventListener("change", (e) => setBackground("set_keep_serving", e.target));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("dialog").open && state.selection.size) closeDetails();
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "a" && listKeys()) { e.preventDefault(); selectAll(); }
    if (e.key === "Delete" && listKeys() && state.selection.size) { e.preventDefault(); removeSelected(); }
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "o") { e.preventDefault(); pickFiles(); }
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "f") { e.preventDefault(); show("files"); $("filter").focus(); }
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "c" && copiesLink()) { e.preventDefault(); copyNewestLink(); }
  });

  await T.event.listen("add-progress", onProgress);
  watchPresses();
  await T.event.listen("store-changed", debounce(afterPress(refresh), 150));
  // The server starts beside the window (see `app` in lib.rs): the window is ready once its
  // status is known, from `app_info` or, if it was still starting then, from this event.
  let serverKnown;
  const serverSettled = new Promise((settled) => { serverKnown = settled; });
  // Every change of the status comes as this event, so once one came it is the newest: the
  // status `app_info` answers with below may have been read before it (still starting), and
  // must not put the window back to "Starting the server…" with its create buttons off.
  let statusHeard = false;
  await T.event.listen("server-status", ({ payload }) => {
    statusHeard = true;
    renderServer(payload);
    if (!payload.starting) serverKnown();
  });
  await T.event.listen("place-changed", ({ payload }) => renderPlace(payload));
  await T.event.listen("files-received", ({ payload }) => {
    const first = payload[0];
    toast(payload.length === 1 ? `Received ${first.name}${first.uploader_name ? ` from ${first.uploader_name}` : ""}` : `Received ${payload.length} files`);
  });
  await T.webview.getCurrentWebview().onDragDropEvent(({ payload }) => {
    if (payload.type === "enter" || payload.type === "over") $("drop-overlay").hidden = false;
    else $("drop-overlay").hidden = true;
    if (payload.type === "drop") addPaths(payload.paths);
  });

  await T.event.listen("open-requested", takeOpened);

  await T.event.listen("quit-requested", ({ payload }) => confirmQuit(payload.message));

  const info = await invoke("app_info");
  state.place = info.place;
  // Rendered again either way: where the files are kept (`info.place`) decides what it shows.
  renderServer(statusHeard ? state.localServer : info.server);
  if (!statusHeard && !info.server.starting) serverKnown();
  // Without a tray the window is the only way back to the app, so closing it quits.
  $("tray-note").hidden = info.tray;
  await loadSettings();
  await loadLocation();
  await loadBackground();
  await refresh({ since: opened });
  await takeOpened();
  setInterval(tickTimes, 30_000);
  await serverSettled;
  document.body.dataset.ready = "true";
}

/** The "When Sharelock is closed" switches: each acts at once, and says what it did or why not. */
function renderBackground(state) {
  $("set-autostart").checked = state.autostart;
  $("set-keep-serving").checked = state.keep_serving;
  $("background-note").hidden = !state.note;
  $("background-note").textContent = state.note || "";
}

async function loadBackground() {
  try { renderBackground(await invoke("get_background")); } catch (e) { toast(errorText(e), "error"); }
}

async function setBackground(command, input) {
  input.disabled = true;
  try {
    const state = await invoke(command, { on: input.checked });
    renderBackground(state);
    renderServer(state.server);
  } catch (e) {
    input.checked = !input.checked;
    toast(errorText(e), "error");
  } finally { input.disabled = false; }
}

/** Before links stop with the app (Quit, or closing the window where there is no tray): what
 *  stops, and Quit or Cancel. */
async function confirmQuit(message) {
  const body = el("p", {}, `${message}.`);
  if (await dialog({ title: "Quit Sharelock?", body, ok: "Quit", danger: true })) await invoke("quit");
}

/** `sharelock-desktop FILE…`, at start or from a second launch: the files are added as a drop
 *  adds them, and each argument that names no file says why in a message. */
async function takeOpened() {
  try {
    const opened = await invoke("take_opened");
    for (const problem of opened.problems) toast(`Not added: ${problem}`, "error");
    if (opened.paths.length) await addPaths(opened.paths);
  } catch (e) { toast(errorText(e), "error"); }
}

window.sharelockUi = { addPaths, show, select, saveFolderInto };
start().catch((e) => showError(e, { prefix: "Sharelock could not start." }));
