// Browser tests of the CivicGrid pages against a running server (CIVICGRID_URL),
// in Debian's Chromium through playwright-core. Run with scripts/e2e.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const BASE = (process.env.CIVICGRID_URL || "").replace(/\/$/, "");
const SHOTS = fileURLToPath(new URL("../../target/screenshots/", import.meta.url));

let browser;

before(async () => {
  assert.ok(BASE, "set CIVICGRID_URL to the server under test, e.g. http://127.0.0.1:8080");
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
});

async function api(path) {
  const r = await fetch(BASE + path);
  assert.equal(r.status, 200, `${path} answered ${r.status}`);
  return r.json();
}

/// A fresh browser context (own cookies) and page, Chinese unless asked otherwise.
async function open(t, options = {}) {
  const context = await browser.newContext({ locale: "zh-CN", viewport: { width: 1440, height: 900 }, ...options });
  t.after(() => context.close());
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  t.after(() => assert.deepEqual(errors, [], "the page threw in the browser"));
  return page;
}

async function waitForMap(page) {
  await page.waitForSelector('.map[data-ready="true"]', { timeout: 20000 });
}

const digits = (s) => Number(String(s).replace(/[^\d]/g, ""));

test("the overview shows the same counts as the API, on a map of the 16 communities", async (t) => {
  const stats = await api("/api/v1/stats");
  const page = await open(t);
  const response = await page.goto(BASE + "/");
  assert.equal(response.status(), 200);
  assert.equal(await page.getAttribute("html", "lang"), "zh-CN");
  assert.ok(await page.isVisible("#demo-banner"), "the synthetic-data banner is shown");

  const shown = await page.$$eval(".stat[data-stat]", (cards) =>
    cards.map((c) => ({
      key: c.dataset.stat,
      value: c.querySelector(".stat-value").dataset.value,
      text: c.querySelector(".stat-value").textContent,
    })),
  );
  const keys = shown.map((s) => s.key);
  for (const wanted of [
    "communities", "grids", "grid_party_branches", "party_groups", "cameras", "grid_workers",
    "party_members", "street_riders", "compounds", "service_stations", "households", "residents",
    "elderly_alone", "disabled", "low_income",
  ]) {
    assert.ok(keys.includes(wanted), `the overview shows ${wanted}`);
  }
  for (const s of shown) {
    assert.equal(Number(s.value), stats[s.key], `${s.key} as data`);
    assert.equal(digits(s.text), stats[s.key], `${s.key} as shown: ${s.text}`);
  }
  assert.equal(stats.communities, 16);

  await waitForMap(page);
  assert.equal(await page.getAttribute(".map", "data-drawn-community"), "16");
  assert.equal(Number(await page.getAttribute(".map", "data-drawn-grid")), stats.grids);
  // Communities are the clickable shapes; grids are drawn under them.
  assert.equal(await page.locator(".map .leaflet-overlay-pane path.leaflet-interactive").count(), 16);
  assert.equal(await page.locator(".map .map-label").count(), 16);

  const rows = await page.locator("#communities-table tbody tr").count();
  assert.equal(rows, 16);
  assert.ok((await page.locator("section[aria-labelledby=\"h-chart\"] .bar-chart svg rect").count()) >= 32, "the chart has a bar per community and series");
  await page.screenshot({ path: SHOTS + "overview-zh.png", fullPage: true });
});

test("the communities table sorts by a column and leads to the community page", async (t) => {
  const page = await open(t);
  await page.goto(BASE + "/");
  const gridsHeader = page.locator("#communities-table thead th").nth(3);
  await gridsHeader.click();
  assert.equal(await gridsHeader.getAttribute("aria-sort"), "descending");
  const counts = await page.$$eval("#communities-table tbody tr td:nth-child(4)", (tds) => tds.map((td) => Number(td.dataset.sortValue)));
  assert.deepEqual(counts, [...counts].sort((a, b) => b - a), "rows are sorted by grids, largest first");

  const link = page.locator("#communities-table tbody tr").first().locator("a");
  const name = (await link.textContent()).trim();
  await Promise.all([page.waitForURL(/\/units\/\d{12}$/), link.click()]);
  const code = page.url().split("/").pop();
  const unit = await api(`/api/v1/units/${code}`);
  assert.equal((await page.textContent("#unit-name")).trim(), name);
  assert.equal(Number(await page.getAttribute('[data-stat="grids"] .stat-value', "data-value")), unit.stats.grids);
  assert.equal(digits(await page.textContent('[data-stat="grids"] .stat-value')), unit.stats.grids);
  assert.equal(await page.locator("#grids-table tbody tr").count(), unit.stats.grids);
  await waitForMap(page);
  assert.equal(Number(await page.getAttribute(".map", "data-drawn-grid")), unit.stats.grids);
  await page.screenshot({ path: SHOTS + "community.png", fullPage: true });
});

test("a grid page shows its code, boundary, places and grid worker", async (t) => {
  const page = await open(t);
  await page.goto(BASE + "/units/610304003002");
  const link = page.locator("#grids-table tbody tr").first().locator("a");
  await Promise.all([page.waitForURL(/\/units\/\d{15}$/), link.click()]);
  const code = page.url().split("/").pop();
  assert.equal((await page.textContent("#unit-code")).trim(), code);

  const workers = await api(`/api/v1/people?unit=${code}&role=grid_worker`);
  assert.ok(workers.items.length >= 1, "the demo gives every grid a grid worker");
  const names = await page.$$eval("#workers-table .worker-name", (tds) => tds.map((td) => td.textContent.trim()));
  assert.deepEqual(names, workers.items.map((p) => p.name));

  const cameras = await api(`/api/v1/cameras?unit=${code}&limit=1000`);
  assert.equal(await page.locator("#cameras tbody tr:not(.empty)").count(), cameras.items.length);
  await waitForMap(page);
  assert.equal(await page.getAttribute(".map", "data-drawn-outline"), "1");
  assert.ok(Number(await page.getAttribute(".map", "data-markers")) >= cameras.items.length);
  await page.screenshot({ path: SHOTS + "grid.png", fullPage: true });
});

test("the English switch changes the language and is remembered", async (t) => {
  const page = await open(t);
  await page.goto(BASE + "/");
  assert.equal((await page.textContent("#h-stats")).trim(), "主要数字");
  await Promise.all([page.waitForURL(/lang=en/), page.click('.lang-switch a[data-lang="en"]')]);
  assert.equal(await page.getAttribute("html", "lang"), "en");
  assert.equal((await page.textContent("#h-stats")).trim(), "Key figures");
  assert.equal((await page.textContent("#demo-banner")).trim(), "Synthetic demo data");

  await page.goto(BASE + "/units/610304003");
  assert.equal(await page.getAttribute("html", "lang"), "en", "the cookie keeps English on the next page");
  assert.equal((await page.textContent(".eyebrow")).trim(), "Street");
  await page.goto(BASE + "/");
  await waitForMap(page);
  await page.screenshot({ path: SHOTS + "overview-en.png", fullPage: true });

  await page.goto(BASE + "/?lang=zh-CN");
  assert.equal(await page.getAttribute("html", "lang"), "zh-CN");
});

test("a browser asking for English gets English without a cookie", async (t) => {
  const page = await open(t, { locale: "en-GB" });
  await page.goto(BASE + "/");
  assert.equal(await page.getAttribute("html", "lang"), "en");
});

test("a malformed code shows a 400 page and an unknown unit a 404 page", async (t) => {
  const page = await open(t);
  const bad = await page.goto(BASE + "/units/12x");
  assert.equal(bad.status(), 400);
  assert.match(bad.headers()["content-type"], /text\/html/);
  assert.equal((await page.textContent("#error-title")).trim(), "请求有误");

  const unknown = await page.goto(BASE + "/units/610304009");
  assert.equal(unknown.status(), 404);
  assert.equal((await page.textContent("#error-title")).trim(), "未找到");

  const english = await page.goto(BASE + "/units/610304009?lang=en");
  assert.equal(english.status(), 404);
  assert.equal((await page.textContent("#error-title")).trim(), "Not found");
});

test("the locate form finds the grid of a point and explains a miss", async (t) => {
  const page = await open(t);
  await page.goto(BASE + "/");
  const expected = await api("/api/v1/locate?lat=34.36&lon=107.37");
  await page.fill('#locate input[name="lat"]', "34.36");
  await page.fill('#locate input[name="lon"]', "107.37");
  await page.click('#locate button[type="submit"]');
  const found = page.locator(".locate-result a[data-grid]");
  await found.waitFor();
  assert.equal(await found.getAttribute("data-grid"), expected.grid.code);
  assert.equal(await found.getAttribute("href"), `/units/${expected.grid.code}`);

  const miss = await fetch(BASE + "/api/v1/locate?lat=34.36&lon=107.60");
  assert.equal(miss.status, 404);
  const { error } = await miss.json();
  await page.fill('#locate input[name="lon"]', "107.60");
  await page.click('#locate button[type="submit"]');
  await page.locator(".locate-result.error").waitFor();
  const text = await page.textContent(".locate-result");
  assert.ok(text.includes(error.message), `shows the API's message: ${text}`);
});

test("the overview fits a phone without sideways scrolling", async (t) => {
  const page = await open(t, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await page.goto(BASE + "/");
  await waitForMap(page);
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.ok(scroll <= client, `page is ${scroll}px wide in a ${client}px viewport`);
  await page.screenshot({ path: SHOTS + "overview-phone.png", fullPage: true });
});
