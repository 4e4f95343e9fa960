#!/usr/bin/env node
// Sends one signed TIW push callback (WhiteboardPushStarted or WhiteboardPushStopped) to a
// worker, the way Tencent would, and prints what was sent and what came back. For local
// development (`npm run dev` in another terminal) and for checking a staging deployment.
//
// Node >= 20, no dependencies. Sign = lowercase hex md5(key + String(ExpireTime)), the same
// as src/core/signature.rs. The key is never printed; the Sign is (it is part of what was sent).

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const FALLBACK_APP = 1400000001;
const MAX_ROOM_ID = 4294967295;
const TIMEOUT_MS = 15000;
// Tencent's published test vector (also pinned in src/core/signature.rs).
const VECTOR = {
  key: "Xz4ZgayTr7rMgWQrH",
  expireTime: 1588040109,
  sign: "a2dabb362a9b811c0e26953a6276a41c",
};

const EXIT_REFUSED = 1; // the worker answered, but not 2xx
const EXIT_USAGE = 2; // bad arguments or no key
const EXIT_NETWORK = 3; // no answer at all

// What an operator should look at for each error code of API.md.
const HINTS = {
  bad_signature:
    "the key matches neither the worker's CALLBACK_KEY nor CALLBACK_KEY_PREVIOUS: " +
    "compare --key / $CALLBACK_KEY / .dev.vars with the worker's secret",
  missing_signature: "the body carried no Sign/ExpireTime",
  expired:
    "ExpireTime + EXPIRE_LEEWAY_SECONDS is in the past: check --expire-in and this clock",
  expire_too_far:
    "ExpireTime is further ahead than the worker's MAX_EXPIRE_AHEAD_SECONDS: lower --expire-in",
  unknown_app: "--app is not listed in the worker's SDK_APP_IDS",
  not_configured:
    "the worker's config is invalid or CALLBACK_KEY is unset: GET /healthz names the variable",
  invalid_event: "the event fields were refused: check --room, --task",
  storage_unavailable:
    "Workers KV failed (or its one write per second per key limit): retry after Retry-After s",
  origin_unavailable:
    "the state was stored, but forwarding to ORIGIN_URL failed: check the origin",
  not_found: "no such path: --url should end in /callback",
};

const USAGE = `Send a signed TIW push callback to the worker.

Usage: npm run sign -- <started|stopped> [options]
       node scripts/sign.mjs <started|stopped> [options]
       node scripts/sign.mjs --selftest

Options:
  --url <url>          callback URL (default http://127.0.0.1:8787/callback)
  --room <id>          RoomId, 1..4294967295 (default 1253)
  --task <id>          TaskId (default cli-<room>, so a 'stopped' pairs with the
                       'started' before it; pass a new one to start a new task)
  --app <id>           SdkAppId (default: first id of SDK_APP_IDS in wrangler.toml [vars],
                       else ${FALLBACK_APP})
  --start <unix s>     PushStartTime (default now)
  --stop <unix s>      PushStopTime of 'stopped' (default now)
  --reason <reason>    FinishReason of 'stopped': AUTO, USER_CALL, EXCEPTION
                       (default USER_CALL)
  --user <id>          PushUserId (default tic_push_user_<room>_01)
  --expire-in <s>      ExpireTime = now + this (default 300; --expire-in=-60 signs an
                       already expired callback)
  --key <key>          the callback key (discouraged: it lands in shell history and the
                       process list). Default: $CALLBACK_KEY, else CALLBACK_KEY from
                       .dev.vars in the current directory, else in the repository root
  --dry-run            print the signed body and send nothing
  --selftest           check the signing against Tencent's published vector and exit
  -h, --help           this text

Prints the body sent (the Sign included, never the key), then the HTTP status, the
x-request-id (to find the worker's log line) and the answer.
Exit status: 0 on a 2xx answer, ${EXIT_REFUSED} on any other answer, ${EXIT_USAGE} on bad arguments
or no key, ${EXIT_NETWORK} when the worker could not be reached.`;

/** Tencent's signature: lowercase hex md5 of the key immediately followed by ExpireTime. */
function sign(key, expireTime) {
  return createHash("md5").update(`${key}${String(expireTime)}`, "utf8").digest("hex");
}

class UsageError extends Error {}

async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: "string", default: "http://127.0.0.1:8787/callback" },
        room: { type: "string", default: "1253" },
        task: { type: "string" },
        app: { type: "string" },
        start: { type: "string" },
        stop: { type: "string" },
        reason: { type: "string", default: "USER_CALL" },
        user: { type: "string" },
        "expire-in": { type: "string", default: "300" },
        key: { type: "string" },
        "dry-run": { type: "boolean", default: false },
        selftest: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    throw new UsageError(e.message);
  }
  const { values: opts, positionals } = parsed;

  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  if (opts.selftest) {
    return selftest();
  }
  if (positionals.length !== 1 || !["started", "stopped"].includes(positionals[0])) {
    throw new UsageError("say which event to send: 'started' or 'stopped'");
  }
  const kind = positionals[0];

  const now = Math.floor(Date.now() / 1000);
  const room = integer(opts.room, "--room", 1, MAX_ROOM_ID);
  const app = opts.app === undefined ? defaultApp() : integer(opts.app, "--app", 0);
  const task = opts.task ?? `cli-${room}`;
  if (task === "") {
    throw new UsageError("--task must not be empty");
  }
  const start = opts.start === undefined ? now : integer(opts.start, "--start", 0);
  const stop = opts.stop === undefined ? now : integer(opts.stop, "--stop", 0);
  const expireIn = integer(opts["expire-in"], "--expire-in");
  const user = opts.user ?? `tic_push_user_${room}_01`;
  let url;
  try {
    url = new URL(opts.url);
  } catch {
    throw new UsageError(`--url is not a URL: ${opts.url}`);
  }

  const { key, source } = findKey(opts.key);
  const expireTime = now + expireIn;
  const eventData =
    kind === "started"
      ? { TaskId: task, RoomId: room, PushUserId: user, PushStartTime: start }
      : {
          TaskId: task,
          RoomId: room,
          GroupId: String(room),
          PushUserId: user,
          FinishReason: opts.reason,
          PushStartTime: start,
          PushStopTime: stop,
          IMSyncTime: start,
          ExceptionCnt: 0,
        };
  const body = JSON.stringify({
    EventType: kind === "started" ? "WhiteboardPushStarted" : "WhiteboardPushStopped",
    SdkAppId: app,
    Timestamp: now,
    ExpireTime: expireTime,
    Sign: sign(key, expireTime),
    EventData: eventData,
  });

  console.error(`key: ${source}`);
  console.log(`POST ${url.href}`);
  console.log(body);
  if (opts["dry-run"]) {
    console.error("--dry-run: nothing sent");
    return 0;
  }
  return send(url, body);
}

async function send(url, body) {
  let res;
  let text;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    text = await res.text();
  } catch (e) {
    const cause = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(e);
    const why = e?.name === "TimeoutError" ? `no answer within ${TIMEOUT_MS / 1000} s` : cause;
    console.error(`error: could not reach ${url.href}: ${why}`);
    if (["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
      console.error("hint: is the worker running? (npm run dev)");
    }
    return EXIT_NETWORK;
  }

  const requestId = res.headers.get("x-request-id");
  console.log(`HTTP ${res.status}${requestId ? `  x-request-id: ${requestId}` : ""}`);
  console.log(text);
  let answer;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = undefined;
  }
  if (res.status >= 200 && res.status < 300) {
    if (answer?.outcome === "stale") {
      console.error(
        "note: outcome stale: this task already has a Stopped record (or lost to newer " +
          "tasks); pass a new --task to start another push",
      );
    }
    return 0;
  }
  const code = typeof answer?.error === "string" ? answer.error : undefined;
  const refused = `HTTP ${res.status}${code ? ` ${code}` : ""}`;
  console.error(`error: the worker refused the callback: ${refused}`);
  if (code && HINTS[code]) {
    console.error(`hint: ${HINTS[code]}`);
  }
  return EXIT_REFUSED;
}

function selftest() {
  const got = sign(VECTOR.key, VECTOR.expireTime);
  if (got !== VECTOR.sign) {
    console.error(
      `selftest FAILED: md5(key + ${VECTOR.expireTime}) = ${got}, expected ${VECTOR.sign}`,
    );
    return 1;
  }
  console.log(
    `selftest ok: Tencent's published vector (ExpireTime ${VECTOR.expireTime}) signs to ${got}`,
  );
  return 0;
}

/** A decimal integer argument within bounds. */
function integer(raw, name, min = -Infinity, max = Number.MAX_SAFE_INTEGER) {
  const text = String(raw).trim();
  if (!/^-?\d+$/.test(text)) {
    throw new UsageError(`${name} must be an integer, got '${raw}'`);
  }
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${name} must be between ${min} and ${max}, got ${raw}`);
  }
  return n;
}

/** The first id of SDK_APP_IDS in wrangler.toml's top-level [vars], else the fallback. */
function defaultApp() {
  for (const dir of uniqueDirs()) {
    const path = join(dir, "wrangler.toml");
    if (!existsSync(path)) {
      continue;
    }
    let table = "";
    for (const line of readFileSync(path, "utf8").split(/\r?\n/)) {
      const header = line.match(/^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$/);
      if (header) {
        table = header[1];
        continue;
      }
      const ids = line.match(/^\s*SDK_APP_IDS\s*=\s*["']([^"']*)["']/);
      if (table === "vars" && ids) {
        const first = ids[1].split(",")[0].trim();
        if (/^\d+$/.test(first)) {
          return Number(first);
        }
      }
    }
    return FALLBACK_APP;
  }
  return FALLBACK_APP;
}

/** The key and where it came from (for the log; never the key itself). */
function findKey(flag) {
  if (flag !== undefined) {
    if (flag === "") {
      throw new UsageError("--key is empty");
    }
    console.error(
      "warning: --key leaves the key in shell history and the process list; " +
        "prefer $CALLBACK_KEY or .dev.vars",
    );
    return { key: flag, source: "--key" };
  }
  const fromEnv = process.env.CALLBACK_KEY;
  if (fromEnv !== undefined && fromEnv.trim() !== "") {
    return { key: fromEnv, source: "$CALLBACK_KEY" };
  }
  for (const dir of uniqueDirs()) {
    const path = join(dir, ".dev.vars");
    if (!existsSync(path)) {
      continue;
    }
    const key = readDevVars(readFileSync(path, "utf8")).CALLBACK_KEY;
    if (key !== undefined && key.trim() !== "") {
      return { key, source: `CALLBACK_KEY from ${path}` };
    }
  }
  throw new UsageError(
    "no callback key: set CALLBACK_KEY, or create .dev.vars " +
      "(cp .dev.vars.example .dev.vars), or pass --key",
  );
}

/** The current directory, then the repository root. */
function uniqueDirs() {
  return [...new Set([process.cwd(), ROOT])];
}

/** NAME=value lines of a .dev.vars (dotenv) file: quoted or bare values, # comments. */
function readDevVars(text) {
  const vars = {};
  for (const line of text.split(/\r?\n/)) {
    const m = line.match(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/);
    if (!m) {
      continue;
    }
    const raw = m[2].trim();
    let value;
    if (raw.startsWith('"')) {
      const q = raw.match(/^"((?:[^"\\]|\\.)*)"/);
      value = q
        ? q[1].replace(/\\(.)/g, (_, c) => ({ n: "\n", r: "\r", t: "\t" })[c] ?? c)
        : raw;
    } else if (raw.startsWith("'")) {
      const q = raw.match(/^'([^']*)'/);
      value = q ? q[1] : raw;
    } else {
      value = raw.replace(/\s+#.*$/, "");
    }
    vars[m[1]] = value;
  }
  return vars;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError) {
    console.error(`error: ${e.message}\n(run with --help for the options)`);
    process.exitCode = EXIT_USAGE;
  } else {
    throw e;
  }
}
