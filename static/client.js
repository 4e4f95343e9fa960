// tiw-push-edge browser client: watch a room's whiteboard-push state.
//
//   import { watchRoom } from "https://push-edge.example.com/client.js";
//   const stop = watchRoom("https://push-edge.example.com", 1253, (room) => {
//     console.log(room.state); // "idle" | "streaming" | "stopped"
//   });
//
// It polls GET /rooms/{roomId} with If-None-Match, so an unchanged room costs a 304 and no
// callback; it waits as long as the worker's x-poll-interval header says; on errors it backs
// off (2, 4, 8 ... 60 s) and, once a request succeeds again, calls onChange even if the room
// did not change, so a caller can clear the error it showed; it stops, cancelling a request
// in flight, when `stop()` is called or `options.signal` aborts. No dependencies.

/**
 * @param {string} baseUrl  where the worker is served, e.g. "https://push-edge.example.com"
 * @param {number|string} roomId
 * @param {(room: object) => void} onChange  called with the room status whenever it changes,
 *   and on the first success after an error
 * @param {{token?: string, sdkAppId?: number|string, signal?: AbortSignal,
 *          onError?: (error: Error) => void}} [options]
 * @returns {() => void} stop
 */
export function watchRoom(baseUrl, roomId, onChange, options = {}) {
  const { token, sdkAppId, signal, onError } = options;
  const base = String(baseUrl).endsWith("/") ? String(baseUrl) : `${baseUrl}/`;
  const url = new URL(`rooms/${encodeURIComponent(String(roomId))}`, base);
  if (sdkAppId !== undefined && sdkAppId !== null && sdkAppId !== "") {
    url.searchParams.set("sdkAppId", String(sdkAppId));
  }

  const DEFAULT_INTERVAL_S = 5;
  const MAX_BACKOFF_S = 60;
  let etag = null;
  let intervalS = DEFAULT_INTERVAL_S; // the worker's last advertised x-poll-interval
  let failures = 0;
  let timer = null;
  let stopped = false;
  const inFlight = new AbortController();

  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    inFlight.abort();
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

  async function poll() {
    if (stopped) return;
    let waitS = intervalS;
    let changed = null;
    try {
      const headers = {};
      if (etag) headers["if-none-match"] = etag;
      if (token) headers.authorization = `Bearer ${token}`;
      // no-store: the worker's ETag, not the browser cache, decides what changed.
      const res = await fetch(url, { headers, signal: inFlight.signal, cache: "no-store" });
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
      const backoff = Math.min(MAX_BACKOFF_S, 2 ** failures);
      waitS = Math.max(waitS, backoff * (0.75 + Math.random() / 2));
      if (onError) notify(onError, error);
    }
    if (changed && !stopped) notify(onChange, changed);
    if (!stopped) timer = setTimeout(poll, waitS * 1000);
  }

  poll();
  return stop;
}
