// Secret hygiene: no secret value reaches history, logs, stdout, artifacts or
// the ledger, including through an upstream error that echoes it.
//
// Two layers, applied by `redact`:
//   1. every value swirl resolves from `${env:NAME}` (model API keys, MCP env
//      and headers) is registered here when it is read, and is replaced by
//      `${env:NAME}` wherever it appears;
//   2. a key-pattern scrubber for values swirl never saw (a key echoed by a
//      gateway that is not the one configured, a token in a URL): Bearer
//      tokens, `sk-…` keys, AWS access key ids, Google API keys, and the value
//      of `api_key=` / `key=` / `token=` query parameters and `api-key:`
//      headers become `[redacted]`.
// The choke points that call it: activity failures (worker.ts interceptor),
// errors crossing an episode thread (activities/episode-threads.ts toWire),
// item failure reasons written to artifacts, the SDK log lines (runtime/
// clients.ts), everything the CLI prints (cli/output.ts) and compile-error
// excerpts (compiler/errors.ts). The registry is per thread: an episode
// thread registers the keys it resolves itself (the environment is shared),
// and the main thread registers the variables of a model it hands to one.
// Imports nothing: the CLI, the compiler and threads load it for free.

/** Shorter values are not registered: replacing a 3-letter string everywhere would garble every message. */
export const MIN_SECRET_LENGTH = 6;

/** value → the env variable it came from. */
const secrets = new Map<string, string>();
/** Registered values, longest first (a key that contains another is replaced whole). */
let ordered: Array<[string, string]> = [];

/** Registers a secret value read from env variable `name`: from now on `redact` writes `${env:NAME}` for it. */
export function registerSecret(value: string | undefined, name: string): void {
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return;
  let changed = false;
  for (const v of new Set([value, value.trim(), encodeURIComponent(value)])) {
    if (v.length < MIN_SECRET_LENGTH || secrets.get(v) === name) continue;
    secrets.set(v, name);
    changed = true;
  }
  if (changed) ordered = [...secrets].sort((a, b) => b[0].length - a[0].length);
}

/** Registers the value of env variable `name` (when set) and returns it. */
export function registerSecretEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = env[name];
  registerSecret(v, name);
  return v;
}

/** Forgets every registered secret (tests). */
export function clearSecrets(): void {
  secrets.clear();
  ordered = [];
}

const REDACTED = '[redacted]';

/** The patterns of keys swirl never saw; each keeps its label (group 1) and drops the value. */
const KEY_PATTERNS: Array<[RegExp, string]> = [
  // Authorization headers: `Bearer <token>`, `Basic <b64>`.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, `$1 ${REDACTED}`],
  // OpenAI / Anthropic / most gateways: sk-…, sk-proj-…, sk-ant-…
  [/(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{12,}/g, `sk-${REDACTED}`],
  // AWS access key ids, Google API keys, GitHub and Hugging Face tokens.
  [/(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g, REDACTED],
  [/(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{30,}/g, REDACTED],
  [/(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{20,}|hf_[A-Za-z0-9]{20,})/g, REDACTED],
  // Query strings: ?api_key=…, &key=…, access_token=…
  [/([?&;](?:api[_-]?key|apikey|key|access[_-]?token|token|secret|password)=)[^&#\s"'<>]+/gi, `$1${REDACTED}`],
  // Header or JSON fields named like a key, with a key-like value: `x-api-key: …`, `"api_key": "…"`, `Authorization: …`.
  [/((?:x-)?api[_-]?key|authorization|access[_-]?token|secret[_-]?key)(["']?\s*[:=]\s*["']?)(?!\$\{env:)(?!Bearer\b|Basic\b|\[redacted\])[A-Za-z0-9._~+/=-]{12,}/gi, `$1$2${REDACTED}`],
];

/** Only the pattern layer: keys swirl never registered. */
export function scrubKeys(text: string): string {
  let s = text;
  for (const [re, by] of KEY_PATTERNS) s = s.replace(re, by);
  return s;
}

/** Only the registered layer: for data (a tool's observation), where a key-shaped string may be content. */
export function redactRegistered(text: string): string {
  if (typeof text !== 'string' || text.length === 0) return text;
  let s = text;
  for (const [v, name] of ordered) if (s.includes(v)) s = s.split(v).join(`\${env:${name}}`);
  return s;
}

/** Registered secrets → `${env:NAME}`, then the pattern scrubber. */
export function redact(text: string): string {
  if (typeof text !== 'string' || text.length === 0) return text;
  return scrubKeys(redactRegistered(text));
}

/** `redact` over every string of a JSON-like value (failure details, heartbeat details); other values as they are. */
export function redactDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redact(value) as T;
  if (depth > 20 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1)) as T;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = redactDeep(v, depth + 1);
  return out as T;
}

/**
 * The same error with its message, stack and (own, enumerable) string fields
 * redacted, through its `cause` chain. Mutates the error in place so its class,
 * `instanceof` checks and non-string fields (status, headers object aside) stay.
 * Response headers and bodies an SDK hangs on its error are redacted or dropped.
 */
export function redactError<T>(e: T, depth = 0): T {
  if (!(e instanceof Error) || depth > 8) return e;
  const rec = e as unknown as Record<string, unknown>;
  try {
    e.message = redact(e.message);
    if (e.stack) e.stack = redact(e.stack);
    for (const k of Object.keys(rec)) {
      const v = rec[k];
      if (k === 'cause') continue;
      if (typeof v === 'string') rec[k] = redact(v);
      else if (k === 'headers' || k === 'response' || k === 'error' || k === 'body' || k === 'request' || k === 'config') rec[k] = safeDetail(v);
      else if (Array.isArray(v) || (v && Object.getPrototypeOf(v) === Object.prototype)) rec[k] = redactDeep(v);
    }
    if (rec.cause !== undefined) rec.cause = rec.cause instanceof Error ? redactError(rec.cause, depth + 1) : redactDeep(rec.cause);
  } catch {
    /* a frozen error or a read-only field: its message is what reaches users, redacted below by the caller */
  }
  return e;
}

/** A header bag or an SDK's response object as redacted plain data (Headers → object; anything else → its JSON, redacted). */
function safeDetail(v: unknown): unknown {
  if (v === null || v === undefined) return v;
  if (typeof (v as Headers).forEach === 'function' && typeof (v as Headers).get === 'function') {
    const o: Record<string, string> = {};
    (v as Headers).forEach((val, key) => (o[key] = redact(val)));
    return o;
  }
  if (typeof v === 'string') return redact(v);
  try {
    return redactDeep(JSON.parse(JSON.stringify(v)) as unknown);
  } catch {
    return undefined;
  }
}
