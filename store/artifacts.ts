// Content-addressed row storage. Rows are JSON Lines; the address is the
// sha256 of the bytes. Writes are atomic (temp file, fsync, rename) so a crash
// never leaves a partial artifact under a valid address; reads verify the hash.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { ArtifactKind } from '../compiler/stage-kinds.js';
import type { ArtifactRef } from './artifact-ref.js';

export class ArtifactCorruptError extends Error {
  constructor(readonly hash: string, detail: string) {
    super(`artifact ${hash} is corrupt: ${detail}`);
    this.name = 'ArtifactCorruptError';
  }
}

export class ArtifactMissingError extends Error {
  constructor(readonly hash: string) {
    super(`artifact ${hash} is not in the store`);
    this.name = 'ArtifactMissingError';
  }
}

export interface ArtifactStore {
  put(kind: ArtifactKind, rows: Iterable<unknown> | AsyncIterable<unknown>): Promise<ArtifactRef>;
  read<T = unknown>(ref: Pick<ArtifactRef, 'hash'>): AsyncIterable<T>;
  has(hash: string): Promise<boolean>;
}

export async function readAll<T>(store: ArtifactStore, ref: Pick<ArtifactRef, 'hash'>): Promise<T[]> {
  const out: T[] = [];
  for await (const row of store.read<T>(ref)) out.push(row);
  return out;
}

function encodeRow(row: unknown): string {
  const line = JSON.stringify(row);
  if (line === undefined) throw new TypeError('artifact rows must be JSON values');
  return line + '\n';
}

export class FsArtifactStore implements ArtifactStore {
  constructor(readonly dir: string) {}

  pathOf(hash: string): string {
    return path.join(this.dir, hash.slice(0, 2), `${hash}.jsonl`);
  }

  async put(kind: ArtifactKind, rows: Iterable<unknown> | AsyncIterable<unknown>): Promise<ArtifactRef> {
    await mkdir(this.dir, { recursive: true });
    const tmp = path.join(this.dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    const fh = await open(tmp, 'w');
    const hasher = createHash('sha256');
    let count = 0;
    let bytes = 0;
    try {
      let buf = '';
      for await (const row of rows as AsyncIterable<unknown>) {
        buf += encodeRow(row);
        count++;
        if (buf.length > 1 << 20) {
          const b = Buffer.from(buf);
          hasher.update(b);
          bytes += b.length;
          await fh.write(b);
          buf = '';
        }
      }
      const b = Buffer.from(buf);
      hasher.update(b);
      bytes += b.length;
      await fh.write(b);
      await fh.sync();
    } catch (err) {
      await fh.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    const hash = hasher.digest('hex');
    const dest = this.pathOf(hash);
    if (existsSync(dest)) {
      await rm(tmp, { force: true });
    } else {
      await mkdir(path.dirname(dest), { recursive: true });
      await rename(tmp, dest);
    }
    return { hash, kind, rows: count, bytes };
  }

  async has(hash: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(hash))).isFile();
    } catch {
      return false;
    }
  }

  async *read<T = unknown>(ref: Pick<ArtifactRef, 'hash'>): AsyncIterable<T> {
    const file = this.pathOf(ref.hash);
    if (!(await this.has(ref.hash))) throw new ArtifactMissingError(ref.hash);
    const hasher = createHash('sha256');
    const stream = createReadStream(file);
    stream.on('data', (chunk) => hasher.update(chunk));
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    const rows: T[] = [];
    let n = 0;
    for await (const line of lines) {
      n++;
      try {
        rows.push(JSON.parse(line) as T);
      } catch {
        throw new ArtifactCorruptError(ref.hash, `line ${n} is not JSON`);
      }
    }
    // Rows are released only after the whole file matched its address.
    if (hasher.digest('hex') !== ref.hash) throw new ArtifactCorruptError(ref.hash, 'content does not match its hash');
    yield* rows;
  }
}

/** In-memory store with the same behaviour, for unit tests of logic. */
export class MemoryArtifactStore implements ArtifactStore {
  private readonly blobs = new Map<string, string>();

  async put(kind: ArtifactKind, rows: Iterable<unknown> | AsyncIterable<unknown>): Promise<ArtifactRef> {
    let text = '';
    let count = 0;
    for await (const row of rows as AsyncIterable<unknown>) {
      text += encodeRow(row);
      count++;
    }
    const hash = createHash('sha256').update(text).digest('hex');
    this.blobs.set(hash, text);
    return { hash, kind, rows: count, bytes: Buffer.byteLength(text) };
  }

  async has(hash: string): Promise<boolean> {
    return this.blobs.has(hash);
  }

  async *read<T = unknown>(ref: Pick<ArtifactRef, 'hash'>): AsyncIterable<T> {
    const text = this.blobs.get(ref.hash);
    if (text === undefined) throw new ArtifactMissingError(ref.hash);
    if (createHash('sha256').update(text).digest('hex') !== ref.hash) throw new ArtifactCorruptError(ref.hash, 'content does not match its hash');
    for (const line of text.split('\n')) if (line) yield JSON.parse(line) as T;
  }

  /** Test hook: overwrite stored bytes to simulate corruption. */
  tamper(hash: string, text: string): void {
    this.blobs.set(hash, text);
  }
}
