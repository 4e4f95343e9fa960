// tiw-push-edge browser client: watch a room's whiteboard-push state.
//
//   import { watchRoom } from "https://push-edge.example.com/client.js";
//   const stop = watchRoom("https://push-edge.example.com", 1253, (room) => {
//     console.log(room.state); // "idle" | "streaming" | "stopped"
//   });
//
// It polls GET /rooms/{roomId} with If-None-Match, so an unchanged room costs a 304 and no
// callback; it waits as long as the worker's x-poll-interval header says; on errors it backs
// off (2, 4, 8 ... 60 s); it stops when `stop()` is called or `options.signal` aborts.
// No dependencies.

/**
 * @param {string} baseUrl  where the worker is served, e.g. "https://push-edge.example.com"
 * @param {number|string} roomId
 * @param {(room: object) => void} onChange  called with the room status whenever it changes
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
  let failures = 0;
  let timer = null;
  let stopped = false;

  const stop = () => {
    stopped = true;
    clearTimeout(timer);
  };
  if (signal) {
    if (signal.aborted) return stop;
    signal.addEventListener("abort", stop, { once: true });
  }

  async function poll() {
    if (stopped) return;
    let waitS = DEFAULT_INTERVAL_S;
    try {
      const headers = {};
      if (etag) headers["if-none-match"] = etag;
      if (token) headers.authorization = `Bearer ${token}`;
      // no-store: the worker's ETag, not the browser cache, decides what changed.
      const res = await fetch(url, { headers, signal, cache: "no-store" });
      const advertised = Number(res.headers.get("x-poll-interval"));
      if (advertised > 0) waitS = advertised;
      if (res.status === 200) {
        const room = await res.json();
        etag = res.headers.get("etag");
        failures = 0;
        if (!stopped) onChange(room);
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
      const backoff = Math.min(MAX_BACKOFF_S, 2 ** failures);
      waitS = Math.max(waitS, backoff * (0.75 + Math.random() / 2));
      if (onError) onError(error);
    }
    if (!stopped) timer = setTimeout(poll, waitS * 1000);
  }

  poll();
  return stop;
}
