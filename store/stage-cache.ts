// The stage cache: stage key → output ArtifactRef. A key covers the stage's
// Plan hash (type + config + upstream stage hashes), the content hashes of its
// actual inputs, and the version of the code that implements the stage type,
// so a hit is only possible when rerunning would compute the same thing.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import type { ArtifactRef } from './artifact-ref.js';

export interface StageCache {
  get(key: string): Promise<ArtifactRef | undefined>;
  put(key: string, ref: ArtifactRef): Promise<void>;
}

export function stageCacheKey(parts: { stageHash: string; inputHashes: string[]; implVersion: string }): string {
  return createHash('sha256').update(JSON.stringify([parts.stageHash, parts.inputHashes, parts.implVersion])).digest('hex');
}

export class FsStageCache implements StageCache {
  constructor(readonly dir: string) {}

  private file(key: string): string {
    return path.join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  async get(key: string): Promise<ArtifactRef | undefined> {
    try {
      return JSON.parse(await readFile(this.file(key), 'utf8')) as ArtifactRef;
    } catch {
      return undefined;
    }
  }

  async put(key: string, ref: ArtifactRef): Promise<void> {
    const file = this.file(key);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(ref));
    await rename(tmp, file);
  }
}

export class MemoryStageCache implements StageCache {
  private readonly entries = new Map<string, ArtifactRef>();
  async get(key: string): Promise<ArtifactRef | undefined> {
    return this.entries.get(key);
  }
  async put(key: string, ref: ArtifactRef): Promise<void> {
    this.entries.set(key, ref);
  }
}
