// YAML text → a Document that keeps node positions. Rejects what a pipeline
// spec never needs and what could hurt the compiler: several documents,
// duplicate keys, alias bombs, oversized files, non-mapping roots.
import { LineCounter, parseAllDocuments, isMap, isPair, isSeq, visit, type Document, type YAMLError } from 'yaml';
import type { SpecError } from './errors.js';

export const MAX_SPEC_BYTES = 1024 * 1024;
export const MAX_ALIAS_COUNT = 100;
/** Deepest nesting of mappings/lists a spec may have (real specs stay under 10). */
export const MAX_NESTING_DEPTH = 64;

export interface ParsedSpec {
  file: string;
  source: string;
  doc: Document.Parsed | undefined;
  /** The document as plain data (aliases expanded once, within MAX_ALIAS_COUNT). */
  data: unknown;
  lineCounter: LineCounter;
  errors: SpecError[];
}

function yamlErrorCode(err: YAMLError): string {
  switch (err.code) {
    case 'DUPLICATE_KEY':
      return 'E_DUPLICATE_KEY';
    case 'RESOURCE_EXHAUSTION':
      // The yaml composer reports a stack overflow (collections nested
      // thousands deep) this way; alias expansion is checked in toJS below.
      return 'E_NESTING_DEPTH';
    default:
      return 'E_YAML_SYNTAX';
  }
}

function firstLine(msg: string): string {
  return msg.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

export function parseSpec(source: string, file: string): ParsedSpec {
  const lineCounter = new LineCounter();
  const errors: SpecError[] = [];
  const at = (offset: number) => lineCounter.linePos(Math.max(0, Math.min(offset, source.length)));
  const out: ParsedSpec = { file, source, doc: undefined, data: undefined, lineCounter, errors };

  if (Buffer.byteLength(source, 'utf8') > MAX_SPEC_BYTES) {
    errors.push({ code: 'E_FILE_TOO_LARGE', message: `spec is larger than ${MAX_SPEC_BYTES} bytes`, path: '', file, line: 1, column: 1, hint: 'split large data into files referenced by path' });
    return out;
  }
  const docs = parseAllDocuments(source, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true });
  const list = Array.isArray(docs) ? docs : [];
  if (list.length === 0) {
    errors.push({ code: 'E_ROOT_NOT_MAPPING', message: 'the spec is empty', path: '', file, line: 1, column: 1, hint: 'start with `apiVersion: swirl/v1` and `kind: Pipeline`' });
    return out;
  }
  if (list.length > 1) {
    const second = list[1]!;
    const pos = at(second.range[0]);
    errors.push({ code: 'E_MULTIPLE_DOCUMENTS', message: 'the spec holds more than one YAML document', path: '', file, line: pos.line, column: pos.col, hint: 'put one pipeline per file; remove the `---` separator' });
  }
  const doc = list[0]!;
  for (const err of [...doc.errors, ...doc.warnings]) {
    const pos = at(err.pos[0]);
    const code = yamlErrorCode(err as YAMLError);
    if (code === 'E_NESTING_DEPTH') {
      if (!errors.some((e) => e.code === code)) errors.push(nestingError(file, pos.line, pos.col));
      continue;
    }
    errors.push({ code, message: firstLine(err.message), path: '', file, line: pos.line, column: pos.col });
  }
  if (doc.errors.length > 0) return out;
  // Before anything walks the tree recursively (alias checks, toJS, ajv).
  const deep = deepestOffset(doc.contents);
  if (deep !== undefined) {
    const pos = at(deep);
    errors.push(nestingError(file, pos.line, pos.col));
    return out;
  }
  let unresolved = false;
  visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) === undefined) {
        const pos = at(node.range?.[0] ?? 0);
        errors.push({ code: 'E_YAML_SYNTAX', message: `alias \`*${node.source}\` refers to no anchor`, path: '', file, line: pos.line, column: pos.col, hint: `define \`&${node.source}\` on a value before \`*${node.source}\` uses it` });
        unresolved = true;
      }
    },
  });
  if (unresolved) return out;
  // Expanding aliases is where a bomb would explode; toJS enforces maxAliasCount.
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const pos = at(0);
    errors.push({ code: 'E_ALIAS_LIMIT', message: `YAML aliases expand too much (${(err as Error).message.split('\n')[0]})`, path: '', file, line: pos.line, column: pos.col, hint: 'write the values out instead of nesting aliases' });
    return out;
  }
  if (!isMap(doc.contents)) {
    const pos = at(doc.contents?.range?.[0] ?? 0);
    errors.push({ code: 'E_ROOT_NOT_MAPPING', message: 'the spec must be a mapping (key: value pairs) at the top level', path: '', file, line: pos.line, column: pos.col, hint: 'start with `apiVersion: swirl/v1` and `kind: Pipeline`' });
    return out;
  }
  out.doc = doc;
  out.data = data;
  return out;
}

function nestingError(file: string, line: number, column: number): SpecError {
  return { code: 'E_NESTING_DEPTH', message: `mappings and lists nest deeper than ${MAX_NESTING_DEPTH} levels`, path: '', file, line, column, hint: 'a pipeline spec nests a few levels; move deep data into a file referenced by path' };
}

/** Source offset of the first node deeper than MAX_NESTING_DEPTH, found without recursion; undefined when none is. */
function deepestOffset(root: unknown): number | undefined {
  const stack: Array<{ node: unknown; depth: number }> = [{ node: root, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth > MAX_NESTING_DEPTH) return node.range?.[0] ?? 0;
    for (const item of node.items) {
      if (isPair(item)) {
        stack.push({ node: item.key, depth: depth + 1 }, { node: item.value, depth: depth + 1 });
      } else stack.push({ node: item, depth: depth + 1 });
    }
  }
  return undefined;
}
