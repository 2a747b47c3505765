// JSON pointer → 1-based line:col in the YAML source, through the parsed
// Document's node ranges. `key: true` points at a mapping key instead of its value.
import { isMap, isSeq, isScalar, isPair, type Document, type LineCounter, type Node } from 'yaml';

export function pointerSegments(pointer: string): string[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function toPointer(segments: readonly (string | number)[]): string {
  return segments.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

interface Located {
  node: Node | undefined;
  keyNode: Node | undefined;
  /** Deepest node that exists along the path, for paths into missing values. */
  nearest: Node | undefined;
}

function locate(doc: Document, segments: string[]): Located {
  let node: Node | undefined = doc.contents ?? undefined;
  let keyNode: Node | undefined;
  let nearest = node;
  for (const seg of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === seg);
      if (!pair) return { node: undefined, keyNode: undefined, nearest };
      keyNode = pair.key as Node;
      node = (pair.value as Node | null) ?? undefined;
      nearest = node ?? keyNode;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)] as Node | undefined;
      if (!item) return { node: undefined, keyNode: undefined, nearest };
      keyNode = undefined;
      node = item;
      nearest = node;
    } else {
      return { node: undefined, keyNode: undefined, nearest };
    }
  }
  return { node, keyNode, nearest };
}

export function positionOf(doc: Document, lc: LineCounter, pointer: string, opts: { key?: boolean } = {}): { line: number; column: number } {
  const { node, keyNode, nearest } = locate(doc, pointerSegments(pointer));
  const target = opts.key ? (keyNode ?? node ?? nearest) : (node ?? keyNode ?? nearest);
  const offset = target?.range?.[0] ?? 0;
  const pos = lc.linePos(offset);
  return { line: pos.line, column: pos.col };
}
