// The command centre's wall under load — a benchmark, not a test: Chromium
// shows /command to demo-operator while `civicgrid simulate` moves the demo's
// responders and calls arrive until enough are open, then the page's frames
// and long tasks are measured. Run with: scripts/e2e tests/e2e/wall-bench.mjs
//   CIVICGRID_BIN       the binary that simulates (the one scripts/e2e serves)
//   WALL_RESPONDERS     responders on duty and moving (1000)
//   WALL_CALLS          open calls to reach before measuring (50)
//   WALL_SECONDS        seconds measured (20)
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const BASE = (process.env.CIVICGRID_URL || "").replace(/\/$/, "");
const BIN = process.env.CIVICGRID_BIN || "target/release/civicgrid";
const RESPONDERS = Number(process.env.WALL_RESPONDERS || 1000);
const CALLS = Number(process.env.WALL_CALLS || 50);
const SECONDS = Number(process.env.WALL_SECONDS || 20);
const PASSWORD = process.env.CIVICGRID_DEMO_PASSWORD || "demo-password-2026";

if (!BASE) throw new Error("set CIVICGRID_URL (scripts/e2e does)");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
let simulator;
try {
  const context = await browser.newContext({ locale: "zh-CN", viewport: { width: 1920, height: 1080 } });
  const page = await context.newPage();
  await page.goto(BASE + "/login");
  await page.fill('#login-form input[name="username"]', "demo-operator");
  await page.fill('#login-form input[name="password"]', PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('#login-form button[type="submit"]')]);
  const csrf = await page.getAttribute('meta[name="csrf-token"]', "content");
  const made = await page.request.post(BASE + "/api/v1/tokens", {
    data: { name: "wall-bench", expires_in_days: 1 },
    headers: { "x-csrf-token": csrf },
  });
  if (made.status() !== 201) throw new Error(`token: ${made.status()} ${await made.text()}`);
  const { token } = await made.json();

  // Responders on duty and walking; calls at a rate that opens CALLS within a minute.
  const addr = new URL(BASE).host;
  simulator = spawn(BIN, [
    "simulate", "--addr", addr, "--responders", String(RESPONDERS),
    "--calls-per-minute", String(CALLS * 2), "--every", "2",
  ], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, CIVICGRID_TOKEN: token } });

  await page.goto(BASE + "/command");
  await page.waitForSelector("#command[data-open-calls]");
  const started = Date.now();
  await page.waitForFunction(
    ([calls, responders]) =>
      Number(document.getElementById("command").dataset.openCalls) >= calls &&
      Number(document.getElementById("command-map").dataset.respondersDrawn || 0) >= responders * 0.9,
    [CALLS, RESPONDERS],
    { timeout: 180_000, polling: 500 },
  );
  const warm = (Date.now() - started) / 1000;

  // Frames and long tasks while the wall keeps up with the moves and the calls.
  const m = await page.evaluate(async (seconds) => {
    const frames = [];
    const long = [];
    const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => long.push(e.duration)));
    observer.observe({ type: "longtask", buffered: false });
    let last = performance.now();
    const end = last + seconds * 1000;
    await new Promise((done) => {
      const tick = (t) => {
        frames.push(t - last);
        last = t;
        if (t < end) requestAnimationFrame(tick);
        else done();
      };
      requestAnimationFrame(tick);
    });
    observer.disconnect();
    frames.sort((a, b) => a - b);
    const q = (p) => frames[Math.min(frames.length - 1, Math.floor(p * frames.length))];
    return {
      frames: frames.length, fps: frames.length / seconds, p50: q(0.5), p95: q(0.95), p99: q(0.99),
      max: frames[frames.length - 1], longTasks: long.length, longTaskMs: long.reduce((a, b) => a + b, 0),
      open: Number(document.getElementById("command").dataset.openCalls),
      drawn: Number(document.getElementById("command-map").dataset.respondersDrawn || 0),
      markers: document.querySelectorAll("#command-map .call-marker").length,
    };
  }, SECONDS);
  const shot = fileURLToPath(new URL("../../target/screenshots/command-wall-under-load.png", import.meta.url));
  mkdirSync(dirname(shot), { recursive: true });
  await page.screenshot({ path: shot });
  const r = (x) => x.toFixed(1);
  console.log(`wall: 1920x1080, ${RESPONDERS} responders moving (a report every 2 s), calls until ${CALLS} open; ready after ${r(warm)} s`);
  console.log(
    `  ${SECONDS} s measured: ${m.open} calls open (${m.markers} on the map), ${m.drawn} responders drawn; ` +
      `${m.frames} frames, ${r(m.fps)} fps; frame p50 ${r(m.p50)} ms, p95 ${r(m.p95)} ms, p99 ${r(m.p99)} ms, max ${r(m.max)} ms; ` +
      `${m.longTasks} long tasks (${r(m.longTaskMs)} ms in all, ${r((m.longTaskMs / (SECONDS * 1000)) * 100)}% of the time)`,
  );
} finally {
  simulator?.kill("SIGINT");
  await browser.close();
}
