// How swirl reaches Temporal. With TEMPORAL_ADDRESS set, swirl connects to that
// cluster (namespace, mTLS or API key from the environment, using the same
// variable names as Temporal's own CLI and SDK env config) and never starts a
// server. Without it, swirl uses the embedded dev server under .swirl/.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from '@temporalio/client';
import { ensureEmbeddedServer, embeddedStatus, type EmbeddedDeps } from './embedded-server.js';
import { swirlPaths, type SwirlPaths } from './paths.js';
import { SwirlError, EXIT } from './errors.js';

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** Options shared by Connection.connect and NativeConnection.connect. */
  connection: { address: string; tls?: ConnectionOptions['tls']; apiKey?: string };
  /** Base URL of the Web UI when known (embedded server). */
  uiUrl: string | undefined;
  external: boolean;
  /** True when this call started the embedded server. */
  startedServer: boolean;
  /** What starting the embedded server chose for the user (a free port instead of a taken default). */
  serverNotes?: string[];
}

function readPem(envName: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new SwirlError('E_TLS_FILE', `${envName} points at ${file}, which cannot be read: ${(err as Error).message}`, {
      hint: `set ${envName} to a readable PEM file`,
      exitCode: EXIT.badInput,
    });
  }
}

/** The external cluster described by the environment, or undefined when TEMPORAL_ADDRESS is unset. */
export function externalTarget(env: NodeJS.ProcessEnv = process.env): TemporalTarget | undefined {
  const address = env.TEMPORAL_ADDRESS?.trim();
  if (!address) return undefined;
  const certPath = env.TEMPORAL_TLS_CLIENT_CERT_PATH;
  const keyPath = env.TEMPORAL_TLS_CLIENT_KEY_PATH;
  if (Boolean(certPath) !== Boolean(keyPath)) {
    throw new SwirlError('E_TLS_CONFIG', 'TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH must be set together', {
      hint: 'set both for mTLS, or neither',
    });
  }
  const caPath = env.TEMPORAL_TLS_SERVER_CA_CERT_PATH;
  const apiKey = env.TEMPORAL_API_KEY || undefined;
  const wantTls = Boolean(certPath || caPath || apiKey) || /^(1|true|yes)$/i.test(env.TEMPORAL_TLS ?? '');
  const tls = wantTls
    ? {
        ...(certPath && keyPath ? { clientCertPair: { crt: readPem('TEMPORAL_TLS_CLIENT_CERT_PATH', certPath), key: readPem('TEMPORAL_TLS_CLIENT_KEY_PATH', keyPath) } } : {}),
        ...(caPath ? { serverRootCACertificate: readPem('TEMPORAL_TLS_SERVER_CA_CERT_PATH', caPath) } : {}),
        ...(env.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME } : {}),
      }
    : undefined;
  return {
    address,
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    connection: { address, ...(tls ? { tls } : {}), ...(apiKey ? { apiKey } : {}) },
    uiUrl: env.TEMPORAL_UI_URL || undefined,
    external: true,
    startedServer: false,
  };
}

export interface ResolveOptions {
  /** Start the embedded server when it is not running (swirl run). */
  autostart: boolean;
  env?: NodeJS.ProcessEnv;
  paths?: SwirlPaths;
  /** Ports and process start for the embedded server (tests inject taken ports and a fake server). */
  embedded?: EmbeddedDeps;
}

export async function resolveTemporal(opts: ResolveOptions): Promise<TemporalTarget> {
  const env = opts.env ?? process.env;
  const ext = externalTarget(env);
  if (ext) return ext;
  const paths = opts.paths ?? swirlPaths(env);
  let state;
  let started = false;
  let notes: string[] = [];
  if (opts.autostart) {
    ({ state, started, notes } = await ensureEmbeddedServer({}, paths, opts.embedded));
  } else {
    const status = await embeddedStatus(paths);
    if (!status.running) {
      throw new SwirlError('E_NO_SERVER', `the embedded Temporal server is not running (${status.reason})`, {
        hint: 'start it with `swirl server start`, or set TEMPORAL_ADDRESS to use another cluster',
        exitCode: EXIT.environment,
      });
    }
    state = status.state;
  }
  return {
    address: state.address,
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    connection: { address: state.address },
    uiUrl: state.uiUrl,
    external: false,
    startedServer: started,
    ...(notes.length ? { serverNotes: notes } : {}),
  };
}

export function workflowUiUrl(target: TemporalTarget, workflowId: string, runId?: string): string | undefined {
  if (!target.uiUrl) return undefined;
  const base = `${target.uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(target.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}
