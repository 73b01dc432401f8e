import { createHash } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { open, stat } from "node:fs/promises";
import { SourceUnavailableError } from "./types.ts";

/** What identifies one version of a file cheaply: enough to notice that it was replaced. */
export interface FileFingerprint {
  readonly mtimeMs: number;
  readonly size: number;
  /** SHA-256 of the content, hex: catches a same-size replacement within the mtime granularity. */
  readonly sha256: string;
}

/** A file's content together with the fingerprint of exactly that content. */
export interface FileSnapshot {
  readonly bytes: Buffer;
  readonly fingerprint: FileFingerprint;
}

/** How much is read per call: a certificate or a JWT fits in one or two reads. */
const CHUNK_BYTES = 64 * 1024;

/**
 * `O_NONBLOCK` makes `open` of a FIFO return at once instead of waiting for a writer, which would
 * hold one of libuv's four threads for as long as nobody writes (open(2), fifo(7)). It has no
 * effect on a regular file. Windows has no such flag, nor FIFOs that `open` waits on.
 */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/**
 * Reads a whole regular file, refusing it when it is larger than `maxBytes`. Anything that is not
 * a regular file (a FIFO, a character device such as `/dev/zero`, a socket, a directory) is
 * refused before it is opened: a FIFO would wait for a writer and a device never ends. The size is
 * checked while reading, never trusted from `stat` (a file in `/proc` says 0 and holds more), so at
 * most `maxBytes + 1` bytes are ever held. Size, mtime and content come from one open handle, so the
 * fingerprint describes the bytes returned even if the file is being replaced at that moment.
 *
 * @param path - the file
 * @param maxBytes - the largest size accepted
 * @param what - how messages name the file, such as `the certificate file`
 * @param signal - stops reading between chunks once aborted (the request's deadline)
 * @throws SourceUnavailableError - naming the path and the errno code or the kind of file
 */
export async function readFileSnapshot(path: string, maxBytes: number, what: string, signal?: AbortSignal): Promise<FileSnapshot> {
  try {
    assertRegular(await stat(path), path, what);
  } catch (error) {
    if (error instanceof SourceUnavailableError) throw error;
    throw fileError(error, path, what);
  }
  let handle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (error) {
    throw fileError(error, path, what);
  }
  try {
    // The path may have been swapped for something else between the stat and the open.
    const stats = await handle.stat();
    assertRegular(stats, path, what);
    if (stats.size > maxBytes) throw tooLarge(path, what, maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      signal?.throwIfAborted();
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, maxBytes + 1 - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.byteLength, null);
      if (bytesRead === 0) break;
      chunks.push(bytesRead === chunk.byteLength ? chunk : chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(path, what, maxBytes);
    }
    const bytes = Buffer.concat(chunks, total);
    return { bytes, fingerprint: { mtimeMs: stats.mtimeMs, size: bytes.byteLength, sha256: sha256(bytes) } };
  } catch (error) {
    if (error instanceof SourceUnavailableError || signal?.aborted === true) throw error;
    throw fileError(error, path, what);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function assertRegular(stats: Stats, path: string, what: string): void {
  if (stats.isFile()) return;
  const kind = stats.isDirectory()
    ? "a directory"
    : stats.isFIFO()
      ? "a named pipe (FIFO)"
      : stats.isCharacterDevice()
        ? "a character device"
        : stats.isBlockDevice()
          ? "a block device"
          : stats.isSocket()
            ? "a socket"
            : "not a regular file";
  throw new SourceUnavailableError(
    `${what} ${path} is ${kind}, not a regular file; point the path at the file that holds it`,
  );
}

function fileError(error: unknown, path: string, what: string): SourceUnavailableError {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "unknown error";
  const explanation =
    code === "ENOENT"
      ? "does not exist"
      : code === "EACCES" || code === "EPERM"
        ? "cannot be read: permission denied"
        : code === "EISDIR"
          ? "is a directory, not a file"
          : "cannot be read";
  return new SourceUnavailableError(`${what} ${path} ${explanation} (${code})`);
}

function tooLarge(path: string, what: string, maxBytes: number): SourceUnavailableError {
  return new SourceUnavailableError(
    `${what} ${path} is larger than ${formatSize(maxBytes)}, which is more than it can hold; check that the path names the right file`,
  );
}

function formatSize(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}
