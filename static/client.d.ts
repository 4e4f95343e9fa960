// Types of client.js (the tiw-push-edge browser client) and of the status bodies it delivers:
// the body of GET /rooms/{roomId} (docs/API.md; `RoomStatus` in /openapi.json).
// TypeScript picks this file up for an import of "./client.js" next to it.

/** A room's push state: `idle` until any event of the room was stored. */
export type RoomState = "idle" | "streaming" | "stopped";

/** `EventData.Error` of a callback, as stored. */
export interface PushError {
  code: string;
  message: string;
}

/** One kept push task of a room (`tasks[]`). */
export interface TaskStatus {
  taskId: string;
  state: "streaming" | "stopped";
  /** The task's own `PushStartTime` (Unix seconds), null when its record has none. */
  startedAt: number | null;
  /** The task's own `PushStopTime` (Unix seconds), null when its record has none. */
  stoppedAt: number | null;
  /** `AUTO`, `USER_CALL` or `EXCEPTION` (Tencent's words). */
  finishReason: string | null;
  /** Where the record came from: a callback, or a stop reconciled with Tencent's API. */
  source?: "callback" | "reconciled";
}

interface RoomFields {
  sdkAppId: number;
  roomId: number;
}

/** A room no event was ever stored for: every field but the ids null, no tasks. */
export interface IdleRoom extends RoomFields {
  state: "idle";
  taskId: null;
  pushUserId: null;
  groupId: null;
  startedAt: null;
  stoppedAt: null;
  finishReason: null;
  imSyncTime: null;
  exceptionCount: null;
  error: null;
  updatedAt: null;
  tasks: [];
}

/**
 * A room with stored tasks. The top-level task fields describe the streaming task with the
 * greatest start time, else the task with the greatest stop time.
 */
export interface ActiveRoom extends RoomFields {
  state: "streaming" | "stopped";
  taskId: string;
  pushUserId: string | null;
  groupId: string | null;
  startedAt: number | null;
  stoppedAt: number | null;
  finishReason: string | null;
  imSyncTime: number | null;
  exceptionCount: number | null;
  error: PushError | null;
  /** The greatest envelope `Timestamp` among the kept tasks. */
  updatedAt: number | null;
  /** Every kept task (at most 16), greatest start time first. */
  tasks: TaskStatus[];
}

/** The body of GET /rooms/{roomId}; narrow on `state`. */
export type Room = IdleRoom | ActiveRoom;

/** The body of GET /rooms?ids=…: each distinct id once, in the order asked. */
export interface Rooms {
  rooms: Room[];
}

/** What `onError` receives: a network error, or a non-2xx answer with its status and code. */
export interface WatchRoomError extends Error {
  /** The HTTP status, when the worker answered. */
  status?: number;
  /** The answer's `error` code (e.g. "unauthorized"), "" when it had none. */
  code?: string;
}

export interface WatchRoomOptions {
  /** STATUS_TOKEN, sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Which app, when the worker's SDK_APP_IDS lists several (default: the first). */
  sdkAppId?: number | string;
  /** Aborting it stops the watch, like the returned `stop()`. */
  signal?: AbortSignal;
  /** Called on each failed poll; polling goes on with backoff (2, 4, 8 ... 60 s). */
  onError?: (error: WatchRoomError) => void;
  /**
   * Told whenever updates switch between the room's WebSocket ("live") and polling, by a
   * client.js that opens GET /rooms/{roomId}/live.
   */
  onMode?: (mode: "live" | "polling") => void;
}

/**
 * Polls GET /rooms/{roomId} with If-None-Match at the worker's x-poll-interval and calls
 * `onChange` with the room whenever it changes, and on the first success after an error.
 * Returns `stop()`, which ends the watch and cancels a request in flight.
 */
export function watchRoom(
  baseUrl: string | URL,
  roomId: number | string,
  onChange: (room: Room) => void,
  options?: WatchRoomOptions,
): () => void;
