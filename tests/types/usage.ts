// How a frontend uses client.js, type-checked against static/client.d.ts by
// `tsc --noEmit -p tests/types`. A change of the types that breaks this use fails the suite.

import {
  watchRoom,
  type Room,
  type Rooms,
  type TaskStatus,
  type WatchRoomError,
  type WatchRoomOptions,
} from "../../static/client.js";

const controller = new AbortController();

const options: WatchRoomOptions = {
  token: "viewer-token",
  sdkAppId: 1400000001,
  signal: controller.signal,
  onError: (error: WatchRoomError) => {
    const status: number | undefined = error.status;
    const code: string | undefined = error.code;
    console.warn(error.message, status, code);
  },
  onMode: (mode) => {
    const live: boolean = mode === "live";
    console.log(live ? "live" : "polling");
  },
};

const stop: () => void = watchRoom("https://push-edge.example.com", 1253, (room) => {
  show(room);
}, options);
watchRoom(new URL("https://push-edge.example.com/"), "1253", show);
watchRoom("https://push-edge.example.com", 1253, show, { sdkAppId: "1400000002" });
stop();

function show(room: Room): void {
  const live: boolean = room.state === "streaming";
  const ids: [number, number] = [room.sdkAppId, room.roomId];
  if (room.state === "idle") {
    // Narrowed: an idle room has no task and no fields.
    const none: null = room.taskId;
    const empty: [] = room.tasks;
    console.log(live, ids, none, empty);
    return;
  }
  const task: string = room.taskId;
  const since: number | null = room.startedAt;
  const error: string | undefined = room.error?.code;
  const latest: number | null = room.updatedAt;
  for (const t of room.tasks) {
    describe(t);
  }
  console.log(task, since, error, latest, room.finishReason, room.pushUserId, room.groupId,
    room.stoppedAt, room.imSyncTime, room.exceptionCount);
}

function describe(task: TaskStatus): string {
  const source: "callback" | "reconciled" = task.source ?? "callback";
  const reason: string = task.finishReason ?? "";
  return `${task.taskId} ${task.state} ${task.startedAt ?? "?"}-${task.stoppedAt ?? ""} ${reason} ${source}`;
}

// A batch body, as GET /rooms?ids=… answers it.
async function batch(base: string, ids: number[]): Promise<Room[]> {
  const res = await fetch(`${base}/rooms?ids=${ids.join(",")}`);
  const body = (await res.json()) as Rooms;
  return body.rooms;
}
void batch;

// What must not compile: a wrong state, a misspelt option, a wrong callback.
// @ts-expect-error "live" is not a room state
const wrong: Room["state"] = "live";
// @ts-expect-error the option is `sdkAppId`
watchRoom("https://push-edge.example.com", 1, show, { appId: 1 });
// @ts-expect-error onChange receives a Room, not a string
watchRoom("https://push-edge.example.com", 1, (room: string) => room);
void wrong;
