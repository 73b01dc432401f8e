/** A fleet of {@link fleetWorker} child processes, for the fleet tests and the fleet benchmark. */
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import type { EmulatorCredentialOptions } from "../../src/emulator/index.ts";
import type { FleetWorkerConfig, FleetWorkerMessage, FleetWorkerResult } from "./fleetWorker.ts";

/** A replica's settings for an app of the emulator with a client secret; `redisUrl` and the rest are the caller's. */
export function replicaSettings(
  options: EmulatorCredentialOptions,
  clientSecret: string,
  rest: Pick<FleetWorkerConfig, "redisUrl" | "encryptionKey" | "operationTimeoutMs">,
): Omit<FleetWorkerConfig, "type"> {
  return {
    ...rest,
    tenantId: options.tenantId,
    clientId: options.clientId,
    clientSecret,
    authorityHost: options.authorityHost,
    mtlsAuthorityHost: options.mtlsAuthorityHost,
    imdsEndpoint: options.imdsEndpoint,
    ca: options.tls.ca,
  };
}

/** N replicas, each a child process with its own credential. */
export class Fleet {
  readonly #children: ChildProcess[];
  readonly unhandled: string[] = [];
  #nextId = 1;
  readonly #pending = new Map<number, (result: FleetWorkerResult) => void>();

  private constructor(children: ChildProcess[]) {
    this.#children = children;
    for (const child of children) {
      child.on("message", (message: FleetWorkerMessage) => {
        if (message.type === "token") {
          this.#pending.get(message.id)?.(message);
          this.#pending.delete(message.id);
        } else if (message.type === "unhandled") {
          this.unhandled.push(message.error);
        }
      });
    }
  }

  /** Forks `size` workers and configures each; resolves once all are ready. */
  static async start(size: number, config: Omit<FleetWorkerConfig, "type">): Promise<Fleet> {
    const children = Array.from({ length: size }, () => fork(join(import.meta.dirname, "fleetWorker.ts"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
    const fleet = new Fleet(children);
    await Promise.all(
      children.map(async (child) => {
        const ready = new Promise<void>((resolve, reject) => {
          child.on("message", (message: FleetWorkerMessage) => message.type === "ready" && resolve());
          child.once("exit", (code) => reject(new Error(`a fleet worker exited with ${code} before it was ready`)));
        });
        child.send({ type: "configure", ...config } satisfies FleetWorkerConfig);
        await ready;
      }),
    );
    return fleet;
  }

  get size(): number {
    return this.#children.length;
  }

  /** Every replica asks for `scope` at once. */
  getTokenEverywhere(scope: string): Promise<FleetWorkerResult[]> {
    return Promise.all(this.#children.map((child) => this.getToken(child, scope)));
  }

  /** Replica `index` asks for `scope`. */
  getTokenOn(index: number, scope: string): Promise<FleetWorkerResult> {
    const child = this.#children[index];
    if (child === undefined) throw new RangeError(`no replica ${index}`);
    return this.getToken(child, scope);
  }

  private getToken(child: ChildProcess, scope: string): Promise<FleetWorkerResult> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      child.send({ type: "getToken", id, scope });
    });
  }

  /** Closes every replica's credential and Redis client, and waits for the processes to exit. */
  async close(): Promise<void> {
    await Promise.all(
      this.#children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, "exit");
        child.send({ type: "close" });
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
