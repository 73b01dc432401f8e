/**
 * A real `redis-server` for tests: on a free loopback port, no persistence, in a temporary folder.
 * It can be killed (SIGKILL) and restarted on the same port, and paused, to test outages. Every
 * server started here is killed when the test process exits, even if a test forgot to stop it.
 *
 * Needs `redis-server` and `redis-cli` on the PATH (`apt-get install -y redis-server`; `.ci/run`
 * installs them when missing). Tests that use it skip with a reason when they are absent.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** Why Redis tests cannot run here, or false when they can. */
export const redisMissing: string | false = (() => {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
    execFileSync("redis-cli", ["--version"], { stdio: "ignore" });
    return false;
  } catch {
    return "redis-server is not installed (apt-get install -y redis-server)";
  }
})();

/** A running (or stopped) test Redis. */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:port`. */
  readonly url: string;
  /** Whether it runs as a one-node Redis Cluster that serves every slot. */
  readonly cluster: boolean;
  /** Sends one command with redis-cli and resolves to its raw output. */
  command(...args: string[]): Promise<string>;
  /** SIGKILL: no shutdown, no goodbye to clients. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after {@link RedisServer.kill} or {@link RedisServer.stop}). */
  restart(): Promise<void>;
  /** Blocks the whole server for `ms` (`DEBUG SLEEP`): connections stay open, nothing answers. Resolves once it is blocked. */
  freeze(ms: number): Promise<void>;
  /** `CLIENT PAUSE ms ALL`: the server accepts commands but answers none until `ms` have passed. */
  pause(ms: number): Promise<void>;
  /** Stops it and removes its folder. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Whether the server answers PING within `timeoutMs`. */
function ping(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    let data = "";
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("error", () => done(false));
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1");
      if (data.includes("\r\n")) done(data.startsWith("+PONG"));
    });
    socket.once("connect", () => socket.write("PING\r\n"));
  });
}

/** Resolves once the server answers PING (or rejects after `timeoutMs`). */
async function waitForPing(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode} before answering`);
    if (await ping(port, 500)) return;
    await sleep(25);
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
}

/** Starts a Redis server; `cluster: true` makes it a one-node cluster owning all 16384 slots. */
export async function startRedisServer(options: { cluster?: boolean } = {}): Promise<RedisServer> {
  const cluster = options.cluster ?? false;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "bcc-redis-"));
  let child: ChildProcess | undefined;

  const run = (...args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { timeout: 15_000 }, (error, stdout) =>
        error ? reject(error) : resolve(stdout.trim()),
      );
    });

  const launch = async (): Promise<void> => {
    const args = [
      "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
      "--enable-debug-command", "yes", "--loglevel", "warning", "--logfile", "",
      ...(cluster ? ["--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf")] : []),
    ];
    const started = spawn("redis-server", args, { stdio: "ignore" });
    running.add(started);
    started.once("exit", () => running.delete(started));
    child = started;
    await waitForPing(port, started);
    if (cluster) {
      // The slots are kept in nodes.conf, so a restarted node owns them again.
      const info = await run("CLUSTER", "INFO");
      if (!info.includes("cluster_state:ok")) {
        await run("CLUSTER", "ADDSLOTSRANGE", "0", "16383");
        const deadline = Date.now() + 10_000;
        while (!(await run("CLUSTER", "INFO")).includes("cluster_state:ok")) {
          if (Date.now() > deadline) throw new Error("the one-node cluster did not become ok");
          await sleep(50);
        }
      }
    }
  };

  const exit = async (signal: NodeJS.Signals): Promise<void> => {
    const current = child;
    child = undefined;
    if (current === undefined || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => current.once("exit", () => resolve()));
    current.kill(signal);
    await exited;
  };

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cluster,
    command: run,
    kill: () => exit("SIGKILL"),
    restart: async () => {
      await exit("SIGKILL");
      await launch();
    },
    freeze: async (ms) => {
      // redis-cli waits for DEBUG SLEEP to end, so it is not awaited: the server is blocked once a
      // PING goes unanswered.
      run("DEBUG", "SLEEP", String(ms / 1000)).catch(() => undefined);
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline) {
        if (!(await ping(port, 100))) return;
        await sleep(5);
      }
      throw new Error("DEBUG SLEEP did not block the server");
    },
    pause: async (ms) => {
      await run("CLIENT", "PAUSE", String(ms), "ALL");
    },
    stop: async () => {
      await exit("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Redis Sentinel watching one master, as `createSentinel` of node-redis needs. */
export interface RedisSentinel {
  readonly port: number;
  /** The monitored master's name. */
  readonly name: string;
  stop(): Promise<void>;
}

/** Starts a Sentinel (`redis-server --sentinel`) that monitors `master` under `name`. */
export async function startRedisSentinel(master: RedisServer, name = "bcc"): Promise<RedisSentinel> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "bcc-sentinel-"));
  const config = join(dir, "sentinel.conf");
  // Sentinel rewrites its configuration file, so it must be a writable file of its own.
  writeFileSync(
    config,
    [`port ${port}`, "bind 127.0.0.1", `dir ${dir}`, `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`, `sentinel down-after-milliseconds ${name} 5000`, ""].join("\n"),
  );
  const child = spawn("redis-server", [config, "--sentinel", "--loglevel", "warning", "--logfile", ""], { stdio: "ignore" });
  running.add(child);
  child.once("exit", () => running.delete(child));
  await waitForPing(port, child);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answer = await new Promise<string>((resolve) =>
      execFile("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "SENTINEL", "get-master-addr-by-name", name], (error, stdout) => resolve(error ? "" : stdout)),
    );
    if (answer.includes(String(master.port))) break;
    if (Date.now() > deadline) throw new Error("the sentinel did not report its master");
    await sleep(50);
  }
  return {
    port,
    name,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
