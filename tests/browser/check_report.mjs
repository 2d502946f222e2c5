// Opens HTML reports in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
// and prints what a reader's browser sees, as JSON on stdout, for tests/test_report_html.py:
//
//   node tests/browser/check_report.mjs [--screenshot OUT.png] REPORT.html [MORE.html ...]
//
// Per file: console errors, page errors, dialogs (an alert() would mean injected script ran),
// network requests attempted (every URL but file:// is aborted and recorded), the number of
// <script> elements, every <svg> with its rendered size, and every element carrying a data-
// attribute with its text, its data- attributes, the index of the <svg> it sits in (or -1) and
// the data-column of the nearest ancestor that has one. --screenshot writes a full-page PNG of
// the first file. One browser serves every file.
//
// Exit status: 0 when every page was inspected (the checks are the caller's), 1 on a bad
// argument or an unreadable file, 2 when the browser cannot be launched.

import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const CHROMIUM = process.env.STRATA_CHROMIUM || "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync",
];

function usage(msg) {
  process.stderr.write(`check_report: ${msg}\nusage: node check_report.mjs [--screenshot OUT.png] REPORT.html [...]\n`);
  process.exit(1);
}

const files = [];
let screenshot = null;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--screenshot") {
    screenshot = argv[++i];
    if (!screenshot) usage("--screenshot needs a path");
  } else if (argv[i].startsWith("--")) {
    usage(`unknown option ${argv[i]}`);
  } else {
    files.push(resolve(argv[i]));
  }
}
if (!files.length) usage("no HTML file given");
for (const f of files) if (!existsSync(f)) usage(`no such file: ${f}`);

let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch (e) {
  process.stderr.write(`check_report: cannot load playwright-core (run scripts/setup-browser): ${e.message}\n`);
  process.exit(2);
}

const profileDir = mkdtempSync(join(tmpdir(), "strata-chromium-"));
let context;
try {
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 },
    timeout: 60_000,
  });
} catch (e) {
  rmSync(profileDir, { recursive: true, force: true });
  process.stderr.write(`check_report: cannot launch ${CHROMIUM} (install it with scripts/setup-browser): ` +
    `${e.message.split("\n")[0]}\n`);
  process.exit(2);
}

// Collected in the page: what the report shows, read back from the DOM.
function inspect() {
  const svgs = [...document.querySelectorAll("svg")];
  const svgIndex = new Map(svgs.map((s, i) => [s, i]));
  const charts = svgs.map((s, i) => {
    const r = s.getBoundingClientRect();
    return { index: i, class: s.getAttribute("class") || "", column: s.getAttribute("data-column"),
             width: r.width, height: r.height, data: { ...s.dataset } };
  });
  const elements = [];
  for (const el of document.querySelectorAll("body *")) {
    const names = el.getAttributeNames().filter((n) => n.startsWith("data-"));
    if (!names.length) continue;
    const owner = el.closest("svg");
    const group = el.parentElement ? el.parentElement.closest("[data-column]") : null;
    elements.push({
      tag: el.tagName.toLowerCase(), id: el.id || null, class: el.getAttribute("class") || "",
      text: (el.tagName.toLowerCase() === "rect" ? "" : el.textContent).trim(),
      data: Object.fromEntries(names.map((n) => [n.slice(5), el.getAttribute(n)])),
      svg: owner ? svgIndex.get(owner) : -1,
      group: group ? group.getAttribute("data-column") : null,
    });
  }
  return { userAgent: navigator.userAgent, title: document.title, scripts: document.scripts.length, charts, elements,
           bodyText: document.body.innerText.length };
}

const out = { files: [] };
let failed = false;
try {
  for (const [n, file] of files.entries()) {
    const page = await context.newPage();
    const rec = { file, consoleErrors: [], pageErrors: [], dialogs: [], requests: [] };
    page.on("console", (m) => { if (m.type() === "error") rec.consoleErrors.push(m.text()); });
    page.on("pageerror", (e) => rec.pageErrors.push(String(e)));
    page.on("dialog", (d) => { rec.dialogs.push(`${d.type()}: ${d.message()}`); d.dismiss().catch(() => {}); });
    page.on("websocket", (ws) => rec.requests.push(ws.url()));
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith("file:")) return route.continue();
      rec.requests.push(url);
      return route.abort("blockedbyclient");
    });
    page.on("request", (r) => {
      const url = r.url();
      if (!url.startsWith("file:") && !url.startsWith("data:") && !rec.requests.includes(url)) rec.requests.push(url);
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: "load", timeout: 30_000 });
    Object.assign(rec, await page.evaluate(inspect));
    if (n === 0 && screenshot) await page.screenshot({ path: resolve(screenshot), fullPage: true });
    await page.close();
    out.files.push(rec);
  }
} catch (e) {
  process.stderr.write(`check_report: ${e.message}\n`);
  failed = true;
} finally {
  await context.close().catch(() => {});
  rmSync(profileDir, { recursive: true, force: true });
}
if (failed) process.exit(1);
process.stdout.write(JSON.stringify(out) + "\n");
