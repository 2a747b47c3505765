// The stage cache: stage key → output ArtifactRef. A key covers the stage's
// Plan hash (type + config + upstream stage hashes), the content hashes of its
// actual inputs, and the version of the code that implements the stage type,
// so a hit is only possible when rerunning would compute the same thing.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import type { ArtifactRef } from './artifact-ref.js';

/** What a stage reported besides its output, kept so a cache hit shows the same numbers. */
export interface StageCacheExtra {
  stats?: Record<string, unknown>;
  counts?: { succeeded: number; failed: number; filtered: number };
}

export interface StageCache {
  get(key: string): Promise<ArtifactRef | undefined>;
  put(key: string, ref: ArtifactRef, extra?: StageCacheExtra): Promise<void>;
  /** The stats and counts recorded with the entry, if any. */
  extra?(key: string): Promise<StageCacheExtra | undefined>;
}

interface Entry extends StageCacheExtra {
  ref: ArtifactRef;
}

/** Entries were plain refs before stats were kept; both forms are read. */
function entryOf(raw: unknown): Entry | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const o = raw as Record<string, unknown>;
  if (typeof o.hash === 'string') return { ref: o as unknown as ArtifactRef };
  if (o.ref && typeof o.ref === 'object') return o as unknown as Entry;
  return undefined;
}

export function stageCacheKey(parts: { stageHash: string; inputHashes: string[]; implVersion: string }): string {
  return createHash('sha256').update(JSON.stringify([parts.stageHash, parts.inputHashes, parts.implVersion])).digest('hex');
}

export class FsStageCache implements StageCache {
  constructor(readonly dir: string) {}

  private file(key: string): string {
    return path.join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  private async entry(key: string): Promise<Entry | undefined> {
    try {
      return entryOf(JSON.parse(await readFile(this.file(key), 'utf8')));
    } catch {
      return undefined;
    }
  }

  async get(key: string): Promise<ArtifactRef | undefined> {
    return (await this.entry(key))?.ref;
  }

  async extra(key: string): Promise<StageCacheExtra | undefined> {
    const e = await this.entry(key);
    return e ? { ...(e.stats ? { stats: e.stats } : {}), ...(e.counts ? { counts: e.counts } : {}) } : undefined;
  }

  async put(key: string, ref: ArtifactRef, extra: StageCacheExtra = {}): Promise<void> {
    const file = this.file(key);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify({ ref, ...extra }));
    await rename(tmp, file);
  }
}

export class MemoryStageCache implements StageCache {
  private readonly entries = new Map<string, Entry>();
  async get(key: string): Promise<ArtifactRef | undefined> {
    return this.entries.get(key)?.ref;
  }
  async extra(key: string): Promise<StageCacheExtra | undefined> {
    const e = this.entries.get(key);
    return e ? { ...(e.stats ? { stats: e.stats } : {}), ...(e.counts ? { counts: e.counts } : {}) } : undefined;
  }
  async put(key: string, ref: ArtifactRef, extra: StageCacheExtra = {}): Promise<void> {
    this.entries.set(key, { ref, ...extra });
  }
}
