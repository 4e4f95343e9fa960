// tiw-push-edge browser client: watch a room's whiteboard-push state.
//
//   import { watchRoom } from "https://push-edge.example.com/client.js";
//   const stop = watchRoom("https://push-edge.example.com", 1253, (room) => {
//     console.log(room.state); // "idle" | "streaming" | "stopped"
//   });
//
// It opens a WebSocket to GET /rooms/{roomId}/live, which sends the room's status at once and
// again the moment it changes. Until the socket is up, and whenever it is refused or drops, it
// polls GET /rooms/{roomId} with If-None-Match instead (an unchanged room costs a 304 and no
// callback; it waits as long as the worker's x-poll-interval header says), and tries the
// socket again with backoff (2, 4, 8 ... 60 s). On errors polling backs off the same way and,
// once a request succeeds again, calls onChange even if the room did not change, so a caller
// can clear the error it showed. It stops, closing the socket and cancelling a request in
// flight, when `stop()` is called or `options.signal` aborts. No dependencies.

/**
 * @param {string} baseUrl  where the worker is served, e.g. "https://push-edge.example.com"
 * @param {number|string} roomId
 * @param {(room: object) => void} onChange  called with the room status whenever it changes,
 *   and on the first success after an error
 * @param {{token?: string, sdkAppId?: number|string, signal?: AbortSignal,
 *          onError?: (error: Error) => void,
 *          onMode?: (mode: "live" | "polling") => void}} [options]
 *   onMode: told whenever updates switch between the socket ("live") and polling
 * @returns {() => void} stop
 */
export function watchRoom(baseUrl, roomId, onChange, options = {}) {
  const { token, sdkAppId, signal, onError, onMode } = options;
  const base = String(baseUrl).endsWith("/") ? String(baseUrl) : `${baseUrl}/`;
  const url = new URL(`rooms/${encodeURIComponent(String(roomId))}`, base);
  if (sdkAppId !== undefined && sdkAppId !== null && sdkAppId !== "") {
    url.searchParams.set("sdkAppId", String(sdkAppId));
  }

  const liveUrl = new URL(`rooms/${encodeURIComponent(String(roomId))}/live`, base);
  liveUrl.protocol = liveUrl.protocol === "https:" ? "wss:" : "ws:";
  liveUrl.search = url.search;
  // Browsers cannot set headers on a WebSocket: the token goes in the query.
  if (token) liveUrl.searchParams.set("token", token);

  const DEFAULT_INTERVAL_S = 5;
  const MAX_BACKOFF_S = 60;
  const KEEPALIVE_S = 30; // a ping now and then keeps proxies from closing an idle socket
  let etag = null;
  let intervalS = DEFAULT_INTERVAL_S; // the worker's last advertised x-poll-interval
  let failures = 0;
  let timer = null;
  let stopped = false;
  const inFlight = new AbortController();
  let socket = null;
  let live = false;
  let liveFailures = 0;
  let reconnectTimer = null;
  let keepalive = null;
  let mode = null;

  const backoffS = (n) => Math.min(MAX_BACKOFF_S, 2 ** n) * (0.75 + Math.random() / 2);
  const setMode = (next) => {
    if (next === mode) return;
    mode = next;
    if (onMode) notify(onMode, next);
  };

  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(reconnectTimer);
    clearInterval(keepalive);
    inFlight.abort();
    if (socket) socket.close(1000, "stopped");
  };
  // A throwing callback is the caller's bug, not a failed poll: report it, keep polling.
  const notify = (callback, value) => {
    try {
      callback(value);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  };
  if (signal) {
    if (signal.aborted) return stop;
    signal.addEventListener("abort", stop, { once: true });
  }

  function openLive() {
    if (stopped || typeof WebSocket !== "function") return;
    let ws;
    try {
      ws = new WebSocket(liveUrl);
    } catch {
      return liveLost();
    }
    socket = ws;
    ws.onmessage = (event) => {
      if (stopped || socket !== ws) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // "pong", or something this client does not know
      }
      if (!message || message.type !== "status") return;
      if (!live) {
        // The first status is what counts as connected: the socket is now the source.
        live = true;
        liveFailures = 0;
        clearTimeout(timer);
        clearInterval(keepalive);
        keepalive = setInterval(() => ws.readyState === 1 && ws.send("ping"), KEEPALIVE_S * 1000);
        setMode("live");
      }
      const recovered = failures > 0;
      failures = 0;
      if (message.etag !== etag || recovered) {
        etag = message.etag;
        notify(onChange, message.room);
      }
    };
    ws.onclose = () => {
      if (socket === ws) liveLost();
    };
  }

  // The socket was refused or dropped: poll now, and try the socket again later.
  function liveLost() {
    socket = null;
    live = false;
    clearInterval(keepalive);
    if (stopped) return;
    setMode("polling");
    liveFailures += 1;
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(openLive, backoffS(liveFailures) * 1000);
    clearTimeout(timer);
    poll();
  }

  async function poll() {
    if (stopped || live) return;
    let waitS = intervalS;
    let changed = null;
    try {
      const headers = {};
      if (etag) headers["if-none-match"] = etag;
      if (token) headers.authorization = `Bearer ${token}`;
      // no-store: the worker's ETag, not the browser cache, decides what changed.
      const res = await fetch(url, { headers, signal: inFlight.signal, cache: "no-store" });
      // The socket came up while this poll was out: it is the source now.
      if (stopped || live) return;
      const advertised = Number(res.headers.get("x-poll-interval"));
      if (advertised > 0) waitS = intervalS = advertised;
      if (res.status === 200) {
        changed = await res.json();
        etag = res.headers.get("etag");
        failures = 0;
      } else if (res.status === 304) {
        failures = 0;
      } else {
        let detail = "";
        try {
          detail = (await res.json()).error || "";
        } catch {
          // not JSON: keep the status alone
        }
        const error = new Error(`GET ${url.pathname} answered ${res.status} ${detail}`.trim());
        error.status = res.status;
        error.code = detail;
        throw error;
      }
    } catch (error) {
      if (stopped) return;
      failures += 1;
      // Forget the ETag: the next success is then a 200, delivered to onChange.
      etag = null;
      waitS = Math.max(waitS, backoffS(failures));
      if (onError) notify(onError, error);
    }
    if (stopped || live) return;
    if (changed) notify(onChange, changed);
    timer = setTimeout(poll, waitS * 1000);
  }

  setMode("polling");
  poll();
  openLive();
  return stop;
}
