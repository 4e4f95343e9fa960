#!/usr/bin/env node
// Lists, replays and deletes the worker's dead letters (queued delivery, ORIGIN_DELIVERY=queue):
// deliveries to the origin that ran out of attempts. Talks to /admin/dead-letters with
// `Authorization: Bearer $ADMIN_TOKEN`; the token is never printed.
//
// Node >= 20, no dependencies.

import { parseArgs } from "node:util";

const TIMEOUT_MS = 30000;
const MAX_PAGES = 1000;
const EXIT_REFUSED = 1; // the worker answered, but not 2xx (or some ids were not found)
const EXIT_USAGE = 2; // bad arguments or no token
const EXIT_NETWORK = 3; // no answer at all

const USAGE = `List, replay and delete the worker's dead letters.

Usage: npm run dead-letters -- list [--cursor <c>] [--json] [--url <base>]
       npm run dead-letters -- replay <id>... | --all [--url <base>]
       npm run dead-letters -- delete <id>... [--url <base>]

  list        every dead letter, oldest first (follows the pages; --cursor <c> prints
              one page from <c> and the cursor of the next)
  replay      queue the named dead letters (or --all of them) again, with their original
              bytes and delivery id, and remove them from the dead letters
  delete      remove the named dead letters for good

Options:
  --url <base>   the worker (default $WORKER_URL, else http://127.0.0.1:8787)
  --json         list: print the API's JSON pages instead of a table
  -h, --help     this text

The token comes from $ADMIN_TOKEN (the worker's ADMIN_TOKEN secret). Read it without echo:
  read -rs ADMIN_TOKEN && export ADMIN_TOKEN
Exit status: 0 done, ${EXIT_REFUSED} refused or ids not found, ${EXIT_USAGE} bad arguments, ${EXIT_NETWORK} no answer.`;

class Exit extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function parse(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: "string" },
        cursor: { type: "string" },
        all: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new Exit(EXIT_USAGE, e.message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  const [command, ...ids] = positionals;
  if (!["list", "replay", "delete"].includes(command)) {
    throw new Exit(EXIT_USAGE, "the first argument is list, replay or delete");
  }
  if (command === "list" && (ids.length || values.all)) {
    throw new Exit(EXIT_USAGE, "list takes no ids");
  }
  if (command === "replay" && !values.all === !ids.length) {
    throw new Exit(EXIT_USAGE, "replay takes ids or --all (one of them)");
  }
  if (command === "delete" && (!ids.length || values.all)) {
    throw new Exit(EXIT_USAGE, "delete takes one or more ids");
  }
  const base = (values.url ?? process.env.WORKER_URL ?? "http://127.0.0.1:8787").replace(/\/+$/, "");
  try {
    new URL(base);
  } catch {
    throw new Exit(EXIT_USAGE, `--url is not a URL: ${base}`);
  }
  const token = process.env.ADMIN_TOKEN;
  if (!token) throw new Exit(EXIT_USAGE, "set $ADMIN_TOKEN to the worker's ADMIN_TOKEN");
  return { command, ids, base, token, cursor: values.cursor, all: !!values.all, json: !!values.json };
}

async function call(opts, method, path, body) {
  const headers = { authorization: `Bearer ${opts.token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(opts.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: "manual",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    throw new Exit(EXIT_NETWORK, `could not reach ${opts.base}: ${e.cause?.message ?? e.message}`);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: shown as text below
  }
  if (!res.ok) {
    const why = json?.error ? `${json.error}: ${json.message}` : text.slice(0, 200);
    const hint =
      res.status === 401
        ? " ($ADMIN_TOKEN does not match the worker's ADMIN_TOKEN)"
        : res.status === 404 && method !== "DELETE"
          ? " (every /admin path is 404 while the worker has no ADMIN_TOKEN)"
          : "";
    throw new Exit(EXIT_REFUSED, `${method} ${path}: HTTP ${res.status} ${why}${hint}`);
  }
  return json;
}

function row(d) {
  const when = new Date(d.receivedAt * 1000).toISOString();
  return [d.id, d.eventType, d.sdkAppId ?? "-", d.roomId ?? "-", d.taskId ?? "-", when, d.attempts, d.lastError].join("\t");
}

async function list(opts) {
  let cursor = opts.cursor ?? null;
  let count = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
    const body = await call(opts, "GET", `/admin/dead-letters${query}`);
    if (page === 0 && !opts.json) {
      console.log(["id", "eventType", "sdkAppId", "roomId", "taskId", "receivedAt", "attempts", "lastError"].join("\t"));
    }
    if (opts.json) console.log(JSON.stringify(body));
    else body.deadLetters.forEach((d) => console.log(row(d)));
    count += body.deadLetters.length;
    cursor = body.cursor;
    if (!cursor) break;
    if (opts.cursor !== undefined) {
      console.error(`more: --cursor ${cursor}`);
      break;
    }
  }
  console.error(`${count} dead letter(s)`);
  return 0;
}

async function replay(opts) {
  if (!opts.all) {
    const body = await call(opts, "POST", "/admin/dead-letters/replay", { ids: opts.ids });
    console.log(`replayed ${body.replayed}`);
    if (body.missing.length) {
      console.error(`not found: ${body.missing.join(" ")}`);
      return EXIT_REFUSED;
    }
    return 0;
  }
  let total = 0;
  for (let round = 0; round < MAX_PAGES; round++) {
    const body = await call(opts, "POST", "/admin/dead-letters/replay", { all: true });
    total += body.replayed;
    if (!body.more || body.replayed === 0) break;
  }
  console.log(`replayed ${total}`);
  return 0;
}

async function remove(opts) {
  let missing = 0;
  for (const id of opts.ids) {
    try {
      await call(opts, "DELETE", `/admin/dead-letters/${encodeURIComponent(id)}`);
      console.log(`deleted ${id}`);
    } catch (e) {
      if (e.code !== EXIT_REFUSED || !e.message.includes("HTTP 404")) throw e;
      console.error(`not found: ${id}`);
      missing++;
    }
  }
  return missing ? EXIT_REFUSED : 0;
}

async function main() {
  const opts = parse(process.argv.slice(2));
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  if (opts.command === "list") return list(opts);
  if (opts.command === "replay") return replay(opts);
  return remove(opts);
}

main().then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof Exit) {
      console.error(`error: ${e.message}`);
      if (e.code === EXIT_USAGE) console.error("(npm run dead-letters -- --help for usage)");
      process.exit(e.code);
    }
    console.error(e);
    process.exit(1);
  },
);
