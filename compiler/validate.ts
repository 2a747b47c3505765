// Schema validation with ajv (draft 2020-12, strict) against the public
// contract schemas/pipeline.schema.json, with every ajv error turned into a
// coded SpecError at the YAML position of the offending key or value.
import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type AnySchemaObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { Document, LineCounter } from 'yaml';
import { didYouMean, type SpecError } from './errors.js';
import { positionOf, pointerSegments, toPointer } from './positions.js';

const schemaUrl = new URL('../schemas/pipeline.schema.json', import.meta.url);
export const pipelineSchema = JSON.parse(readFileSync(schemaUrl, 'utf8')) as AnySchemaObject;

// ajv-formats ships as CJS with a default export.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;

let compiled: ReturnType<Ajv2020['compile']> | undefined;
function validator() {
  if (!compiled) {
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, discriminator: true, verbose: true, allowUnionTypes: true });
    addFormats(ajv);
    compiled = ajv.compile(pipelineSchema);
  }
  return compiled;
}

const defs = (pipelineSchema.$defs ?? {}) as Record<string, AnySchemaObject>;

function resolveRef(ref: string): AnySchemaObject | undefined {
  const m = /^#\/\$defs\/(.+)$/.exec(ref);
  return m ? defs[m[1]!] : undefined;
}

/** Property names a schema object allows, following one level of $ref (stageCommon). */
function allowedProperties(schema: AnySchemaObject | undefined): string[] {
  if (!schema) return [];
  const names = new Set(Object.keys((schema.properties as object | undefined) ?? {}));
  if (typeof schema.$ref === 'string') for (const n of allowedProperties(resolveRef(schema.$ref))) names.add(n);
  return [...names].sort();
}

const SECRET_FIELDS = new Set(['apiKey']);

function fieldName(pointer: string): string {
  const segs = pointerSegments(pointer);
  if (segs.length === 0) return 'document';
  const last = segs[segs.length - 1]!;
  if (/^\d+$/.test(last)) {
    const parent = segs[segs.length - 2] ?? 'item';
    return parent === 'stages' && segs.length === 2 ? `stage #${Number(last) + 1}` : `${parent}[${last}]`;
  }
  return last;
}

/** `stage \`train\`` for a stage, else the field name. */
function containerLabel(pointer: string, data: unknown): string {
  const segs = pointerSegments(pointer);
  if (segs.length === 2 && segs[0] === 'stages') {
    const id = (data as { id?: unknown } | undefined)?.id;
    return typeof id === 'string' ? `stage \`${id}\`` : `stage #${Number(segs[1]) + 1}`;
  }
  return `\`${fieldName(pointer)}\``;
}

function describe(schema: AnySchemaObject | undefined): string | undefined {
  const d = schema?.description;
  return typeof d === 'string' ? d : undefined;
}

/** `{rank:4}` is the key `rank:4` with no value in YAML: say so instead of guessing a field. */
function missingSpace(field: string, container: unknown): string | undefined {
  const m = /^([A-Za-z_][\w-]*):(\S.*)$/.exec(field);
  if (!m) return undefined;
  const value = container && typeof container === 'object' ? (container as Record<string, unknown>)[field] : undefined;
  if (value !== null && value !== undefined) return undefined;
  return `YAML needs a space after the colon: write \`${m[1]}: ${m[2]}\``;
}

function ajvToSpecError(e: ErrorObject, doc: Document, lc: LineCounter, file: string): SpecError | undefined {
  const p = e.instancePath;
  const name = fieldName(p);
  const parent = e.parentSchema as AnySchemaObject | undefined;
  const at = (pointer: string, key = false) => ({ path: pointer, file, ...positionOf(doc, lc, pointer, { key }) });
  switch (e.keyword) {
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const field = String((e.params as Record<string, unknown>).additionalProperty ?? (e.params as Record<string, unknown>).unevaluatedProperty);
      const allowed = allowedProperties(parent);
      const guess = didYouMean(field, allowed);
      const where = p === '' ? 'at the top level' : `in ${containerLabel(p, e.data)}`;
      return {
        code: 'E_UNKNOWN_FIELD',
        message: `unknown field \`${field}\` ${where}`,
        ...at(toPointer([...pointerSegments(p), field]), true),
        hint: missingSpace(field, e.data) ?? (guess ? `did you mean \`${guess}\`?` : allowed.length ? `allowed fields: ${allowed.join(', ')}` : undefined),
      };
    }
    case 'required': {
      const field = String((e.params as { missingProperty: string }).missingProperty);
      const desc = describe((parent?.properties as Record<string, AnySchemaObject> | undefined)?.[field]) ?? describe(resolveRef(String(parent?.$ref ?? ''))?.properties?.[field]);
      return { code: 'E_MISSING_FIELD', message: `missing required field \`${field}\`${p ? ` in ${containerLabel(p, e.data)}` : ''}`, ...at(p, true), hint: desc };
    }
    case 'type': {
      const words: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false', null: 'null' };
      const want = [(e.params as { type: string | string[] }).type].flat().map((t) => words[t] ?? t);
      return { code: 'E_TYPE', message: `\`${name}\` must be ${want.join(' or ')}`, ...at(p), hint: describe(parent) };
    }
    case 'enum': {
      const allowed = ((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String);
      const guess = typeof e.data === 'string' ? didYouMean(e.data, allowed) : undefined;
      return {
        code: 'E_ENUM',
        message: `\`${name}\` must be one of: ${allowed.join(', ')}`,
        ...at(p),
        hint: guess ? `did you mean \`${guess}\`?` : describe(parent),
      };
    }
    case 'const':
      return { code: 'E_CONST', message: `\`${name}\` must be \`${String((e.params as { allowedValue: unknown }).allowedValue)}\``, ...at(p), hint: describe(parent) };
    case 'pattern':
      if (SECRET_FIELDS.has(name) || /^\/tools\/[^/]+\/(env|headers)\/[^/]+$/.test(p)) {
        return { code: 'E_SECRET_LITERAL', message: `\`${name}\` must reference an environment variable, not hold a value`, ...at(p), hint: 'write `${env:NAME}` and export NAME on the worker; secrets never enter specs, plans or history' };
      }
      return { code: 'E_PATTERN', message: `\`${name}\` has the wrong shape (${JSON.stringify(e.data)})`, ...at(p), hint: describe(parent) ?? `must match ${(e.params as { pattern: string }).pattern}` };
    case 'propertyNames': {
      const bad = String((e.params as { propertyName: string }).propertyName);
      const hint = name === 'labels' ? 'label keys use letters, digits, `_`, `.` and `-` (at most 63)' : 'names use lowercase letters, digits, `-` and `_`, starting with a letter';
      return { code: 'E_PATTERN', message: `name \`${bad}\` in \`${name}\` has the wrong shape`, ...at(toPointer([...pointerSegments(p), bad]), true), hint };
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const { comparison, limit } = e.params as { comparison: string; limit: number };
      return { code: 'E_RANGE', message: `\`${name}\` must be ${comparison} ${limit} (got ${JSON.stringify(e.data)})`, ...at(p), hint: describe(parent) };
    }
    case 'minLength':
    case 'maxLength':
    case 'minItems':
    case 'maxItems': {
      const limit = (e.params as { limit: number }).limit;
      const unit = e.keyword.endsWith('Items') ? (limit === 1 ? 'item' : 'items') : limit === 1 ? 'character' : 'characters';
      const message = e.keyword.startsWith('min') ? (limit === 1 ? 'must not be empty' : `needs at least ${limit} ${unit}`) : `allows at most ${limit} ${unit}`;
      return { code: 'E_LENGTH', message: `\`${name}\` ${message}`, ...at(p), hint: describe(parent) };
    }
    case 'minProperties':
      return { code: 'E_LENGTH', message: `\`${name}\` must not be empty`, ...at(p), hint: `set at least one of: ${allowedProperties(parent).join(', ')}` };
    case 'uniqueItems': {
      const { j } = e.params as { i: number; j: number };
      return { code: 'E_DUPLICATE_ITEM', message: `\`${name}\` lists the same item twice`, ...at(toPointer([...pointerSegments(p), j])) };
    }
    case 'format':
      return { code: 'E_FORMAT', message: `\`${name}\` must be a valid ${(e.params as { format: string }).format}`, ...at(p), hint: describe(parent) };
    case 'discriminator': {
      const params = e.params as { error: string; tag: string; tagValue: unknown };
      if (params.error === 'tag' && params.tagValue === undefined) return undefined; // the `required` error already says `type` is missing
      const allowed = (((pipelineSchema.$defs as Record<string, AnySchemaObject>).stage!.properties as Record<string, AnySchemaObject>).type!.enum as string[]) ?? [];
      const guess = typeof params.tagValue === 'string' ? didYouMean(params.tagValue, allowed) : undefined;
      return { code: 'E_UNKNOWN_STAGE_TYPE', message: `unknown stage type ${JSON.stringify(params.tagValue)}`, ...at(toPointer([...pointerSegments(p), 'type'])), hint: guess ? `did you mean \`${guess}\`?` : `stage types: ${allowed.join(', ')}` };
    }
    default:
      return { code: 'E_INVALID', message: `\`${name}\` ${e.message ?? 'is invalid'}`, ...at(p), hint: describe(parent) };
  }
}

/** Collapses oneOf/anyOf fan-out: keep the errors of the branch whose type matched, else one type error. */
function pruneAlternatives(errors: ErrorObject[]): ErrorObject[] {
  const alt = errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf');
  if (alt.length === 0) return errors;
  let out = errors.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf');
  for (const a of alt) {
    const p = a.instancePath;
    const inside = (e: ErrorObject) => e.instancePath === p || e.instancePath.startsWith(p + '/');
    const branch = out.filter(inside);
    const meaningful = branch.filter((e) => !(e.keyword === 'type' && e.instancePath === p));
    if (meaningful.length > 0) {
      out = out.filter((e) => !inside(e) || meaningful.includes(e));
    } else {
      const types = [...new Set(branch.flatMap((e) => [(e.params as { type?: string | string[] }).type ?? []].flat()))];
      out = out.filter((e) => !inside(e));
      out.push({ ...a, keyword: 'type', params: { type: types.length ? types : ['a valid value'] }, parentSchema: a.parentSchema });
    }
  }
  return out;
}

export function validateSchema(data: unknown, doc: Document, lc: LineCounter, file: string): SpecError[] {
  const validate = validator();
  if (validate(data)) return [];
  const raw = pruneAlternatives([...(validate.errors ?? [])]);
  // A bad discriminator also fails the `type` enum; keep only the stage-type error.
  const badTypes = new Set(raw.filter((e) => e.keyword === 'discriminator').map((e) => e.instancePath + '/type'));
  const out: SpecError[] = [];
  for (const e of raw) {
    if (e.keyword === 'enum' && badTypes.has(e.instancePath)) continue;
    // Errors inside `propertyNames` repeat the propertyNames error itself.
    if ((e as ErrorObject & { propertyName?: string }).propertyName !== undefined) continue;
    if (e.keyword === 'if') continue;
    const se = ajvToSpecError(e, doc, lc, file);
    if (se) out.push(se.hint === undefined ? (({ hint: _h, ...rest }) => rest)(se) : se);
  }
  return out;
}
