// What travels through workflow history instead of data: a content hash and
// a few counts. Pure types: workflow code imports this module.
import type { ArtifactKind } from '../compiler/stage-kinds.js';

export interface ArtifactRef {
  /** sha256 of the stored JSONL bytes. */
  hash: string;
  kind: ArtifactKind;
  rows: number;
  bytes: number;
}

/** Largest activity input or result the engine accepts (Temporal's own limit is 2 MB). */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
