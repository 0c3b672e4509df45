// The pages a recipient sees, in a real headless Chromium against a real `sharelock serve`:
// the landing page and its Download button, the upload page with several files and progress
// bars, a folder chosen or dropped and sent with its structure, the same form without
// JavaScript, an error page, and the previews of an image link and a share (an SVG's script
// never runs).
//
// Needs SHARELOCK_BIN (the built binary) and Debian's chromium (CHROMIUM to override the path).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import http from "node:http";
import zlib from "node:zlib";
import { chromium } from "playwright-core";

const bin = process.env.SHARELOCK_BIN;
const shots = process.env.SHARELOCK_SHOTS || join(tmpdir(), "sharelock-shots");
const work = mkdtempSync(join(tmpdir(), "sharelock-e2e-"));
const dataDir = join(work, "data");
let server;
let browser;

function cli(...args) {
  const out = execFileSync(bin, ["--data-dir", dataDir, "--json", ...args], { encoding: "utf8" });
  return JSON.parse(out);
}

function sha256(buffer) {
  return createHash("sha256").update(buffer).digest("hex");
}

function pattern(len, seed) {
  const buf = Buffer.alloc(len);
  let x = seed;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    buf[i] = x >>> 24;
  }
  return buf;
}

/** A page that records console errors and CSP violations, which must stay empty. */
async function watchedPage(options = {}) {
  const context = await browser.newContext({ acceptDownloads: true, ...options });
  const page = await context.newPage();
  page.problems = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") page.problems.push(msg.text());
  });
  page.on("pageerror", (err) => page.problems.push(String(err)));
  return page;
}

before(async () => {
  assert.ok(bin, "set SHARELOCK_BIN to the sharelock binary");
  mkdirSync(shots, { recursive: true });
  server = spawn(bin, ["--data-dir", dataDir, "serve", "--bind", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: server.stdout }).once("line", resolve);
    server.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
  assert.match(line, /^listening on http:\/\/127\.0\.0\.1:\d+$/);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

test("landing page shows the file and its Download button delivers the exact bytes", async () => {
  const data = pattern(2 * 1024 * 1024 + 5, 7);
  const source = join(work, "Quarterly report – Q3 “final”.pdf");
  writeFileSync(source, data);
  const [file] = cli("add", source);
  const link = cli("link", file.id, "--expires", "3d", "--max-downloads", "2");

  const page = await watchedPage();
  const response = await page.goto(link.page_url);
  assert.equal(response.status(), 200);
  assert.equal(await page.textContent("#file-name"), "Quarterly report – Q3 “final”.pdf");
  assert.equal(await page.textContent("#file-size"), "2.0 MiB");
  assert.equal(await page.textContent("#downloads-left"), "2");
  await page.screenshot({ path: join(shots, "landing-page.png") });

  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
  assert.equal(download.suggestedFilename(), "Quarterly report – Q3 “final”.pdf");
  const saved = join(work, "downloaded.pdf");
  await download.saveAs(saved);
  assert.equal(sha256(readFileSync(saved)), file.sha256);
  assert.deepEqual(page.problems, []);
  const [listed] = cli("links", file.id);
  assert.equal(listed.downloads, 1);
});

test("upload page sends several files with progress bars, name and message", async () => {
  const slot = cli("slot", "--max-files", "5", "--max-size", "20M", "--label", "Scans for the tax return");
  const files = [
    { name: "scan-1.pdf", mimeType: "application/pdf", buffer: pattern(6 * 1024 * 1024, 1) },
    { name: "scan 2 (ü).pdf", mimeType: "application/pdf", buffer: pattern(300 * 1024, 2) },
    { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("three files, as promised\n") },
  ];
  const page = await watchedPage();
  await page.goto(slot.url);
  assert.equal(await page.textContent("#label"), "Scans for the tax return");
  await page.fill("#name", "Ann Example");
  await page.fill("#message", "Here they are.");
  await page.setInputFiles("#file", files);
  assert.equal(await page.locator("#list li").count(), 3);
  assert.equal(await page.isEnabled("#send"), true);
  await page.screenshot({ path: join(shots, "upload-page.png") });
  await page.click("#send");
  await page.waitForSelector("#status[data-done=true]", { timeout: 30000 });
  assert.equal(await page.textContent("#status"), "3 of 3 file(s) sent. Thank you!");
  const bars = await page.$$eval("#list progress", (els) => els.map((e) => e.value));
  assert.deepEqual(bars, [100, 100, 100]);
  const states = await page.$$eval("#list .state", (els) => els.map((e) => e.textContent));
  assert.deepEqual(states, ["sent", "sent", "sent"]);
  await page.screenshot({ path: join(shots, "upload-done.png") });
  assert.deepEqual(page.problems, []);

  const received = cli("ls").filter((f) => f.slot_id === slot.id);
  assert.equal(received.length, 3);
  for (const f of files) {
    const stored = received.find((r) => r.name === f.name);
    assert.ok(stored, `${f.name} was stored`);
    assert.equal(stored.sha256, sha256(f.buffer));
    assert.equal(stored.uploader_name, "Ann Example");
    assert.equal(stored.uploader_message, "Here they are.");
  }
});

test("upload page sends a chosen folder, each file under its path", async () => {
  const slot = cli("slot", "--max-files", "5", "--label", "Holiday photos");
  const root = join(work, "Holiday");
  mkdirSync(join(root, "day 1"), { recursive: true });
  const tree = { "day 1/beach.jpg": pattern(40 * 1024, 3), "notes.txt": Buffer.from("two files in a folder\n") };
  for (const [path, bytes] of Object.entries(tree)) writeFileSync(join(root, path), bytes);
  const page = await watchedPage();
  await page.goto(slot.url);
  assert.equal(await page.isVisible("#folder-choice"), true, "the folder button shows with JavaScript");
  await page.setInputFiles("#folder", root);
  const shown = (await page.$$eval("#list .name", (els) => els.map((e) => e.textContent))).sort();
  assert.deepEqual(shown, ["Holiday/day 1/beach.jpg", "Holiday/notes.txt"]);
  await page.screenshot({ path: join(shots, "upload-folder.png") });
  await page.click("#send");
  await page.waitForSelector("#status[data-done=true]", { timeout: 30000 });
  assert.equal(await page.textContent("#status"), "2 of 2 file(s) sent. Thank you!");
  assert.deepEqual(page.problems, []);
  const received = cli("ls").filter((f) => f.slot_id === slot.id);
  const kept = received.map((f) => [f.path, f.name, f.sha256]).sort();
  assert.deepEqual(kept, [
    ["Holiday/day 1/beach.jpg", "beach.jpg", sha256(tree["day 1/beach.jpg"])],
    ["Holiday/notes.txt", "notes.txt", sha256(tree["notes.txt"])],
  ]);
});

test("upload page walks a dropped folder and sends each file under its path", async () => {
  const slot = cli("slot", "--max-files", "5");
  const page = await watchedPage();
  await page.goto(slot.url);
  // A drop as Chromium hands it to the page: the dropped item's FileSystemEntry tree (a real
  // drag from the desktop cannot be made headless), read in batches until an empty one.
  await page.evaluate(() => {
    const file = (path, text) => ({ isFile: true, isDirectory: false, fullPath: "/" + path,
      file: (ok) => ok(new File([text], path.split("/").pop())) });
    const dir = (path, children) => ({ isFile: false, isDirectory: true, fullPath: "/" + path,
      createReader: () => { let batches = [children, []]; return { readEntries: (ok) => ok(batches.shift() || []) }; } });
    const root = dir("Drop", [file("Drop/a.txt", "a"), dir("Drop/sub", [file("Drop/sub/b.txt", "bb")])]);
    const drop = new Event("drop", { bubbles: true, cancelable: true });
    Object.defineProperty(drop, "dataTransfer", { value: { items: [{ kind: "file", webkitGetAsEntry: () => root }], files: [] } });
    document.dispatchEvent(drop);
  });
  await page.waitForFunction(() => document.querySelectorAll("#list li").length === 2, null, { timeout: 10000 });
  const shown = await page.$$eval("#list .name", (els) => els.map((e) => e.textContent));
  assert.deepEqual(shown, ["Drop/a.txt", "Drop/sub/b.txt"]);
  await page.click("#send");
  await page.waitForSelector("#status[data-done=true]", { timeout: 30000 });
  assert.equal(await page.textContent("#status"), "2 of 2 file(s) sent. Thank you!");
  assert.deepEqual(page.problems, []);
  const kept = cli("ls").filter((f) => f.slot_id === slot.id).map((f) => [f.path, f.size]).sort();
  assert.deepEqual(kept, [["Drop/a.txt", 1], ["Drop/sub/b.txt", 2]]);
});

test("upload form works without JavaScript", async () => {
  const slot = cli("slot", "--max-files", "2");
  const page = await watchedPage({ javaScriptEnabled: false });
  await page.goto(slot.url);
  await page.fill("#name", "No Script");
  await page.setInputFiles("#file", [
    { name: "a.txt", mimeType: "text/plain", buffer: Buffer.from("a") },
    { name: "b.txt", mimeType: "text/plain", buffer: Buffer.from("b") },
  ]);
  const [response] = await Promise.all([page.waitForNavigation(), page.click("#send")]);
  assert.equal(response.status(), 201);
  assert.match(await page.textContent("h1"), /Thank you/);
  assert.equal(await page.locator("#received li").count(), 2);
  const [info] = cli("slots").filter((s) => s.id === slot.id);
  assert.equal(info.received, 2);
  assert.equal(info.status, "full");
});

test("a tampered link shows a readable error page", async () => {
  const source = join(work, "x.txt");
  writeFileSync(source, "x");
  const [file] = cli("add", source);
  const link = cli("link", file.id);
  const tampered = link.page_url.slice(0, -3) + (link.page_url.endsWith("AAA") ? "BBB" : "AAA");
  const page = await watchedPage();
  const response = await page.goto(tampered);
  assert.equal(response.status(), 403);
  assert.equal(await page.textContent("h1"), "This link is not valid");
  assert.equal(await page.textContent("#status"), "Error 403 · invalid or missing signature");
  await page.screenshot({ path: join(shots, "error-page.png") });
  assert.deepEqual(page.problems.filter((p) => !p.includes("403")), []);
});

test("a revoked link's page leads with the sentence, the status in small print", async () => {
  const source = join(work, "y.txt");
  writeFileSync(source, "y");
  const [file] = cli("add", source);
  const link = cli("link", file.id);
  cli("revoke", link.id);
  const page = await watchedPage();
  const response = await page.goto(link.page_url);
  assert.equal(response.status(), 410);
  assert.equal(await page.textContent("h1"), "This link was revoked");
  assert.equal(await page.textContent("#next"), "Ask the person who sent it for a new one.");
  assert.equal(await page.textContent("#status"), "Error 410");
  // The sentence is the largest text on the page; the status is smaller than the body text.
  const sizes = await page.evaluate(() => ["h1", "#next", "#status"].map((s) => parseFloat(getComputedStyle(document.querySelector(s)).fontSize)));
  assert.ok(sizes[0] > sizes[1] && sizes[2] < sizes[1], `font sizes ${sizes}`);
  await page.screenshot({ path: join(shots, "error-page-revoked.png") });
  assert.deepEqual(page.problems.filter((p) => !p.includes("410")), []);
});

test("a password link asks for it, sets an HttpOnly cookie, then downloads; wrong guesses are limited", async () => {
  const data = pattern(300 * 1024, 11);
  const source = join(work, "contract.pdf");
  writeFileSync(source, data);
  const [file] = cli("add", source);
  const password = "orchard gate 9";
  const run = (...args) => JSON.parse(execFileSync(bin, ["--data-dir", dataDir, "--json", ...args], { input: `${password}\n`, encoding: "utf8" }));
  const link = run("link", file.id, "--password");
  assert.equal(link.password, true);

  const page = await watchedPage();
  const first = await page.goto(link.page_url);
  assert.equal(first.status(), 200);
  assert.equal(await page.textContent("h1"), "Password required");
  assert.equal(await page.locator("#file-name").count(), 0, "nothing of the file before the password");
  await page.fill("#password", "orchard gate 8");
  await Promise.all([page.waitForNavigation(), page.click("#open")]);
  assert.equal(await page.textContent("#password-error"), "Wrong password. Try again.");
  assert.deepEqual(await page.context().cookies(), []);
  await page.screenshot({ path: join(shots, "password-wrong.png") });

  await page.fill("#password", password);
  await Promise.all([page.waitForURL(link.page_url), page.click("#open")]);
  assert.equal(await page.textContent("#file-name"), "contract.pdf");
  const cookies = await page.context().cookies();
  assert.equal(cookies.length, 4);
  for (const c of cookies) {
    assert.equal(c.name, `sharelock_${link.id}`);
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, "Strict");
    assert.ok(c.expires > Date.now() / 1000 && c.expires <= Date.now() / 1000 + 12 * 3600 + 5, `${c.expires}`);
  }
  assert.deepEqual(cookies.map((c) => c.path.split("/")[1]).sort(), ["d", "l", "t", "v"]);
  assert.equal(await page.evaluate(() => document.cookie), "", "scripts cannot read it");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
  const saved = join(work, "contract-downloaded.pdf");
  await download.saveAs(saved);
  assert.equal(sha256(readFileSync(saved)), file.sha256);
  // The wrong password's 403 is the one console error the browser logs.
  assert.deepEqual(page.problems.filter((p) => !p.includes("403")), []);

  // Another browser keeps guessing: after a few wrong passwords it must wait.
  const guesser = await watchedPage();
  await guesser.goto(link.page_url);
  let status = 0;
  for (let i = 0; i < 6 && status !== 429; i++) {
    await guesser.fill("#password", `guess ${i}`);
    const [response] = await Promise.all([guesser.waitForNavigation(), guesser.click("#open")]);
    status = response.status();
  }
  assert.equal(status, 429);
  assert.match(await guesser.textContent("#password-error"), /^Too many wrong passwords\. Try again in \d+ seconds\.$/);
  await guesser.screenshot({ path: join(shots, "password-limited.png") });
  const [listed] = cli("links", file.id);
  assert.equal(listed.downloads, 1);
});

/** A PNG of `width` x `height`, a colour gradient: a real image for the browser to decode. */
function gradientPng(width, height) {
  const { deflateSync, crc32 } = zlib;
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, "ascii");
    data.copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      rows[row + 1 + x * 3] = (x * 255) / width;
      rows[row + 2 + x * 3] = (y * 255) / height;
      rows[row + 3 + x * 3] = 180;
    }
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]);
}

test("an image link previews the image; an SVG's script never runs from its page, preview or download", async () => {
  // A tiny server that counts every request: what the SVG's script and onload would reach.
  const hits = [];
  const marker = http.createServer((req, res) => {
    hits.push(req.url);
    res.setHeader("Access-Control-Allow-Origin", "*");
    res.end("seen");
  });
  await new Promise((resolve) => marker.listen(0, "127.0.0.1", resolve));
  const beacon = `http://127.0.0.1:${marker.address().port}`;
  try {
    const image = join(work, "sunset.png");
    writeFileSync(image, gradientPng(640, 360));
    const [imageFile] = cli("add", image);
    const imageLink = cli("link", imageFile.id);
    const page = await watchedPage();
    await page.goto(imageLink.page_url);
    const preview = page.locator("img#preview");
    await preview.waitFor();
    await page.waitForFunction(() => document.querySelector("img#preview").complete);
    assert.equal(await preview.evaluate((img) => img.naturalWidth), 640);
    await page.screenshot({ path: join(shots, "preview-image.png"), fullPage: true });

    // A PDF's preview is the browser's own viewer, in a frame, under the same CSP sandbox.
    const pdf = join(work, "letter.pdf");
    writeFileSync(pdf, "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
      "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n");
    const [pdfFile] = cli("add", pdf);
    await page.goto(cli("link", pdfFile.id).page_url);
    await page.locator("iframe#preview").waitFor();
    const viewer = () => page.frames().some((f) => f.url().startsWith("chrome-extension://"));
    for (let i = 0; i < 50 && !viewer(); i++) await page.waitForTimeout(100);
    assert.ok(viewer(), "the PDF viewer did not load in the sandboxed preview");

    const svg = join(work, "drawing.svg");
    writeFileSync(svg, `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" onload="fetch('${beacon}/onload')">` +
      `<script>fetch('${beacon}/script')</script><rect width="100" height="100" fill="red"/></svg>`);
    const [svgFile] = cli("add", svg);
    const notes = join(work, "notes.txt");
    writeFileSync(notes, "<b>not bold</b>\n");
    const [notesFile] = cli("add", notes);
    const share = cli("link", imageFile.id, svgFile.id, notesFile.id, "--name", "Holiday");
    const svgLink = cli("link", svgFile.id);

    // The page, the preview route and the download URL of the SVG, one after the other.
    await page.goto(svgLink.page_url);
    assert.equal(await page.locator("#preview").count(), 0, "an SVG has no preview");
    const previewUrl = `${svgLink.page_url.replace("/l/", "/v/")}/${svgFile.id}`;
    const refused = await page.goto(previewUrl);
    assert.equal(refused.status(), 415);
    const download = page.waitForEvent("download");
    await page.goto(svgLink.url).catch(() => {}); // an attachment: the navigation becomes a download
    await (await download).path();
    await page.goto(share.page_url);
    assert.equal(await page.locator(".share-preview").count(), 2, "the PNG and the text, not the SVG");
    const thumb = page.locator("img.share-thumb");
    assert.equal(await thumb.count(), 1, "a thumbnail for the PNG only");
    await page.waitForFunction(() => document.querySelector("img.share-thumb").complete);
    assert.ok((await thumb.evaluate((img) => img.naturalWidth)) > 0, "the thumbnail decodes");
    await page.screenshot({ path: join(shots, "preview-share.png"), fullPage: true });
    await page.waitForTimeout(500);
    assert.deepEqual(hits, [], "the SVG's script ran");

    // The beacon does see the same SVG's script when a page runs it: the check above can fail.
    const control = await watchedPage();
    await control.setContent(readFileSync(svg, "utf8"));
    for (let i = 0; i < 50 && hits.length === 0; i++) await control.waitForTimeout(100);
    assert.ok(hits.length > 0, "the beacon saw nothing even when the script ran");
    await control.context().close();
    // The one expected: the preview route's refusal of the SVG.
    assert.deepEqual(page.problems.filter((p) => !p.includes("415")), []);
    await page.context().close();
  } finally {
    marker.close();
  }
});
