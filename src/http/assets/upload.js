// Progressive enhancement of the upload form: drag and drop, several files, folders (chosen
// or dropped, each file sent with its path in the folder as its name, `sub/dir/name`), one
// progress bar per file. Without JavaScript the same form posts as multipart and the server
// answers a page.
"use strict";
(function () {
  const form = document.getElementById("upload");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  const input = document.getElementById("file");
  const folder = document.getElementById("folder");
  const drop = document.getElementById("drop");
  const list = document.getElementById("list");
  const submit = document.getElementById("send");
  const status = document.getElementById("status");
  let queue = [];

  function human(bytes) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i++; }
    return (i === 0 ? bytes : bytes.toFixed(bytes < 10 ? 1 : 0)) + " " + units[i];
  }

  /** Adds files; each is a File (sent alone, or with the `webkitRelativePath` a chosen folder
   *  gives it) or `{ file, path }` (a file found in a dropped folder). */
  function addFiles(files) {
    for (const entry of files) {
      const file = entry instanceof File ? entry : entry.file;
      const path = entry instanceof File ? (file.webkitRelativePath || file.name) : entry.path;
      const li = document.createElement("li");
      const state = document.createElement("span");
      state.className = "state";
      state.textContent = human(file.size);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = path;
      const bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      bar.hidden = true;
      li.append(state, name, bar);
      list.append(li);
      queue.push({ file, path, state, bar });
    }
    submit.disabled = queue.length === 0;
    status.textContent = queue.length ? queue.length + " file(s) ready to send." : "";
  }

  input.addEventListener("change", function () {
    addFiles(input.files);
    input.value = "";
  });
  if (folder && "webkitdirectory" in folder) {
    folder.addEventListener("change", function () {
      addFiles(folder.files);
      folder.value = "";
    });
    document.getElementById("folder-choice").hidden = false;
  }

  // Most entries a dropped folder is walked for: the slot refuses what it cannot take anyway.
  const MAX_DROPPED = 10000;

  /** The files under dropped entries (FileSystemEntry), with their paths from the drop. */
  async function walk(entries) {
    const found = [];
    const pending = entries.slice();
    let seen = 0;
    while (pending.length && seen++ < MAX_DROPPED) {
      const entry = pending.shift();
      if (entry.isFile) {
        const file = await new Promise(function (resolve, reject) { entry.file(resolve, reject); });
        found.push({ file, path: entry.fullPath.replace(/^\/+/, "") });
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        // readEntries gives a folder's entries a batch at a time, until an empty one.
        for (;;) {
          const batch = await new Promise(function (resolve, reject) { reader.readEntries(resolve, reject); });
          if (!batch.length) break;
          pending.push(...batch);
        }
      }
    }
    return found;
  }

  async function dropped(transfer) {
    const entries = [...(transfer.items || [])]
      .map(function (item) { return item.kind === "file" && item.webkitGetAsEntry ? item.webkitGetAsEntry() : null; })
      .filter(Boolean);
    if (entries.length && entries.some(function (e) { return e.isDirectory; })) {
      try {
        addFiles(await walk(entries));
      } catch (e) {
        status.textContent = "The dropped folder could not be read: " + e;
      }
    } else if (transfer.files) {
      addFiles(transfer.files);
    }
  }
  ["dragenter", "dragover"].forEach(function (type) {
    document.addEventListener(type, function (e) { e.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    document.addEventListener(type, function (e) { e.preventDefault(); drop.classList.remove("over"); });
  });
  document.addEventListener("drop", function (e) {
    if (e.dataTransfer) dropped(e.dataTransfer);
  });

  function send(item) {
    return new Promise(function (resolve) {
      const data = new FormData();
      data.append("name", form.elements.name.value);
      data.append("message", form.elements.message.value);
      // The path travels as the part's file name: the server keeps it (and refuses one that
      // could lead out of the folder).
      data.append("file", item.file, item.path);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      item.bar.hidden = false;
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) item.bar.value = Math.round((e.loaded / e.total) * 100);
      });
      xhr.addEventListener("load", function () {
        if (xhr.status === 201) {
          item.bar.value = 100;
          item.state.textContent = "sent";
          item.state.className = "state ok";
          resolve(true);
        } else {
          item.state.textContent = (xhr.responseText || "failed").trim();
          item.state.className = "state err";
          resolve(false);
        }
      });
      xhr.addEventListener("error", function () {
        item.state.textContent = "connection failed";
        item.state.className = "state err";
        resolve(false);
      });
      xhr.send(data);
    });
  }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    if (queue.length === 0) return;
    submit.disabled = true;
    const items = queue;
    queue = [];
    let sent = 0;
    for (const item of items) {
      if (await send(item)) sent++;
    }
    status.textContent = sent + " of " + items.length + " file(s) sent." + (sent === items.length ? " Thank you!" : "");
    status.dataset.done = "true";
  });
  input.multiple = true;
  // The queue, not the input, holds the chosen files: the input is emptied after each choice,
  // so its `required` (which keeps the no-JavaScript form honest) would block every submit.
  input.required = false;
  submit.disabled = true;
})();
