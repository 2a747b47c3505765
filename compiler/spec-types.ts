// The shape of a schema-valid spec, as the later compiler passes read it.
// (The JSON Schema is the source of truth; these types mirror what it allows.)

export interface RawRetry {
  maxAttempts?: number;
  initialInterval?: string;
  backoff?: number;
  maxInterval?: string;
}

export interface RawStage {
  id: string;
  type: string;
  description?: string;
  input?: string | string[];
  retry?: RawRetry;
  timeout?: string;
  cache?: boolean;
  [option: string]: unknown;
}

export interface RawModel {
  provider: string;
  model?: string;
  /** llama-cpp: a LoRA adapter GGUF, relative to the spec. */
  adapter?: string;
  apiKey?: string;
  [option: string]: unknown;
}

export interface RawTool {
  kind: string;
  corpus?: string;
  [option: string]: unknown;
}

export interface RawSpec {
  apiVersion: 'swirl/v1';
  kind: 'Pipeline';
  metadata: { name: string; description?: string; labels?: Record<string, string> };
  defaults?: { retry?: RawRetry; timeout?: string; concurrency?: number };
  budget?: { maxTokens?: number; maxCostUsd?: number };
  models?: Record<string, RawModel>;
  tools?: Record<string, RawTool>;
  stages: RawStage[];
}
