// Content-addressed row storage. Rows are JSON Lines; the address is the
// sha256 of the bytes. Writes are atomic (temp file, fsync, rename) so a crash
// never leaves a partial artifact under a valid address; reads verify the hash.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip, gzipSync } from 'node:zlib';
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

export interface FsArtifactStoreOptions {
  /** Store new artifacts gzip-compressed (`.jsonl.gz`). The address stays the sha256 of the uncompressed JSONL, so compressed and plain copies are the same artifact; reads handle both. */
  compress?: boolean;
}

export class FsArtifactStore implements ArtifactStore {
  constructor(
    readonly dir: string,
    readonly options: FsArtifactStoreOptions = {},
  ) {}

  pathOf(hash: string, compressed = false): string {
    return path.join(this.dir, hash.slice(0, 2), `${hash}.jsonl${compressed ? '.gz' : ''}`);
  }

  /** The stored file of an artifact, plain or compressed, if present. */
  private async locate(hash: string): Promise<{ file: string; gz: boolean } | undefined> {
    for (const gz of [false, true]) {
      try {
        if ((await stat(this.pathOf(hash, gz))).isFile()) return { file: this.pathOf(hash, gz), gz };
      } catch {
        /* try the other form */
      }
    }
    return undefined;
  }

  async put(kind: ArtifactKind, rows: Iterable<unknown> | AsyncIterable<unknown>): Promise<ArtifactRef> {
    await mkdir(this.dir, { recursive: true });
    const tmp = path.join(this.dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    const fh = await open(tmp, 'w');
    const hasher = createHash('sha256');
    let count = 0;
    let bytes = 0;
    const gz = this.options.compress === true;
    // Each chunk becomes one gzip member; concatenated members are one valid gzip stream.
    const writeChunk = async (text: string) => {
      if (!text) return;
      const b = Buffer.from(text);
      hasher.update(b);
      bytes += b.length;
      await fh.write(gz ? gzipSync(b) : b);
    };
    try {
      let buf = '';
      for await (const row of rows as AsyncIterable<unknown>) {
        buf += encodeRow(row);
        count++;
        if (buf.length > 1 << 20) {
          await writeChunk(buf);
          buf = '';
        }
      }
      await writeChunk(buf);
      if (gz && bytes === 0) await fh.write(gzipSync(Buffer.alloc(0))); // an empty artifact is still a valid gzip file
      await fh.sync();
    } catch (err) {
      await fh.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    const hash = hasher.digest('hex');
    const dest = this.pathOf(hash, gz);
    if (existsSync(dest) || (await this.locate(hash))) {
      await rm(tmp, { force: true });
    } else {
      await mkdir(path.dirname(dest), { recursive: true });
      await rename(tmp, dest);
    }
    return { hash, kind, rows: count, bytes };
  }

  async has(hash: string): Promise<boolean> {
    return (await this.locate(hash)) !== undefined;
  }

  async *read<T = unknown>(ref: Pick<ArtifactRef, 'hash'>): AsyncIterable<T> {
    const found = await this.locate(ref.hash);
    if (!found) throw new ArtifactMissingError(ref.hash);
    const hasher = createHash('sha256');
    const raw = createReadStream(found.file);
    const stream: NodeJS.ReadableStream = found.gz ? raw.pipe(createGunzip()) : raw;
    let streamError: Error | undefined;
    stream.on('error', (e: Error) => void (streamError = e));
    stream.on('data', (chunk: Buffer) => hasher.update(chunk));
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    const rows: T[] = [];
    let n = 0;
    try {
      for await (const line of lines) {
        n++;
        try {
          rows.push(JSON.parse(line) as T);
        } catch {
          throw new ArtifactCorruptError(ref.hash, `line ${n} is not JSON`);
        }
      }
    } catch (e) {
      if (e instanceof ArtifactCorruptError) throw e;
      throw new ArtifactCorruptError(ref.hash, `cannot read: ${(e as Error).message}`);
    }
    if (streamError) throw new ArtifactCorruptError(ref.hash, `cannot read: ${streamError.message}`);
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
