/** Starts bench/emulatorProcess.ts in a child process and talks to it over IPC. */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { EmulatorCommand, EmulatorConfig, EmulatorReply, WireCounts } from "./emulatorProtocol.ts";

/** The emulator process, as the benchmark drives it. */
export interface RemoteEmulator {
  readonly config: EmulatorConfig;
  counts(): Promise<WireCounts>;
  clearJournal(): Promise<void>;
  /** A standing delay of `ms` on every token request (0 removes it). */
  setLatency(ms: number): Promise<void>;
  close(): Promise<void>;
}

type Pending = { resolve: (result: WireCounts | null) => void; reject: (error: Error) => void };

/** Forks the emulator process and waits until it listens. */
export async function startRemoteEmulator(): Promise<RemoteEmulator> {
  const child: ChildProcess = fork(fileURLToPath(new URL("./emulatorProcess.ts", import.meta.url)), [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    // Plain Node: no --expose-gc or profiler flags of the benchmark's own process.
    execArgv: [],
  });
  const pending = new Map<number, Pending>();
  let nextId = 1;
  const config = await new Promise<EmulatorConfig>((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`the emulator process exited (${String(code)}) before it was ready`));
    child.once("exit", onExit);
    child.once("error", reject);
    child.on("message", (message: EmulatorReply | { type: "ready"; config: EmulatorConfig }) => {
      if (message.type === "ready") {
        child.off("exit", onExit);
        resolve(message.config);
        return;
      }
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (message.error !== null) waiter?.reject(new Error(message.error));
      else waiter?.resolve(message.result);
    });
  });
  child.on("exit", () => {
    for (const waiter of pending.values()) waiter.reject(new Error("the emulator process exited"));
    pending.clear();
  });
  const call = (command: Omit<EmulatorCommand, "id"> & { type: EmulatorCommand["type"] }): Promise<WireCounts | null> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.send({ ...command, id });
    });
  return {
    config,
    async counts() {
      const result = await call({ type: "counts" });
      if (result === null) throw new Error("the emulator process sent no counts");
      return result;
    },
    async clearJournal() {
      await call({ type: "clearJournal" });
    },
    async setLatency(ms) {
      await call({ type: "latency", ms } as Omit<EmulatorCommand, "id">);
    },
    close() {
      return new Promise<void>((resolve) => {
        if (child.exitCode !== null || !child.connected) {
          resolve();
          return;
        }
        child.once("exit", () => resolve());
        child.send({ type: "close" });
      });
    },
  };
}
