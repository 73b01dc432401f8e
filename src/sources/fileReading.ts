import { createHash } from "node:crypto";
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

/**
 * Reads a whole file, refusing it when it is larger than `maxBytes`. Size, mtime and content come
 * from one open handle, so the fingerprint describes the bytes returned even if the file is being
 * replaced at that moment.
 *
 * @param path - the file
 * @param maxBytes - the largest size accepted
 * @param what - how messages name the file, such as `the certificate file`
 * @throws SourceUnavailableError - naming the path and the errno code
 */
export async function readFileSnapshot(path: string, maxBytes: number, what: string): Promise<FileSnapshot> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw fileError(error, path, what);
  }
  try {
    const stats = await handle.stat();
    if (stats.isDirectory()) throw new SourceUnavailableError(`${what} ${path} is a directory, not a file`);
    if (stats.size > maxBytes) throw tooLarge(path, what, maxBytes);
    const bytes = await handle.readFile();
    if (bytes.byteLength > maxBytes) throw tooLarge(path, what, maxBytes);
    return { bytes, fingerprint: { mtimeMs: stats.mtimeMs, size: bytes.byteLength, sha256: sha256(bytes) } };
  } catch (error) {
    if (error instanceof SourceUnavailableError) throw error;
    throw fileError(error, path, what);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Whether the file at `path` differs from `fingerprint`: its mtime or size moved, its content hash
 * differs, or it can no longer be read (a reload will then report why).
 */
export async function fileChanged(path: string, fingerprint: FileFingerprint, maxBytes: number): Promise<boolean> {
  try {
    const stats = await stat(path);
    if (stats.mtimeMs !== fingerprint.mtimeMs || stats.size !== fingerprint.size) return true;
    const snapshot = await readFileSnapshot(path, maxBytes, "the file");
    return snapshot.fingerprint.sha256 !== fingerprint.sha256;
  } catch {
    return true;
  }
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
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
