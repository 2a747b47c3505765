// A sampler that serves the policy being trained: an OpenAI-compatible
// inference server (vLLM) that loads PEFT LoRA adapters at run time
// (`provider: openai-compatible` with `lora: runtime`, issue 20).
//
// vLLM's routes (enabled by VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and
// --enable-lora; without them the routes do not exist and answer 404):
//   POST /v1/load_lora_adapter   {"lora_name", "lora_path"}  200: a text line
//        400 InvalidUserInput "... has already been loaded."; 404 NotFoundError
//        "No adapter found for PATH"; 400 BadRequestError for an adapter the
//        engine refuses (rank above --max-lora-rank, unreadable weights)
//   POST /v1/unload_lora_adapter {"lora_name"}  404 NotFoundError when unknown
//   POST /v1/completions with prompt_logprobs and return_tokens_as_token_ids
// Error bodies come as {"error": {message, type, code}} (vLLM ≥ 0.10), as
// {"object": "error", message, type, code} (older), or FastAPI's
// {"detail": "Not Found"} for a route that does not exist.
//
// The probe (judgeProbe) is how a train loop proves the sampler serves the
// adapter just trained: the server's prompt log-probs of a fixed token
// sequence must match the trainer's for the new adapter, and be closer to
// them than to the previous adapter's (a reload that kept old weights fails).
//
// Plain fetch, no SDK. Secrets: the API key goes only into the Authorization
// header; every server text that reaches an error passes through `redact`.
import { ApplicationFailure } from '@temporalio/common';
import { redact } from '../../runtime/redact.js';

export interface RuntimeLoraOptions {
  /** The server root, e.g. http://gpu-host:8000 (a trailing /v1 is accepted). */
  baseUrl: string;
  apiKey?: string;
  /** Per request (default 120 s): a load reads the adapter from disk, a completion may be long. */
  timeoutMs?: number;
}

export interface ServedModel {
  id: string;
  /** Where the server loaded it from (vLLM: the adapter path, or the base model's path). */
  root?: string;
  /** The base model an adapter sits on; null/absent for the base itself. */
  parent?: string | null;
}

export interface CompleteRequest {
  model: string;
  /** Text, or token ids sent as they are (no re-tokenization). */
  prompt: string | number[];
  maxTokens: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  stop?: string[];
  /** Ask for the sampled tokens' ids and log-probs (default true; without it `tokens` and `logprobs` are empty). */
  logprobs?: boolean;
}

export interface Completion {
  text: string;
  /** Sampled token ids (vLLM includes the token that completed a stop string, and EOS). */
  tokens: number[];
  /** log p of each sampled token under the served model's raw distribution (vLLM's default logprobs mode). */
  logprobs: number[];
  finishReason: string;
}

const DEFAULT_TIMEOUT_MS = 120_000;

const ENABLE_HINT =
  'start vLLM with --enable-lora and the environment variable VLLM_ALLOW_RUNTIME_LORA_UPDATING=True (SGLang: --enable-lora with --lora-paths or --max-loras-per-batch, which enables its /load_lora_adapter route)';

interface HttpAnswer {
  status: number;
  text: string;
  /** The server's own message (vLLM error bodies, FastAPI's detail), else the raw text; redacted, short. */
  message: string;
  /** vLLM's error type when the body is one of its errors (NotFoundError, InvalidUserInput, ...). */
  errType?: string;
}

/** A URL fit for messages: no user:password, no query (tokens ride there). */
function displayUrl(u: string): string {
  try {
    const url = new URL(u);
    return `${url.protocol}//${url.host}${url.pathname.replace(/\/$/, '')}`;
  } catch {
    return redact(u);
  }
}

function parseError(text: string): { message?: string; errType?: string } {
  try {
    const b = JSON.parse(text) as Record<string, unknown>;
    const inner = b.error && typeof b.error === 'object' ? (b.error as Record<string, unknown>) : b;
    const message = typeof inner.message === 'string' ? inner.message : typeof b.detail === 'string' ? b.detail : typeof b.error === 'string' ? b.error : undefined;
    const errType = typeof inner.type === 'string' ? inner.type : undefined;
    return { message, errType };
  } catch {
    return {};
  }
}

export class RuntimeLoraServer {
  readonly baseUrl: string;
  readonly #apiKey: string | undefined;
  readonly #timeoutMs: number;

  constructor(opts: RuntimeLoraOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '');
    let url: URL;
    try {
      url = new URL(this.baseUrl);
    } catch {
      throw failure(`the sampler's baseUrl is not a URL: ${redact(this.baseUrl)}`, 'ConfigError', 'write it as http(s)://host:port');
    }
    // fetch refuses such URLs, and a password in a URL ends up in messages: the key goes in apiKey.
    if (url.username || url.password) throw failure(`the sampler's baseUrl carries credentials (${displayUrl(this.baseUrl)})`, 'ConfigError', 'put the key in apiKey (sent as a Bearer token), not in the URL');
    this.#apiKey = opts.apiKey;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /**
   * Loads the PEFT adapter folder `path` (as the server sees it) under `name`.
   * Idempotent: a name the server already holds from the same path counts as
   * loaded (a retried activity after a load that did land).
   */
  async loadAdapter(name: string, path: string): Promise<void> {
    const a = await this.#call('POST', '/v1/load_lora_adapter', { lora_name: name, lora_path: path });
    if (a.status >= 200 && a.status < 300) return;
    if (a.status === 404 && !a.errType) {
      // The route itself is missing: FastAPI's {"detail": "Not Found"}, not a vLLM error about the adapter.
      throw failure(`the sampler at ${displayUrl(this.baseUrl)} has no runtime LoRA loading (POST /v1/load_lora_adapter answered 404: ${a.message})`, 'ConfigError', ENABLE_HINT);
    }
    if (a.status === 400 && /already been loaded/i.test(a.message)) {
      const held = (await this.listModels()).find((m) => m.id === name);
      if (held && (held.root === undefined || samePath(held.root, path))) return;
      if (held) {
        throw failure(`the sampler already serves adapter ${name} from ${held.root}, not ${path}`, 'ConfigError', 'adapter names are versioned per run, stage and step: another run shares this server under the same names, or the server outlived a run that was restarted; unload the name or restart the server');
      }
      // Gone between the two calls (unloaded by someone else): one more try, then the answer stands.
      const again = await this.#call('POST', '/v1/load_lora_adapter', { lora_name: name, lora_path: path });
      if (again.status >= 200 && again.status < 300) return;
      throw this.#failure(again, `load adapter ${name}`);
    }
    if (a.status === 400 || a.status === 404) {
      throw failure(
        `the server refused adapter ${name} (${path}): ${a.message}`,
        'ConfigError',
        `the path must be a PEFT adapter folder readable by the server at that path (the shared folder, \`loraDir\`), and its rank must not exceed the server's --max-lora-rank`,
      );
    }
    throw this.#failure(a, `load adapter ${name}`);
  }

  /** Unloads `name`; a name the server does not hold is already gone (no error). */
  async unloadAdapter(name: string): Promise<void> {
    const a = await this.#call('POST', '/v1/unload_lora_adapter', { lora_name: name });
    if ((a.status >= 200 && a.status < 300) || ((a.status === 404 || a.status === 400) && a.errType)) return;
    if (a.status === 404) throw failure(`the sampler at ${displayUrl(this.baseUrl)} has no runtime LoRA unloading (POST /v1/unload_lora_adapter answered 404: ${a.message})`, 'ConfigError', ENABLE_HINT);
    throw this.#failure(a, `unload adapter ${name}`);
  }

  /** The base model(s) and the adapters the server holds (GET /v1/models). */
  async listModels(): Promise<ServedModel[]> {
    const a = await this.#call('GET', '/v1/models');
    if (a.status !== 200) throw this.#failure(a, 'list models');
    const data = (this.#json(a, 'list models') as { data?: unknown }).data;
    if (!Array.isArray(data)) throw protocolError('GET /v1/models has no data list');
    return data.map((m: { id?: unknown; root?: unknown; parent?: unknown }) => ({
      id: String(m.id),
      ...(typeof m.root === 'string' ? { root: m.root } : {}),
      ...(typeof m.parent === 'string' || m.parent === null ? { parent: m.parent as string | null } : {}),
    }));
  }

  /** One completion; token ids come from return_tokens_as_token_ids ("token_id:<id>"). */
  async complete(req: CompleteRequest): Promise<Completion> {
    const wantLogprobs = req.logprobs ?? true;
    const body: Record<string, unknown> = { model: req.model, prompt: req.prompt, max_tokens: req.maxTokens };
    if (req.temperature !== undefined) body.temperature = req.temperature;
    if (req.topP !== undefined) body.top_p = req.topP;
    if (req.seed !== undefined) body.seed = req.seed;
    if (req.stop?.length) body.stop = req.stop;
    if (wantLogprobs) Object.assign(body, { logprobs: 0, return_tokens_as_token_ids: true });
    const choice = await this.#completion(body, `complete with ${req.model}`);
    const text = typeof choice.text === 'string' ? choice.text : '';
    const finishReason = typeof choice.finish_reason === 'string' ? choice.finish_reason : 'unknown';
    if (!wantLogprobs) return { text, tokens: [], logprobs: [], finishReason };
    const lp = choice.logprobs as { tokens?: unknown; token_logprobs?: unknown } | null | undefined;
    if (!lp || !Array.isArray(lp.tokens) || !Array.isArray(lp.token_logprobs) || lp.tokens.length !== lp.token_logprobs.length) {
      throw protocolError('the completion has no logprobs.tokens / token_logprobs (logprobs: 0 was asked)');
    }
    return { text, tokens: lp.tokens.map(tokenId), logprobs: lp.token_logprobs.map((x) => Number(x)), finishReason };
  }

  /** log p(ids[i] | ids[:i]) for i = 1..n-1 under `model`, from the server's prompt_logprobs. */
  async promptLogprobs(model: string, ids: number[]): Promise<number[]> {
    if (ids.length < 2) throw new TypeError('promptLogprobs needs at least two token ids');
    const choice = await this.#completion(
      // vLLM needs max_tokens >= 1; the one sampled token is ignored.
      { model, prompt: ids, max_tokens: 1, temperature: 0, prompt_logprobs: 0, return_tokens_as_token_ids: true },
      `score the probe with ${model}`,
    );
    const plp = choice.prompt_logprobs;
    if (!Array.isArray(plp) || plp.length !== ids.length) {
      throw protocolError(`prompt_logprobs has ${Array.isArray(plp) ? plp.length : 'no'} entries for ${ids.length} prompt tokens`);
    }
    return ids.slice(1).map((id, k) => {
      const entry = (plp[k + 1] as Record<string, { logprob?: unknown }> | null)?.[String(id)];
      if (!entry || typeof entry.logprob !== 'number') throw protocolError(`prompt_logprobs[${k + 1}] lacks token ${id}`);
      return entry.logprob;
    });
  }

  async #completion(body: Record<string, unknown>, what: string): Promise<Record<string, unknown>> {
    const a = await this.#call('POST', '/v1/completions', body);
    if (a.status !== 200) {
      if (a.status === 404) {
        throw failure(`the sampler at ${displayUrl(this.baseUrl)} does not serve model ${String(body.model)}: ${a.message}`, 'ConfigError', 'the model must be the served base name (--served-model-name) or an adapter loaded on this server');
      }
      throw this.#failure(a, what);
    }
    const choice = (this.#json(a, what) as { choices?: Array<Record<string, unknown>> }).choices?.[0];
    if (!choice) throw protocolError(`${what}: the answer has no choices`);
    return choice;
  }

  #json(a: HttpAnswer, what: string): unknown {
    try {
      return JSON.parse(a.text);
    } catch {
      throw protocolError(`${what}: the answer is not JSON: ${a.message}`);
    }
  }

  async #call(method: 'GET' | 'POST', route: string, body?: unknown): Promise<HttpAnswer> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.baseUrl + route, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(this.#timeoutMs) });
      text = await res.text();
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why = err.name === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : `${err.cause?.code ?? err.name}: ${err.cause?.message ?? err.message}`;
      throw ApplicationFailure.retryable(this.#scrub(`the sampler at ${displayUrl(this.baseUrl)} is unreachable (${method} ${route}): ${why}`), 'SamplerUnavailable');
    }
    const parsed = parseError(text);
    return { status: res.status, text, message: this.#scrub((parsed.message ?? text).slice(0, 300)), ...(parsed.errType ? { errType: parsed.errType } : {}) };
  }

  /** redact, and the key itself even when nobody registered it (a gateway may echo it). */
  #scrub(s: string): string {
    const r = redact(s);
    return this.#apiKey && this.#apiKey.length >= 4 ? r.split(this.#apiKey).join('[redacted]') : r;
  }

  #failure(a: HttpAnswer, what: string): ApplicationFailure {
    const msg = `the sampler at ${displayUrl(this.baseUrl)} failed to ${what}: HTTP ${a.status}: ${a.message}`;
    if (a.status >= 500 || a.status === 429 || a.status === 408) return ApplicationFailure.retryable(msg, 'SamplerUnavailable');
    if (a.status === 401 || a.status === 403) return failure(msg, 'ModelAuthFailed', 'check the API key variable of the sampler model in the worker\'s environment (vLLM: --api-key)');
    return failure(msg, 'SamplerRejected', 'the server refused the request as sent; its message says why');
  }
}

/** A non-retryable failure with its hint in the message too (`swirl status` shows the message). */
function failure(message: string, type: string, hint: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`${message} (hint: ${hint})`, type, hint);
}

function protocolError(what: string): ApplicationFailure {
  return failure(`the sampler's answer is not what vLLM sends: ${what}`, 'SamplerProtocolError', 'the server must implement vLLM\'s /v1/completions extras (logprobs, prompt_logprobs, return_tokens_as_token_ids)');
}

function tokenId(t: unknown): number {
  const m = typeof t === 'string' ? /^token_id:(\d+)$/.exec(t) : null;
  if (!m) throw protocolError(`token ${JSON.stringify(t)} is not "token_id:<id>" (return_tokens_as_token_ids was asked)`);
  return Number(m[1]);
}

function samePath(a: string, b: string): boolean {
  const norm = (p: string) => p.replace(/\/+$/, '').replace(/\/+/g, '/');
  return norm(a) === norm(b);
}

// ---- the probe ---------------------------------------------------------------------------------

export interface ProbeInput {
  /** The sampler's log-probs of the probe under the newly loaded adapter. */
  sampler: number[];
  /** The trainer's log-probs of the probe under the previous policy (previous adapter, or the base); absent: nothing to tell apart. */
  before?: number[];
  /** The trainer's log-probs under the adapter just trained. */
  after: number[];
  /** Largest mean absolute difference still counted as equal. */
  tolerance: number;
}

export interface ProbeJudgement {
  ok: boolean;
  /** mean |sampler − after| */
  meanAbsNew: number;
  /** mean |sampler − before| (NaN without `before`) */
  meanAbsOld: number;
  /** mean |after − before| > tolerance: the step moved the probe enough to tell the two policies apart. */
  distinguishable: boolean;
  reason?: string;
}

function meanAbs(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

/**
 * Whether the sampler serves the adapter just trained: its probe log-probs
 * must be within `tolerance` of the trainer's for the new adapter and, when
 * the step moved them past the tolerance, closer to the new than to the old.
 */
export function judgeProbe({ sampler, before, after, tolerance }: ProbeInput): ProbeJudgement {
  const lengths = [sampler.length, after.length, ...(before ? [before.length] : [])];
  if (after.length === 0 || lengths.some((n) => n !== after.length)) {
    return { ok: false, meanAbsNew: NaN, meanAbsOld: NaN, distinguishable: false, reason: `probe lengths differ or are empty (sampler ${sampler.length}, after ${after.length}${before ? `, before ${before.length}` : ''})` };
  }
  const all = [...sampler, ...after, ...(before ?? [])];
  if (all.some((x) => !Number.isFinite(x))) return { ok: false, meanAbsNew: NaN, meanAbsOld: NaN, distinguishable: false, reason: 'a probe log-prob is not a finite number' };
  const meanAbsNew = meanAbs(sampler, after);
  const meanAbsOld = before ? meanAbs(sampler, before) : NaN;
  const distinguishable = before ? meanAbs(after, before) > tolerance : false;
  if (meanAbsNew > tolerance) {
    return { ok: false, meanAbsNew, meanAbsOld, distinguishable, reason: `the sampler's log-probs differ from the new adapter's by ${fmt(meanAbsNew)} > ${fmt(tolerance)}` };
  }
  if (distinguishable && !(meanAbsNew < meanAbsOld)) {
    return { ok: false, meanAbsNew, meanAbsOld, distinguishable, reason: `the sampler is no closer to the new adapter (${fmt(meanAbsNew)}) than to the previous one (${fmt(meanAbsOld)})` };
  }
  return { ok: true, meanAbsNew, meanAbsOld, distinguishable };
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toExponential(2) : String(x);
}

/** The E_STALE_POLICY text: which adapter version, both distances, the tolerance. */
export function staleMessage(adapter: string, j: ProbeJudgement, tolerance: number): string {
  const old = Number.isNaN(j.meanAbsOld) ? 'n/a (no previous policy)' : fmt(j.meanAbsOld);
  return (
    `E_STALE_POLICY: the sampler does not serve adapter ${adapter} as trained: mean |sampler − trainer(new)| = ${fmt(j.meanAbsNew)}, ` +
    `mean |sampler − trainer(previous)| = ${old}, tolerance ${fmt(tolerance)}` +
    (j.reason ? ` (${j.reason})` : '') +
    '; the server may have kept old weights under the new name (a reload that did not replace the adapter), or serves another base model'
  );
}
