// Headless-Chromium end-to-end test of the status page (`GET /`) and the browser client
// (`GET /client.js`), both static assets, against a running worker: first live, over the
// WebSocket of `GET /rooms/{id}/live`, then with that socket refused, falling back to
// conditional polling; and the client imported by a page of another origin (CORS).
//
//   node tests/browser.mjs <baseUrl> <callbackKey> <sdkAppId>
//   (or BASE_URL, CALLBACK_KEY, SDK_APP_ID in the environment)
//
// The worker should advertise a short poll interval (POLL_INTERVAL_SECONDS=1), or the waits
// below take as long as its interval. tests/browser.rs starts such a worker and runs this.
// Exits 0 when every check passed, 1 with a message naming the failed one otherwise.

import { createHash, randomInt } from "node:crypto";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const WAIT_MS = 20_000;
const QUIET_MS = 3_000;
const OVERALL_MS = 150_000;

const [base, key, sdkAppId] = [
  process.argv[2] || process.env.BASE_URL,
  process.argv[3] || process.env.CALLBACK_KEY,
  process.argv[4] || process.env.SDK_APP_ID,
];
if (!base || !key || !sdkAppId || !/^\d+$/.test(sdkAppId)) {
  console.error("usage: node tests/browser.mjs <baseUrl> <callbackKey> <sdkAppId>");
  process.exit(2);
}

const startedAt = Date.now();
const elapsed = () => `${((Date.now() - startedAt) / 1000).toFixed(1)} s`;
const ok = (what) => console.log(`ok   ${what} (${elapsed()})`);

class CheckFailed extends Error {}
function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

/** A room id no other test uses: far above the harness's `unique_room()` range. */
const freshRoom = () => randomInt(100_000_000, 4_000_000_000);

// ---- callbacks, signed as Tencent signs them ----

function signed(body) {
  const expire = Math.floor(Date.now() / 1000) + 300;
  const sign = createHash("md5").update(key + String(expire)).digest("hex");
  return { ...body, ExpireTime: expire, Sign: sign };
}

function startedEvent(room, task, t) {
  return {
    EventType: "WhiteboardPushStarted",
    SdkAppId: Number(sdkAppId),
    Timestamp: t,
    EventData: { TaskId: task, RoomId: room, PushUserId: `tic_push_user_${room}_01`, PushStartTime: t },
  };
}

function stoppedEvent(room, task, start, stop) {
  return {
    EventType: "WhiteboardPushStopped",
    SdkAppId: Number(sdkAppId),
    Timestamp: stop,
    EventData: {
      TaskId: task,
      RoomId: room,
      PushUserId: `tic_push_user_${room}_01`,
      FinishReason: "USER_CALL",
      PushStartTime: start,
      PushStopTime: stop,
    },
  };
}

async function callback(body) {
  const res = await fetch(new URL("/callback", base), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(signed(body)),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  check(res.status === 200, `POST /callback ${body.EventType} answered ${res.status}: ${text}`);
  const outcome = JSON.parse(text).outcome;
  check(outcome === "applied", `POST /callback ${body.EventType}: outcome ${outcome}, want applied`);
}

// ---- what the page fetched ----

/** Every /rooms/{id} request the page made, and the answer it got. */
const polls = [];
const roomOf = (url) => new URL(url).pathname.match(/^\/rooms\/(\d+)$/)?.[1];

function record(page) {
  page.on("request", (request) => {
    const room = roomOf(request.url());
    if (!room) return;
    const entry = { room, at: Date.now(), url: request.url(), request, ifNoneMatch: null, status: null, failure: null };
    // Headers set by script are only in allHeaders(), which is asynchronous.
    entry.headersRead = request
      .allHeaders()
      .then((headers) => {
        entry.ifNoneMatch = headers["if-none-match"] || null;
      })
      .catch(() => {});
    polls.push(entry);
  });
  page.on("response", (response) => {
    const entry = polls.findLast((p) => p.request === response.request());
    if (entry) entry.status = response.status();
  });
  // Chromium reports a 304 answered to fetch() as failed (net::ERR_ABORTED) right after its
  // response, so a failure is kept apart and never hides the status that arrived.
  page.on("requestfailed", (request) => {
    const entry = polls.findLast((p) => p.request === request);
    if (entry) entry.failure = request.failure()?.errorText || "failed";
  });
}

/** Paths whose failed loads the console may report: none (the page declares an inline icon,
 *  so Chromium does not ask for /favicon.ico); pageRecoversFromErrors fails polls itself. */
const expectedErrorPaths = new Set();

const pollsOf = (room) => polls.filter((p) => p.room === String(room));

/** Waits until `predicate()` holds, checking every 50 ms. */
async function until(what, predicate, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    check(Date.now() < deadline, `timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function waitForState(page, want) {
  try {
    await page.waitForFunction(
      (state) => document.querySelector("#state")?.textContent.trim() === state,
      want,
      { timeout: WAIT_MS },
    );
  } catch (error) {
    const shown = await page.evaluate(() => ({
      state: document.querySelector("#state")?.textContent,
      error: document.querySelector("#error")?.textContent,
    }));
    throw new CheckFailed(
      `#state did not show "${want}" within ${WAIT_MS / 1000} s: it shows ` +
        `${JSON.stringify(shown.state)}, #error ${JSON.stringify(shown.error)} (${error.message.split("\n")[0]})`,
    );
  }
}

/** Waits for a 304 to a conditional poll of `room` made after `since`. */
async function waitForNotModified(room, since, label) {
  await until(`a 304 to a conditional GET /rooms/${room} (${label})`, () =>
    pollsOf(room).some((p) => p.at > since && p.status === 304 && p.ifNoneMatch),
  );
}

// ---- live sockets the page opened ----

/** Every WebSocket the page opened: its room, when, and whether it closed. */
const sockets = [];
const liveRoomOf = (url) => new URL(url).pathname.match(/^\/rooms\/(\d+)\/live$/)?.[1];

function recordSockets(page) {
  page.on("websocket", (ws) => {
    const entry = { room: liveRoomOf(ws.url()), at: Date.now(), url: ws.url(), closed: false, frames: 0 };
    ws.on("framereceived", () => {
      entry.frames += 1;
    });
    ws.on("close", () => {
      entry.closed = true;
    });
    sockets.push(entry);
  });
}

async function waitForMode(page, want) {
  try {
    await page.waitForFunction(
      (mode) => document.querySelector("#mode")?.textContent.trim() === mode,
      want,
      { timeout: WAIT_MS },
    );
  } catch {
    const shown = await page.locator("#mode").textContent();
    throw new CheckFailed(`#mode did not show "${want}" within ${WAIT_MS / 1000} s: it shows ${JSON.stringify(shown)}`);
  }
}

// ---- the checks ----

/** The page goes live over the socket and follows the room with no polling at all. */
async function pageFollowsTheRoomLive(page) {
  const room = freshRoom();
  const task = `live-${room}`;
  await page.goto(`${base}/?room=${room}`, { timeout: WAIT_MS });
  await waitForMode(page, "live");
  await waitForState(page, "idle");
  const liveAt = Date.now();
  ok(`page /?room=${room} is live over GET /rooms/${room}/live and shows "idle"`);

  const t = Math.floor(Date.now() / 1000);
  let sent = Date.now();
  await callback(startedEvent(room, task, t));
  await waitForState(page, "streaming");
  const startMs = Date.now() - sent;
  sent = Date.now();
  await callback(stoppedEvent(room, task, t, t + 1));
  await waitForState(page, "stopped");
  const stopMs = Date.now() - sent;
  const latepolls = pollsOf(room).filter((p) => p.at > liveAt);
  check(
    latepolls.length === 0,
    `the page polled while live: ${latepolls.map((p) => `GET /rooms/${p.room} -> ${p.status}`).join(", ")}`,
  );
  const opened = sockets.filter((s) => s.room === String(room));
  check(opened.length === 1 && !opened[0].closed, `want one open socket for room ${room}, got ${JSON.stringify(opened)}`);
  ok(`signed start then stop -> "streaming" (${startMs} ms), "stopped" (${stopMs} ms) over the socket, no poll while live`);

  // stop() closes the socket.
  const other = freshRoom();
  await page.evaluate(
    async ({ other, waitMs }) => {
      const { watchRoom } = await import("/client.js");
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no live onChange")), waitMs);
        let stop = null;
        stop = watchRoom(location.origin, other, () => {}, {
          onMode: (mode) => {
            if (mode !== "live") return;
            clearTimeout(timer);
            setTimeout(() => {
              stop();
              resolve();
            }, 0);
          },
        });
      });
    },
    { other, waitMs: WAIT_MS },
  );
  await until(`the socket of room ${other} to close after stop()`, () =>
    sockets.some((s) => s.room === String(other) && s.closed),
  );
  ok("stop() closes the live socket");
}


async function pageFollowsTheRoom(page) {
  const room = freshRoom();
  const task = `browser-${room}`;
  await page.goto(`${base}/?room=${room}`, { timeout: WAIT_MS });
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  await waitForState(page, "idle");
  ok(`page /?room=${room} shows "idle"`);

  await waitForNotModified(room, 0, "unchanged idle room");
  ok("an unchanged room is revalidated with If-None-Match and answered 304");

  const t = Math.floor(Date.now() / 1000);
  const beforeStart = Date.now();
  await callback(startedEvent(room, task, t));
  await waitForState(page, "streaming");
  ok(`signed WhiteboardPushStarted -> page shows "streaming" without a reload`);
  const change = pollsOf(room).find((p) => p.at >= beforeStart && p.status === 200);
  await change?.headersRead;
  check(change?.ifNoneMatch, "the poll that saw the change was not conditional (no If-None-Match)");

  const afterStart = Date.now();
  await waitForNotModified(room, afterStart, "between start and stop");
  ok("polls between the changes are answered 304");

  await callback(stoppedEvent(room, task, t, t + 1));
  await waitForState(page, "stopped");
  ok(`signed WhiteboardPushStopped -> page shows "stopped" without a reload`);

  check(
    await page.evaluate(() => window.__sameDocument === true),
    "the page reloaded or navigated while watching",
  );
  const error = await page.locator("#error").textContent();
  check(error.trim() === "", `#error shows ${JSON.stringify(error)}`);
  const detail = JSON.parse(await page.locator("#detail").textContent());
  check(
    detail.roomId === room && detail.taskId === task && detail.state === "stopped",
    `#detail does not describe the stopped task: ${JSON.stringify(detail)}`,
  );
  const counts = pollsOf(room).reduce((acc, p) => ({ ...acc, [p.status]: (acc[p.status] || 0) + 1 }), {});
  ok(`#error empty, #detail shows task ${task}; polls of the room by status: ${JSON.stringify(counts)}`);
  return room;
}

/** A failing poll shows in #error, and the error goes away once polls succeed again, even
 *  though the room did not change meanwhile. */
async function pageRecoversFromErrors(page, room) {
  const pattern = `**/rooms/${room}*`;
  expectedErrorPaths.add(`/rooms/${room}`);
  await page.route(pattern, (route) => route.abort("connectionrefused"));
  try {
    await page.waitForFunction(() => document.querySelector("#error")?.textContent.trim() !== "", null, {
      timeout: WAIT_MS,
    });
  } catch {
    throw new CheckFailed("a failed poll did not show in #error");
  }
  const shown = await page.locator("#error").textContent();
  ok(`a failed poll shows in #error: ${JSON.stringify(shown)}`);
  await page.unroute(pattern);
  try {
    await page.waitForFunction(() => document.querySelector("#error")?.textContent.trim() === "", null, {
      timeout: WAIT_MS,
    });
  } catch {
    throw new CheckFailed(
      `#error still shows ${JSON.stringify(await page.locator("#error").textContent())} ` +
        `${WAIT_MS / 1000} s after the worker became reachable again`,
    );
  }
  const state = (await page.locator("#state").textContent()).trim();
  check(state === "stopped", `after recovering #state shows ${JSON.stringify(state)}, want "stopped"`);
  ok(`polls succeed again -> #error cleared, #state still "stopped"`);
}

/** Submitting the form watches the new room (and app), and stops watching the old one.
 *  Returns when the old watch was replaced, and the old room. */
async function formSwitchesRooms(page, oldRoom) {
  const room = freshRoom();
  await page.fill("#room", String(room));
  await page.fill("#app", sdkAppId);
  await page.click("button[type=submit]");
  const switchedAt = Date.now();
  await waitForState(page, "idle");
  const search = await page.evaluate(() => location.search);
  const query = new URLSearchParams(search);
  check(
    query.get("room") === String(room) && query.get("sdkAppId") === sdkAppId,
    `the address bar does not name the watched room and app: ${search}`,
  );
  const asked = pollsOf(room);
  check(
    asked.length > 0 && asked.every((p) => new URL(p.url).searchParams.get("sdkAppId") === sdkAppId),
    `polls of room ${room} do not ask for sdkAppId=${sdkAppId}: ${asked.map((p) => p.url).join(", ")}`,
  );
  ok(`submitting the form watches room ${room} of app ${sdkAppId} (address bar ${search})`);
  return { room: oldRoom, since: switchedAt };
}

/** A watch ended by its AbortSignal, and one ended by the returned stop(), poll no more. */
async function endedWatchesStopPolling(page, replaced) {
  const aborted = freshRoom();
  const stopped = freshRoom();
  await page.evaluate(
    async ({ aborted, stopped, waitMs }) => {
      const { watchRoom } = await import("/client.js");
      const firstChange = (room, options) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`room ${room}: no onChange`)), waitMs);
          const stop = watchRoom(location.origin, room, () => {
            clearTimeout(timer);
            resolve(stop);
          }, options);
        });
      const controller = new AbortController();
      await firstChange(aborted, { signal: controller.signal });
      controller.abort();
      const stop = await firstChange(stopped, {});
      stop();
    },
    { aborted, stopped, waitMs: WAIT_MS },
  );
  const endedAt = Date.now();
  const before = { aborted: pollsOf(aborted).length, stopped: pollsOf(stopped).length };
  check(before.aborted >= 1 && before.stopped >= 1, "the watches made no request before ending");
  await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
  const late = polls.filter(
    (p) =>
      ((p.room === String(aborted) || p.room === String(stopped)) && p.at > endedAt) ||
      (p.room === String(replaced.room) && p.at > replaced.since + 100),
  );
  check(
    late.length === 0,
    `ended watches kept polling: ${late.map((p) => `GET /rooms/${p.room}`).join(", ")} after the end`,
  );
  ok(
    `aborted (signal) and stopped (stop()) watches, and the page's replaced watch, made no ` +
      `request in the ${QUIET_MS / 1000} s after`,
  );
}

/**
 * A page of another origin imports client.js and reads openapi.json: both are cross-origin
 * requests that need CORS, which the worker gives the static files as any answer (its
 * `ALLOWED_ORIGINS`, `*` by default here; it reads them from the assets). The other origin is the same server under the other
 * loopback host name (localhost / 127.0.0.1), showing its /healthz: a real loopback page, so
 * Chromium's local-network-access rules stay out of the way, and one without a CSP.
 */
async function anotherOriginLoadsTheStaticFiles(page) {
  const server = new URL(base);
  const otherHost = server.hostname === "localhost" ? "127.0.0.1" : "localhost";
  const other = `${server.protocol}//${otherHost}:${server.port}`;
  const errors = [];
  page.on("console", (msg) => msg.type() === "error" && errors.push(msg.text()));
  await page.goto(`${other}/healthz`, { timeout: WAIT_MS });
  const seen = await page
    .evaluate(async (base) => {
      const client = await import(`${base}/client.js`);
      const doc = await (await fetch(`${base}/openapi.json`)).json();
      return { watchRoom: typeof client.watchRoom, openapi: doc.openapi };
    }, base)
    .catch((error) => ({ error: error.message }));
  check(
    seen.watchRoom === "function" && seen.openapi === "3.1.0",
    `a page of ${other} could not use the static files: ${JSON.stringify(seen)}\n  ${errors.join("\n  ")}`,
  );
  ok(`a page of ${other} imports ${base}/client.js and reads /openapi.json (CORS)`);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: WAIT_MS,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const problems = [];
  try {
    const watchProblems = (page) => {
      page.setDefaultTimeout(WAIT_MS);
      page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
      page.on("console", (msg) => {
        const path = new URL(msg.location().url || base, base).pathname;
        if (msg.type() === "error" && !expectedErrorPaths.has(path)) {
          problems.push(`console error: ${msg.text()} (${msg.location().url})`);
        }
      });
      record(page);
      recordSockets(page);
    };

    const livePage = await browser.newPage();
    watchProblems(livePage);
    await pageFollowsTheRoomLive(livePage);
    await livePage.close();

    // Not watched for problems: Chromium asks that origin for a favicon (the worker's 404).
    const otherOrigin = await browser.newPage();
    await anotherOriginLoadsTheStaticFiles(otherOrigin);
    await otherOrigin.close();

    // The same page with every live socket refused (closed before any message): it polls.
    const page = await browser.newPage();
    watchProblems(page);
    await page.routeWebSocket(/\/live/, (ws) => ws.close({ code: 1011, reason: "refused by the test" }));
    const room = await pageFollowsTheRoom(page);
    await waitForMode(page, "polling");
    ok(`with /live refused the page shows "polling" and followed the room by polls`);
    await pageRecoversFromErrors(page, room);
    const replaced = await formSwitchesRooms(page, room);
    await endedWatchesStopPolling(page, replaced);
    check(problems.length === 0, `the page reported errors:\n  ${problems.join("\n  ")}`);
    ok("no page errors and no console errors");
  } finally {
    await browser.close();
  }
}

const overall = setTimeout(() => {
  console.error(`FAIL browser test did not finish in ${OVERALL_MS / 1000} s`);
  process.exit(1);
}, OVERALL_MS);
overall.unref();

try {
  await main();
  console.log(`browser test passed in ${elapsed()}`);
  process.exit(0);
} catch (error) {
  console.error(`FAIL ${error instanceof CheckFailed ? error.message : error.stack} (after ${elapsed()})`);
  console.error("last polls seen by the browser:");
  for (const p of polls.slice(-12)) {
    const at = ((p.at - startedAt) / 1000).toFixed(1);
    console.error(`  ${at} s GET ${new URL(p.url).pathname} if-none-match=${p.ifNoneMatch} -> ${p.status} ${p.failure || ""}`);
  }
  process.exit(1);
}
