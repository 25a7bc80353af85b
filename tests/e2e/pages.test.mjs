// Browser tests of the CivicGrid pages against a running server (CIVICGRID_URL),
// in Debian's Chromium through playwright-core. Run with scripts/e2e.
// Every page needs a signed-in user: each demo account signs in once through
// the real sign-in form and its cookies are reused by the tests that act as it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const BASE = (process.env.CIVICGRID_URL || "").replace(/\/$/, "");
const SHOTS = fileURLToPath(new URL("../../target/screenshots/", import.meta.url));

let browser;
const PASSWORD = "demo-password-2026";
/// Cookies of each demo account after signing in, by username.
const sessions = new Map();
/// The reason demo-community gives for seeing a resident in full; the auditor looks for it.
const UNMASK_REASON = "入户走访核实身份 e2e-" + Date.now();

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

/// A JSON API read with the page's cookies (the signed-in user's session).
async function api(page, path) {
  const r = await page.request.get(BASE + path);
  assert.equal(r.status(), 200, `${path} answered ${r.status()}`);
  return r.json();
}

/// Fills and sends the sign-in form on `page`; resolves with the answer to the POST.
async function signIn(page, username, password = PASSWORD) {
  if (!page.url().includes("/login")) await page.goto(BASE + "/login");
  await page.fill('#login-form input[name="username"]', username);
  await page.fill('#login-form input[name="password"]', password);
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.click('#login-form button[type="submit"]'),
  ]);
  return response;
}

/// The cookies of `username` signed in through the form (once per run).
async function sessionOf(username) {
  if (!sessions.has(username)) {
    const context = await browser.newContext({ locale: "zh-CN" });
    try {
      const page = await context.newPage();
      await signIn(page, username);
      assert.ok(!new URL(page.url()).pathname.startsWith("/login"), `${username} signed in: ${page.url()}`);
      sessions.set(username, await context.storageState());
    } finally {
      await context.close();
    }
  }
  return sessions.get(username);
}

/// A fresh browser context and page, Chinese unless asked otherwise, signed in
/// as `user` (demo-admin by default; `user: null` for an anonymous visitor).
async function open(t, options = {}) {
  const { user = "demo-admin", ...rest } = options;
  const storageState = user ? await sessionOf(user) : undefined;
  const context = await browser.newContext({ locale: "zh-CN", viewport: { width: 1440, height: 900 }, storageState, ...rest });
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
  const page = await open(t);
  const stats = await api(page, "/api/v1/stats");
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
  const unit = await api(page, `/api/v1/units/${code}`);
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

  const workers = await api(page, `/api/v1/people?unit=${code}&role=grid_worker`);
  assert.ok(workers.items.length >= 1, "the demo gives every grid a grid worker");
  const names = await page.$$eval("#workers-table .worker-name", (tds) => tds.map((td) => td.textContent.trim()));
  assert.deepEqual(names, workers.items.map((p) => p.name));

  const cameras = await api(page, `/api/v1/cameras?unit=${code}&limit=1000`);
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
  const expected = await api(page, "/api/v1/locate?lat=34.36&lon=107.37");
  await page.fill('#locate input[name="lat"]', "34.36");
  await page.fill('#locate input[name="lon"]', "107.37");
  await page.click('#locate button[type="submit"]');
  const found = page.locator(".locate-result a[data-grid]");
  await found.waitFor();
  assert.equal(await found.getAttribute("data-grid"), expected.grid.code);
  assert.equal(await found.getAttribute("href"), `/units/${expected.grid.code}`);

  const miss = await page.request.get(BASE + "/api/v1/locate?lat=34.36&lon=107.60");
  assert.equal(miss.status(), 404);
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

// ---- Accounts, roles and scopes ----

test("signing in with a wrong password shows the error, in Chinese by default", async (t) => {
  const page = await open(t, { user: null });
  const first = await page.goto(BASE + "/account");
  assert.equal(first.status(), 200);
  assert.equal(new URL(page.url()).pathname, "/login", "a protected page sends an anonymous visitor to sign in");
  assert.equal(new URL(page.url()).searchParams.get("next"), "/account");
  assert.equal(await page.getAttribute("html", "lang"), "zh-CN");
  assert.equal((await page.textContent("#login-title")).trim(), "登录");
  assert.equal(await page.locator("#who").count(), 0, "nobody is signed in");
  assert.equal(await page.locator(".main-nav a").count(), 0, "no navigation before sign-in");
  await page.screenshot({ path: SHOTS + "login-zh.png", fullPage: true });

  const response = await signIn(page, "demo-inspector", "not-the-password-2026");
  assert.equal(response.status(), 401);
  assert.equal((await page.textContent("#login-error")).trim(), "用户名或密码错误。");
  assert.equal(await page.inputValue('#login-form input[name="username"]'), "demo-inspector", "the username is kept");
  assert.equal(await page.inputValue('#login-form input[name="next"]'), "/account", "so is where to go next");
  await page.screenshot({ path: SHOTS + "login-error-zh.png", fullPage: true });
});

test("demo-admin signs in through the form, signs out, and is asked to sign in again", async (t) => {
  const page = await open(t, { user: null });
  await page.goto(BASE + "/login");
  await signIn(page, "demo-admin");
  assert.equal(new URL(page.url()).pathname, "/");
  assert.equal((await page.textContent("#unit-name")).trim(), "陈仓区");
  assert.ok((await page.textContent("#who .who-name")).trim().length > 0, "the header names the user");
  const csrf = await page.getAttribute('meta[name="csrf-token"]', "content");
  assert.ok(csrf && csrf.length >= 32, "a signed-in page carries its CSRF token");
  assert.equal(await page.getAttribute('#who input[name="csrf"]', "value"), csrf);

  await Promise.all([page.waitForURL(/\/login/), page.click("#sign-out")]);
  assert.equal((await page.textContent("#flash")).trim(), "您已退出登录。");
  const cookies = await page.context().cookies();
  assert.ok(!cookies.some((c) => c.name === "cg_session" && c.value), "the session cookie is gone");

  await page.goto(BASE + "/units/610304003");
  assert.equal(new URL(page.url()).pathname, "/login");
  assert.equal(new URL(page.url()).searchParams.get("next"), "/units/610304003");
  const api401 = await page.request.get(BASE + "/api/v1/stats");
  assert.equal(api401.status(), 401, "the API refuses the signed-out browser too");
});

test("demo-community sees 铁道南's residents masked and nothing of other communities", async (t) => {
  const page = await open(t, { user: "demo-community" });
  const home = await page.goto(BASE + "/");
  assert.equal(home.status(), 200);
  assert.equal((await page.textContent("#unit-name")).trim(), "铁道南社区");
  assert.equal((await page.textContent("#unit-code")).trim(), "610304003002");
  const listed = await api(page, "/api/v1/residents?limit=1");
  assert.ok(listed.total > 0, "the community has residents");
  assert.equal(Number(await page.textContent("#h-residents + .count").then((s) => s.replace(/[^\d]/g, ""))), listed.total);
  const ids = await page.$$eval("#residents-table tbody tr[data-resident] .id-number", (tds) => tds.map((td) => td.textContent.trim()));
  const phones = await page.$$eval("#residents-table tbody tr[data-resident] .phone", (tds) => tds.map((td) => td.textContent.trim()));
  assert.equal(ids.length, Math.min(200, listed.total), "one batch of residents is on the page");
  assert.ok(ids.every((id) => id.length === 18 && id.includes("*")), `ID numbers are masked: ${ids.slice(0, 3)}`);
  assert.ok(phones.filter(Boolean).every((p) => p.includes("*")), "phone numbers are masked");
  assert.equal(await page.locator("#residents-table tbody tr:not([hidden])").count(), 20, "the table pages through them");
  // Breadcrumbs above the scope are names, not links to pages the user may not open.
  assert.equal(await page.locator(".crumbs a").count(), 0);
  await page.screenshot({ path: SHOTS + "community-residents.png", fullPage: true });

  const other = await page.goto(BASE + "/units/610304003003");
  assert.equal(other.status(), 404);
  assert.equal((await page.textContent("#error-title")).trim(), "未找到");
  const street = await page.goto(BASE + "/units/610304003");
  assert.equal(street.status(), 404, "the street above is outside the scope too");
  const viaApi = await page.request.get(BASE + "/api/v1/residents?unit=610304003003");
  assert.equal(viaApi.status(), 404, "the API with the page's cookies says the same");
});

test("demo-community sees one resident in full after giving a reason", async (t) => {
  const page = await open(t, { user: "demo-community" });
  await page.goto(BASE + "/");
  const row = page.locator("#residents-table tbody tr[data-resident]").first();
  const id = await row.getAttribute("data-resident");
  assert.match(await row.locator(".id-number").textContent(), /\*/);
  await row.locator("button[data-unmask]").click();
  const dialog = page.locator("#unmask-dialog");
  await dialog.waitFor({ state: "visible" });
  await page.screenshot({ path: SHOTS + "unmask-dialog.png" });
  await dialog.locator('input[name="reason"]').fill(UNMASK_REASON);
  await dialog.locator('button[type="submit"]').click();
  const full = page.locator(`#residents-table tr[data-resident="${id}"] .id-number.unmasked`);
  await full.waitFor();
  const number = (await full.textContent()).trim();
  assert.equal(number.length, 18, number);
  assert.ok(!number.includes("*"), `the full number: ${number}`);
  assert.ok(!(await dialog.isVisible()), "the dialog closes");

  // Without the CSRF header the same request is refused, cookies or not.
  const bare = await page.request.post(BASE + `/api/v1/residents/${id}/unmask`, { data: { reason: "no token here" } });
  assert.equal(bare.status(), 403);
});

test("demo-gridworker's navigation has no user administration or audit log", async (t) => {
  const page = await open(t, { user: "demo-gridworker" });
  await page.goto(BASE + "/");
  const me = await api(page, "/api/v1/me");
  assert.equal(me.grants[0].role, "grid_worker");
  assert.match(me.grants[0].scope, /^610304003002\d{3}$/, "a grid of 铁道南");
  assert.equal((await page.textContent("#unit-code")).trim(), me.grants[0].scope, "home is the worker's own grid");
  const hrefs = await page.$$eval(".main-nav a", (as) => as.map((a) => a.getAttribute("href")));
  assert.ok(hrefs.includes("/account"), `nav: ${hrefs}`);
  assert.ok(!hrefs.includes("/users") && !hrefs.includes("/audit"), `nav: ${hrefs}`);
  assert.ok((await page.locator("#residents-table tbody tr[data-resident]").count()) > 0, "the grid's residents");
  const users = await page.goto(BASE + "/users");
  assert.equal(users.status(), 403);
  assert.equal((await page.textContent("#error-title")).trim(), "无权操作");
});

test("demo-auditor lands on the audit log and finds the reasoned view of personal data", async (t) => {
  const page = await open(t, { user: "demo-auditor" });
  await page.goto(BASE + "/");
  assert.equal(new URL(page.url()).pathname, "/audit");
  const hrefs = await page.$$eval(".main-nav a", (as) => as.map((a) => a.getAttribute("href")));
  assert.deepEqual(hrefs, ["/cases/mine", "/audit", "/account"]);
  assert.ok((await page.locator("#audit-table tbody tr[data-action]").count()) > 0);
  assert.match(await page.textContent("#audit-table thead"), /UTC\+8/);

  await page.fill('#audit-filter input[name="action"]', "view_personal_data");
  await Promise.all([page.waitForURL(/action=view_personal_data/), page.click('#audit-filter button[type="submit"]')]);
  const rows = await page.$$eval("#audit-table tbody tr[data-action]", (trs) =>
    trs.map((tr) => ({ action: tr.dataset.action, actor: tr.cells[2].textContent.trim(), reason: tr.querySelector(".reason").textContent.trim() })),
  );
  assert.ok(rows.length > 0 && rows.every((r) => r.action === "view_personal_data"), JSON.stringify(rows));
  assert.ok(rows.some((r) => r.reason === UNMASK_REASON && r.actor === "demo-community"), JSON.stringify(rows));
  await page.screenshot({ path: SHOTS + "audit.png", fullPage: true });
});

test("a form posted without its CSRF token is refused with 403", async (t) => {
  const page = await open(t);
  await page.goto(BASE + "/account");
  const form = { current: PASSWORD, new: "Another-pass-2027!", repeat: "Another-pass-2027!" };
  const bare = await page.request.post(BASE + "/account/password", { form, maxRedirects: 0 });
  assert.equal(bare.status(), 403);
  const wrong = await page.request.post(BASE + "/account/password", { form: { ...form, csrf: "forged" }, maxRedirects: 0 });
  assert.equal(wrong.status(), 403);
  // The session is untouched: the page still works.
  assert.equal((await page.goto(BASE + "/account")).status(), 200);
});

test("the account page shows the grants, checks a password change and makes a token once", async (t) => {
  const page = await open(t);
  await page.goto(BASE + "/account");
  assert.equal((await page.textContent("#account-username")).trim(), "demo-admin");
  assert.match(await page.textContent("#grants"), /系统管理员/);

  await page.fill('#password-form input[name="current"]', "not-my-password-2026");
  await page.fill('#password-form input[name="new"]', "Another-pass-2027!");
  await page.fill('#password-form input[name="repeat"]', "Another-pass-2027!");
  await Promise.all([page.waitForNavigation(), page.click('#password-form button[type="submit"]')]);
  assert.ok((await page.textContent("#password-error")).trim().startsWith("当前密码错误。"));

  await page.goto(BASE + "/account");
  await page.fill('#token-form input[name="name"]', "e2e script");
  await page.fill('#token-form input[name="days"]', "30");
  await Promise.all([page.waitForNavigation(), page.click('#token-form button[type="submit"]')]);
  const secret = (await page.textContent("#new-token-secret")).trim();
  assert.match(secret, /^cg_[A-Za-z0-9_-]{43}$/, "a token marked as ours");
  const me = await page.request.get(BASE + "/api/v1/me", { headers: { Authorization: `Bearer ${secret}` } });
  assert.equal(me.status(), 200, "the new token works");
  const row = page.locator("#tokens-table tbody tr[data-token]").filter({ hasText: "e2e script" }).first();
  assert.ok(await row.isVisible());
  await page.screenshot({ path: SHOTS + "account.png", fullPage: true });

  await Promise.all([page.waitForURL(/flash=flash\.token_revoked/), row.locator("button").click()]);
  assert.equal((await page.textContent("#flash")).trim(), "令牌已吊销。");
  const after = await page.request.get(BASE + "/api/v1/me", { headers: { Authorization: `Bearer ${secret}` } });
  assert.equal(after.status(), 401, "the revoked token no longer works");
  await page.goto(BASE + "/account");
  assert.equal(await page.locator("#new-token-secret").count(), 0, "the secret is not shown again");
});

test("an administrator lists the users of the district and adds one", async (t) => {
  const page = await open(t);
  await page.goto(BASE + "/users");
  const names = await page.$$eval("#users-table tbody tr[data-username]", (trs) => trs.map((tr) => tr.dataset.username));
  for (const u of ["demo-admin", "demo-community", "demo-gridworker", "demo-auditor"]) assert.ok(names.includes(u), `${u} in ${names}`);
  await page.screenshot({ path: SHOTS + "users.png", fullPage: true });

  const username = "e2e-" + Date.now().toString(36);
  await page.fill('#user-form input[name="username"]', username);
  await page.fill('#user-form input[name="display_name"]', "测试网格员");
  await page.fill('#user-form input[name="password"]', "simplepassword");
  await page.selectOption('#user-form select[name="role"]', "grid_worker");
  await page.fill('#user-form input[name="scope"]', "610304003002001");
  await Promise.all([page.waitForNavigation(), page.click('#user-form button[type="submit"]')]);
  assert.match(await page.textContent("#user-error"), /密码太简单/);
  assert.equal(await page.inputValue('#user-form input[name="username"]'), username, "the form comes back filled in");

  await page.fill('#user-form input[name="password"]', "Grid-worker-2026!");
  await Promise.all([page.waitForURL(/flash=flash\.user_created/), page.click('#user-form button[type="submit"]')]);
  assert.equal((await page.textContent("#flash")).trim(), "用户已创建。");
  assert.equal(await page.locator(`#users-table tr[data-username="${username}"]`).count(), 1);
});

// ---- Cases: the GB/T 30428 workflow through the pages ----

/// A point inside the first polygon of a GeoJSON answer that /api/v1/locate
/// confirms lies in `grid` (the mean of the ring's corners, pulled towards a
/// corner until it falls inside if the shape is concave).
async function pointIn(page, url, grid) {
  const geo = await api(page, url);
  const feature = geo.features.find((f) => !grid || f.properties.code === grid) || geo.features[0];
  const code = grid || feature.properties.code;
  const ring = feature.geometry.type === "MultiPolygon" ? feature.geometry.coordinates[0][0] : feature.geometry.coordinates[0];
  const mean = ring.slice(0, -1).reduce((a, c) => [a[0] + c[0] / (ring.length - 1), a[1] + c[1] / (ring.length - 1)], [0, 0]);
  for (const k of [0, 0.3, 0.5, 0.7]) {
    for (const corner of ring) {
      const lon = mean[0] + (corner[0] - mean[0]) * k;
      const lat = mean[1] + (corner[1] - mean[1]) * k;
      const r = await page.request.get(`${BASE}/api/v1/locate?lat=${lat}&lon=${lon}`);
      if (r.ok() && (await r.json()).grid.code === code) return { lat, lon, grid: code };
      if (k === 0) break;
    }
  }
  throw new Error(`no point found inside ${code}`);
}

/// Sends the action form `action` on a case page and waits for the page to come back.
async function act(page, action, fill) {
  const form = `#action-${action}`;
  // Start from the plain address, so the flash after the step marks its arrival.
  const url = new URL(page.url());
  if (url.search) await page.goto(BASE + url.pathname);
  await page.waitForSelector(form);
  if (fill) await fill(form);
  await Promise.all([page.waitForURL(/flash=flash\.case_updated/), page.click(`${form} button[type="submit"]`)]);
  assert.equal((await page.textContent("#flash")).trim(), "案件已更新。");
}

async function stateOf(page) {
  return page.getAttribute("#case-state .badge", "data-state");
}

let reportedCase = null;

test("a resident reports a problem on the map and the case goes through the whole workflow", async (t) => {
  // demo-resident: the report form, pin dropped by a click inside 铁道南第6网格.
  const resident = await open(t, { user: "demo-resident" });
  const at = await pointIn(resident, "/api/v1/grids?within=610304003002006", "610304003002006");
  let response = await resident.goto(BASE + "/report");
  assert.equal(response.status(), 200);
  await waitForMap(resident);
  const key = await resident.getAttribute("#report-form", "data-idempotency-key");
  assert.ok(key && key.length >= 16, "the form carries one idempotency key");
  assert.ok(await resident.$('#report-form input[name="csrf"]'), "the form carries its CSRF field");
  const map = await resident.$("#pick-map");
  const box = await map.boundingBox();
  const pt = await map.evaluate((node, p) => {
    const c = node.leafletMap.latLngToContainerPoint([p.lat, p.lon]);
    return { x: c.x, y: c.y };
  }, at);
  await resident.mouse.click(box.x + pt.x, box.y + pt.y);
  const lat = Number(await resident.inputValue('#report-form input[name="lat"]'));
  const lon = Number(await resident.inputValue('#report-form input[name="lon"]'));
  assert.ok(Math.abs(lat - at.lat) < 0.0005 && Math.abs(lon - at.lon) < 0.0005, `the pin filled the point: ${lat},${lon}`);
  const title = "小区门口路灯不亮 e2e-" + Date.now();
  await resident.fill('#report-form input[name="title"]', title);
  await resident.fill('#report-form textarea[name="description"]', "晚上出行不便，请尽快修复。");
  const categories = await resident.$$eval('#report-form select[name="category"] option', (os) => os.map((o) => o.value).filter(Boolean));
  assert.ok(categories.length > 10, "the category select lists the catalogue");
  await resident.selectOption('#report-form select[name="category"]', categories[0]);
  // A photo taken on the spot: a PNG cut from the page itself, named like a camera file.
  const photo = await resident.screenshot({ clip: { x: 0, y: 0, width: 160, height: 120 } });
  await resident.setInputFiles('#report-form input[name="photos"]', { name: "IMG_0001.png", mimeType: "image/png", buffer: photo });
  await resident.screenshot({ path: SHOTS + "case-report.png", fullPage: true });
  // A double click makes one case: both requests carry the same key.
  await Promise.all([
    resident.waitForURL(/\/cases\/\d+/),
    resident.dblclick("#report-submit"),
  ]);
  const id = Number(new URL(resident.url()).pathname.split("/").pop());
  reportedCase = id;
  assert.equal(await stateOf(resident), "reported");
  assert.equal((await resident.textContent("#case-state")).trim(), "已上报");
  assert.equal((await resident.textContent("#case-title")).trim(), title);
  const mine = await api(resident, "/api/v1/cases/mine");
  assert.equal(mine.items.filter((c) => c.title === title).length, 1, "one case for the double click");
  assert.ok(await resident.$('.timeline .event[data-type="report"]'), "the timeline shows the report");
  // The photo went up before the case and shows as a thumbnail on the report.
  const thumb = '.timeline .event[data-type="report"] .event-photos img';
  await resident.waitForSelector(thumb);
  await resident.waitForFunction((sel) => {
    const img = document.querySelector(sel);
    return img && img.complete && img.naturalWidth > 0;
  }, thumb);
  const full = await resident.getAttribute('.timeline .event[data-type="report"] .event-photos a', "href");
  const shown = await resident.request.get(BASE + full);
  assert.equal(shown.status(), 200);
  assert.match(shown.headers()["content-type"], /^image\//, "the public copy is an image");

  // demo-operator: finds it in the inbox, files it, dispatches it to 铁道南社区.
  const operator = await open(t, { user: "demo-operator" });
  response = await operator.goto(BASE + "/cases?state=reported");
  assert.equal(response.status(), 200);
  const row = `#cases-table tr[data-case="${id}"]`;
  await operator.waitForSelector(row);
  assert.equal(await operator.getAttribute(row, "data-state"), "reported");
  await operator.screenshot({ path: SHOTS + "case-inbox.png", fullPage: true });
  await Promise.all([operator.waitForURL(new RegExp(`/cases/${id}$`)), operator.click(`${row} td:nth-child(2) a`)]);
  await act(operator, "file", (f) => operator.selectOption(`${f} select[name="category"]`, categories[0]));
  assert.equal(await stateOf(operator), "filed");
  await act(operator, "dispatch", (f) => operator.selectOption(`${f} select[name="unit"]`, "610304003002"));
  assert.equal(await stateOf(operator), "dispatched");
  assert.ok((await operator.textContent("#case-handler")).includes("610304003002"));

  // demo-community: accepts and reports back.
  const community = await open(t, { user: "demo-community" });
  await community.goto(BASE + `/cases/${id}`);
  await act(community, "accept");
  assert.equal(await stateOf(community), "handling");
  await act(community, "report_back", (f) => community.fill(`${f} textarea[name="note"]`, "已更换灯泡。"));
  assert.equal(await stateOf(community), "reported_back");

  // demo-gridworker: verifies on site.
  const worker = await open(t, { user: "demo-gridworker" });
  await worker.goto(BASE + `/cases/${id}`);
  await act(worker, "verify", (f) => worker.check(`${f} input[name="passed"][value="true"]`));
  assert.equal(await stateOf(worker), "verified");

  // demo-operator: closes.
  await operator.goto(BASE + `/cases/${id}`);
  await act(operator, "close");
  assert.equal(await stateOf(operator), "closed");

  // demo-resident: rates it 5 and sees it evaluated among their reports.
  await resident.goto(BASE + `/cases/${id}`);
  await act(resident, "evaluate", (f) => resident.check(`${f} input[name="satisfaction"][value="5"]`));
  assert.equal(await stateOf(resident), "evaluated");
  assert.equal(await resident.getAttribute("#case-satisfaction", "data-stars"), "5");
  const types = await resident.$$eval(".timeline .event", (es) => es.map((e) => e.dataset.type));
  assert.deepEqual(types, ["report", "file", "dispatch", "accept", "report_back", "verify", "close", "evaluate"]);
  const who = await resident.$$eval(".timeline .event .event-who", (es) => es.map((e) => e.textContent));
  assert.ok(who[2].includes("demo-operator") && who[3].includes("demo-community"), "the timeline says who acted");
  await waitForMap(resident);
  await resident.screenshot({ path: SHOTS + "case-page.png", fullPage: true });
  await resident.goto(BASE + "/cases/mine");
  assert.equal(await resident.getAttribute(`#my-cases-table tr[data-case="${id}"]`, "data-state"), "evaluated");
  assert.equal((await resident.textContent(`#my-cases-table tr[data-case="${id}"] .badge`)).trim(), "已评价");
});

test("a workflow refusal is shown on the case page, and a grid worker cannot open another community's case", async (t) => {
  const operator = await open(t, { user: "demo-operator" });
  await operator.goto(BASE + "/cases");
  const at = await pointIn(operator, "/api/v1/grids?community=610304001001");
  const csrf = await operator.getAttribute('meta[name="csrf-token"]', "content");
  const r = await operator.request.post(BASE + "/api/v1/cases", {
    headers: { "x-csrf-token": csrf, "Idempotency-Key": "e2e-dongjie-" + Date.now() },
    data: { title: "东街社区井盖缺失 e2e", lat: at.lat, lon: at.lon, source: "hotline_12345" },
  });
  assert.equal(r.status(), 201, await r.text());
  const other = await r.json();
  assert.ok(other.grid.startsWith("610304001001"), other.grid);

  // Filing without a category is refused by the workflow; the page says so.
  await operator.goto(BASE + `/cases/${other.id}`);
  await operator.$eval('#action-file select[name="category"]', (s) => { s.required = false; s.value = ""; });
  await operator.click('#action-file button[type="submit"]');
  await operator.waitForSelector("#action-file .form-error:not([hidden])");
  assert.match(await operator.textContent("#action-file .form-error"), /^操作未成功: ./);

  const worker = await open(t, { user: "demo-gridworker" });
  const response = await worker.goto(BASE + `/cases/${other.id}`);
  assert.equal(response.status(), 404);
  assert.equal(await worker.$("#case-title"), null);
  const inbox = await worker.goto(BASE + "/cases?unit=610304001001");
  assert.equal(inbox.status(), 404, "a unit outside the inbox scope is not found");
  if (reportedCase) {
    const own = await worker.goto(BASE + `/cases/${reportedCase}`);
    assert.equal(own.status(), 200, "the case of the worker's own grid opens");
  }
});

test("the command centre sees open cases on a map coloured by their deadlines, and the indicators per unit", async (t) => {
  const operator = await open(t, { user: "demo-operator" });
  const response = await operator.goto(BASE + "/cases/map");
  assert.equal(response.status(), 200);
  await waitForMap(operator);
  const fc = await api(operator, "/api/v1/cases/open");
  assert.ok(fc.features.length > 0, "the earlier tests left open cases");
  await operator.waitForSelector('#case-map[data-drawn-cases]');
  assert.equal(Number(await operator.getAttribute("#case-map", "data-drawn-cases")), fc.features.length);
  const legend = await operator.$$eval("#case-legend li", (ls) => ls.map((l) => [l.dataset.timeliness, Number(l.querySelector("strong").textContent.replace(/[^\d]/g, ""))]));
  const counted = Object.fromEntries(legend);
  for (const key of ["overdue", "due_soon", "on_time", "no_deadline"]) {
    const n = fc.features.filter((f) => f.properties.timeliness === key).length;
    assert.equal(counted[key], n, `${key}: legend ${counted[key]}, API ${n}`);
  }
  // A dot is coloured by its case's state against the deadline and leads to the case.
  const first = fc.features[0].properties;
  const colour = await operator.$eval("#case-map", (node, id) => {
    let found = null;
    node.leafletMap.eachLayer((l) => { if (l.feature && l.feature.properties.id === id) found = l.options.fillColor; });
    return found;
  }, first.id);
  const expected = { overdue: "#cf222e", due_soon: "#b7791f", on_time: "#1a7f37", no_deadline: "#8c959f" }[first.timeliness];
  assert.equal(colour, expected);
  const rows = await operator.$$eval("#map-units-table tbody tr[data-unit]", (rs) => rs.map((r) => Number(r.children[1].textContent.replace(/[^\d]/g, ""))));
  assert.equal(rows.reduce((a, b) => a + b, 0), fc.total, "the per-unit table adds up to the total");
  await operator.screenshot({ path: SHOTS + "cases-map.png", fullPage: true });

  // The indicators of the street's communities, this month, add up to the street's total.
  const street = await open(t, { user: "demo-street" });
  const kpis = await street.goto(BASE + "/cases/kpis");
  assert.equal(kpis.status(), 200);
  assert.equal((await street.textContent("#kpi-scope")).trim(), "千渭街道");
  const reported = await street.$$eval("#kpi-table tbody tr[data-unit]", (rs) => rs.map((r) => Number(r.children[1].textContent.replace(/[^\d]/g, ""))));
  assert.equal(reported.length, 10, "one row per community of 千渭街道");
  const total = Number((await street.textContent("#kpi-total td:nth-child(2)")).replace(/[^\d]/g, ""));
  assert.equal(reported.reduce((a, b) => a + b, 0), total);
  assert.ok(total > 0, "this month's reports are counted");
  await street.screenshot({ path: SHOTS + "kpis.png", fullPage: true });
  // Down to the grids of one community, in English; a backwards period is a 400 page.
  await street.goto(BASE + "/cases/kpis?unit=610304003002&lang=en");
  assert.equal((await street.textContent("#kpi-table thead th:nth-child(6)")).trim(), "On-time closure");
  assert.ok((await street.$$("#kpi-table tbody tr[data-unit]")).length > 10, "the grids of 铁道南");
  const bad = await street.goto(BASE + "/cases/kpis?from=2026-05-02&to=2026-05-01");
  assert.equal(bad.status(), 400);
});

test("a planner sees the 15-minute circles on the map, the gaps with their exports, proposals and a compound's sheet", async (t) => {
  const street = await open(t, { user: "demo-street" });
  const response = await street.goto(BASE + "/access?category=market");
  assert.equal(response.status(), 200);
  await waitForMap(street);
  assert.equal((await street.textContent("#access-scope")).trim(), "千渭街道");
  await street.screenshot({ path: SHOTS + "access-map.png" });
  const units = await api(street, "/api/v1/access/units");
  const grids = await api(street, "/api/v1/access/map?category=market&by=grid");
  assert.equal(Number(await street.getAttribute("#access-map", "data-drawn-access-grid")), grids.features.length);
  const compounds = await api(street, "/api/v1/access/map?category=market&by=compound");
  assert.equal(Number(await street.getAttribute("#access-map", "data-drawn-access-compound")), compounds.features.length);
  // The headline share is the API's, as a percentage.
  const share = units.total.categories.market.share[2];
  assert.equal((await street.textContent("#within15-share")).trim(), (Math.round(share * 1000) / 10).toFixed(1).replace(/\.0$/, ".0") + "%");
  const rows = await street.$$eval("#access-units-table tbody tr[data-unit]", (rs) => rs.length);
  assert.equal(rows, units.units.length, "one row per community");
  // A grid is filled by its minutes.
  const fill = await street.$eval("#access-map", (node, code) => {
    let found = null;
    node.leafletMap.eachLayer((l) => { if (l.feature && l.feature.properties.code === code && l.options.fillColor) found = l.options.fillColor; });
    return found;
  }, grids.features.find((f) => f.properties.households > 0).properties.code);
  assert.match(fill, /^#(116329|4ac26b|d4a72c|cf222e)$/);

  // Proposals: three sites drawn on the map, gains listed.
  await street.selectOption('#proposal-form select[name="candidates"]', "nodes");
  await street.click('#proposal-form button[type="submit"]');
  await street.waitForSelector('#access-map[data-proposals="3"]');
  const gains = await street.$$eval("#proposal-table tbody tr td:nth-child(4)", (cs) => cs.map((c) => Number(c.textContent.replace(/[^\d]/g, ""))));
  assert.equal(gains.length, 3);
  assert.ok(gains[0] >= gains[1] && gains[1] >= gains[2] && gains[0] > 0, `gains ${gains}`);
  assert.equal(await street.$$eval(".proposal-pin", (ps) => ps.length), 3);

  // What if the first proposal were built: picked on the map, the gain is the proposal's.
  const first = await street.$eval("#proposal-table tbody tr:first-child", (r) => Number(r.dataset.node));
  const proposal = await street.evaluate(async (node) => {
    const csrf = document.querySelector('meta[name="csrf-token"]').content;
    const r = await fetch("/api/v1/access/proposals", {
      method: "POST", headers: { "Content-Type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify({ category: "market", k: 3, candidates: "nodes" }),
    });
    return (await r.json()).picks.find((p) => p.node === node);
  }, first);
  await street.fill('#whatif-form input[name="lat"]', String(proposal.lat));
  await street.fill('#whatif-form input[name="lon"]', String(proposal.lon));
  await street.click('#whatif-form button[type="submit"]');
  await street.waitForSelector("#whatif-result:not([hidden])");
  assert.equal(Number(await street.getAttribute("#whatif-result", "data-gained")), proposal.gain_households);
  await street.screenshot({ path: SHOTS + "access.png" });

  // The exports download as files.
  const [csv] = await Promise.all([street.waitForEvent("download"), street.click("#export-csv")]);
  assert.match(csv.suggestedFilename(), /^gaps-610304003\.csv$/);
  const xlsx = await street.request.get(BASE + (await street.getAttribute("#export-xlsx", "href")));
  assert.equal(xlsx.status(), 200);
  assert.equal((await xlsx.body()).subarray(0, 2).toString(), "PK");

  // The worst compound's sheet lists what it misses.
  await Promise.all([street.waitForURL(/\/access\/compounds\//), street.click("#gap-table tbody tr:first-child a")]);
  await waitForMap(street);
  const missed = await street.$$eval('#outcome-table tr[data-met="false"]', (rs) => rs.length);
  assert.ok(missed > 0, "the first gap row misses something");
  assert.equal(await street.$$eval("#category-table tbody tr", (rs) => rs.length), 14);
  await street.screenshot({ path: SHOTS + "access-compound.png", fullPage: true });
});

// ---- One-click calls: the caller's button, the command centre, a responder ----

/// The point `metres` from `at` towards `bearing` degrees (0 north, 90 east); a short step on a sphere.
function moved(at, metres, bearing) {
  const rad = (bearing * Math.PI) / 180;
  const dLat = (metres * Math.cos(rad)) / 111320;
  const dLon = (metres * Math.sin(rad)) / (111320 * Math.cos((at.lat * Math.PI) / 180));
  return { lat: at.lat + dLat, lon: at.lon + dLon };
}

test("a call placed on the caller's page appears on the command centre within a second and is accepted on a responder's page", async (t) => {
  const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
  // Where: the responder stands inside 铁道南第6网格; the caller is 300 m away, still in 铁道南社区.
  const operator = await open(t, { user: "demo-operator", viewport: { width: 1920, height: 1080 } });
  const here = await pointIn(operator, "/api/v1/grids?within=610304003002006", "610304003002006");
  let there = null;
  for (const bearing of [90, 270, 0, 180, 45, 135, 225, 315]) {
    const p = moved(here, 300, bearing);
    const r = await operator.request.get(`${BASE}/api/v1/locate?lat=${p.lat}&lon=${p.lon}`);
    if (r.ok() && (await r.json()).grid.code.startsWith("610304003002")) { there = p; break; }
  }
  assert.ok(there, "a point 300 m away inside 铁道南社区");

  // demo-operator watches the command centre: live, with the map drawn.
  const response = await operator.goto(BASE + "/command");
  assert.equal(response.status(), 200);
  await waitForMap(operator);
  await operator.waitForSelector('#live-state[data-state="on"]');
  await operator.waitForSelector("#command[data-open-calls]");

  // demo-responder goes on duty on a phone; its position is posted.
  const responder = await open(t, {
    user: "demo-responder", ...phone, permissions: ["geolocation"],
    geolocation: { latitude: here.lat, longitude: here.lon, accuracy: 12 },
  });
  assert.equal((await responder.goto(BASE + "/responder")).status(), 200);
  await responder.waitForSelector("#duty-toggle:not([disabled])");
  assert.equal(await responder.getAttribute("#duty-card", "data-on-duty"), "false", "a fresh demo starts off duty");
  await responder.click("#duty-toggle");
  await responder.waitForSelector('#duty-card[data-on-duty="true"]');
  await responder.waitForSelector("#responder[data-position-sent]");
  const me = await api(responder, "/api/v1/responders/me");
  assert.equal(me.on_duty, true);
  assert.ok(Math.abs(me.lat - here.lat) < 1e-5 && Math.abs(me.lon - here.lon) < 1e-5, `the position posted: ${me.lat},${me.lon}`);
  assert.equal(await responder.getAttribute("#responder", "data-state"), "idle");

  // demo-resident opens the caller's page; the browser knows where they are.
  const resident = await open(t, {
    user: "demo-resident", ...phone, permissions: ["geolocation"],
    geolocation: { latitude: there.lat, longitude: there.lon, accuracy: 20 },
  });
  assert.equal((await resident.goto(BASE + "/call")).status(), 200);
  await resident.waitForSelector('#call-position[data-state="ok"]');
  assert.equal(await resident.inputValue('#call-kinds input[name="kind"]:checked'), "other", "other is the default kind");
  await resident.click('#call-kinds input[value="fall"]');

  // The press: the call reaches the command centre's counter and map within a second.
  const before = Number(await operator.getAttribute("#command", "data-open-calls"));
  const posted = resident.waitForResponse((r) => r.url() === BASE + "/api/v1/calls" && r.request().method() === "POST");
  const started = performance.now();
  await resident.click("#call-button");
  await operator.waitForFunction((n) => Number(document.getElementById("command").dataset.openCalls) > n, before, { timeout: 5000 });
  const elapsed = performance.now() - started;
  const answer = await posted;
  assert.equal(answer.status(), 201);
  assert.ok(answer.request().headers()["idempotency-key"], "the press carries an Idempotency-Key");
  const call = await answer.json();
  assert.equal(call.kind, "fall");
  t.diagnostic(`the call showed on the command centre ${Math.round(elapsed)} ms after the press`);
  assert.ok(elapsed < 1000, `the call showed on the command centre after ${Math.round(elapsed)} ms`);
  await operator.waitForSelector(`#command-map .call-marker[data-call="${call.id}"]`, { timeout: 2000 });
  assert.ok(Number(await operator.textContent("#unaccepted-calls")) >= 1, "the unaccepted counter counts it");
  await resident.waitForSelector("#call-status:not([hidden])");

  // The responder is offered it, with a countdown, and accepts.
  await responder.waitForSelector(`#offer-card:not([hidden])[data-call="${call.id}"]`, { timeout: 15000 });
  assert.equal((await responder.textContent("#offer-kind")).trim(), "跌倒");
  assert.match(await responder.textContent("#offer-countdown-text"), /^\d+ 秒$/);
  await responder.screenshot({ path: SHOTS + "responder.png", fullPage: true, animations: "disabled" });
  await responder.click("#offer-accept");
  await responder.waitForSelector(`#task-card:not([hidden])[data-call="${call.id}"]`);
  const nav = await responder.getAttribute("#task-navigate", "href");
  assert.match(nav, /^https:\/\/uri\.amap\.com\/marker\?position=\d+\.\d+,\d+\.\d+&name=[^&]+&coordinate=(gaode|wgs84)&callnative=1$/, nav);

  // The caller is told who is coming and how far away they are.
  await resident.waitForSelector('#call-status[data-state="accepted"]', { timeout: 5000 });
  const accepted = await api(resident, `/api/v1/calls/${call.id}`);
  assert.ok(accepted.owner, "the accepted call names its responder");
  const told = (await resident.textContent("#call-status-text")).trim();
  assert.ok(told.startsWith("救助正在赶来"), told);
  assert.ok(told.includes(accepted.owner.first_name), `${told} names ${accepted.owner.first_name}`);
  assert.ok(told.includes(`约 ${Math.max(1, Math.ceil(accepted.owner.eta_s / 60))} 分钟`), `${told}: the minutes from eta_s ${accepted.owner.eta_s}`);
  await resident.screenshot({ path: SHOTS + "caller.png", fullPage: true, animations: "disabled" });

  // The command centre's panel shows it accepted, with its case and offers.
  await operator.click(`#call-list li[data-call="${call.id}"] button`);
  await operator.waitForSelector(`#call-panel[data-call="${call.id}"][data-state="accepted"]`, { timeout: 5000 });
  assert.equal(await operator.getAttribute("#call-case", "href"), `/cases/${call.case_id}`);
  assert.equal(await operator.locator('#call-offers li[data-state="accepted"]').count(), 1);
  await operator.waitForSelector('#call-timeline li[data-type="respond"]');
  // The responder's steps are signed with their name, not their record's id.
  const signed = await operator.$$eval("#call-timeline .event-who", (es) => es.map((e) => e.textContent));
  assert.ok(signed.some((w) => w.includes(accepted.owner.first_name)), `${signed} names ${accepted.owner.first_name}`);
  assert.ok(!signed.some((w) => /responder:|system:/.test(w)), `${signed}: no raw account ids`);
  assert.ok(signed.some((w) => w.includes("系统自动派单")), `${signed}: the dispatcher by what it does`);
  // Responders come with the next poll of their positions (every 2 s).
  await operator.waitForFunction(() => Number(document.getElementById("command-map").dataset.respondersDrawn) >= 1, null, { timeout: 10000 });
  await operator.screenshot({ path: SHOTS + "command-centre.png", animations: "disabled" });

  // The responder sets off, arrives and finishes with a note; the caller sees each step.
  await responder.click("#step-en_route");
  await responder.waitForSelector('#task-card[data-state="en_route"]');
  await responder.click("#step-on_scene");
  await responder.waitForSelector('#task-card[data-state="on_scene"]');
  await resident.waitForSelector('#call-status[data-state="on_scene"]', { timeout: 5000 });
  await responder.screenshot({ path: SHOTS + "responder-task.png", fullPage: true, animations: "disabled" });
  const note = "老人扶起后无明显外伤，已联系家属陪同。";
  await responder.fill('#done-form textarea[name="note"]', note);
  const photo = await responder.screenshot({ clip: { x: 0, y: 0, width: 160, height: 120 } });
  await responder.setInputFiles('#done-form input[name="photos"]', { name: "IMG_0002.png", mimeType: "image/png", buffer: photo });
  await responder.click("#step-done");
  await responder.waitForSelector("#responder-flash:not([hidden])");
  assert.equal(await responder.getAttribute("#responder", "data-state"), "idle");
  await resident.waitForSelector('#call-status[data-state="done"]', { timeout: 5000 });
  assert.ok(await resident.isVisible("#call-again"), "the caller may call again");
  await operator.waitForFunction((id) => !document.querySelector(`#command-map .call-marker[data-call="${id}"]`), call.id, { timeout: 5000 });
  // The case tells the story, the report back with the note and the photo uploaded first.
  const story = await api(operator, `/api/v1/cases/${call.case_id}`);
  const back = story.events.find((e) => e.type === "report_back");
  assert.ok(back && back.note === note && back.photos.length === 1, JSON.stringify(back));
  const steps = story.events.filter((e) => e.type === "respond").map((e) => e.step);
  for (const step of ["offered", "accepted", "en_route", "on_scene", "done"]) assert.ok(steps.includes(step), `${step} in ${steps}`);

  // demo-resident again, on a phone that may not tell where it is: the call goes to the registered address.
  const unplaced = await open(t, { user: "demo-resident", ...phone });
  assert.equal((await unplaced.goto(BASE + "/call")).status(), 200);
  const mine = await api(unplaced, "/api/v1/call-devices/mine");
  assert.ok(mine.home && mine.home.address, "demo-resident has a registered address");
  assert.equal((await unplaced.textContent("#call-home-address")).trim(), mine.home.address);
  await unplaced.waitForSelector('#call-position[data-state="denied"], #call-position[data-state="unavailable"]');
  assert.ok((await unplaced.textContent("#call-position")).includes("登记地址"), "the line under the button says where a call goes");
  const sent = unplaced.waitForResponse((r) => r.url() === BASE + "/api/v1/calls" && r.request().method() === "POST");
  await unplaced.click("#call-button");
  const reply = await sent;
  assert.equal(reply.status(), 201);
  assert.equal(reply.request().postDataJSON().lat, undefined, "no position was sent");
  const fromHome = await reply.json();
  assert.equal(fromHome.located_by, "home");
  assert.equal(fromHome.address, mine.home.address);
  assert.equal(fromHome.grid, mine.home.grid);
  await unplaced.waitForFunction(() => document.getElementById("call-status-text").textContent.includes("登记地址"), null, { timeout: 5000 });
  // The command centre reads it as a registered address, not a live fix.
  await operator.waitForSelector(`#call-list li[data-call="${fromHome.id}"] button`, { timeout: 5000 });
  await operator.click(`#call-list li[data-call="${fromHome.id}"] button`);
  await operator.waitForSelector(`#call-panel[data-call="${fromHome.id}"] #call-address-row:not([hidden])`, { timeout: 5000 });
  assert.equal((await operator.textContent("#call-address")).trim(), `登记地址：${mine.home.address}`);
});
