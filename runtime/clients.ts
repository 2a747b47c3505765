// Opening Temporal connections for a resolved target, with a clear error when
// the server cannot be reached. Also installs a quiet SDK runtime logger once,
// so CLI output is swirl's own, not the SDK's INFO chatter.
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { SwirlError, EXIT } from './errors.js';
import { redact } from './redact.js';
import type { TemporalTarget } from './connection.js';

let runtimeInstalled = false;
/** SDK log lines that describe swirl's normal set-up, not a problem. */
const EXPECTED_NOISE = new Set(['No workflows registered, not polling for workflow tasks']);

export function installQuietRuntime(level: 'WARN' | 'INFO' | 'DEBUG' = (process.env.SWIRL_LOG_LEVEL as 'WARN' | undefined) ?? 'WARN'): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    // Everything the SDK and its native core log goes to stderr, so stdout stays
    // clean for --json output; core logs are forwarded through the same logger.
    const logger = new DefaultLogger(level, (entry) => {
      // swirl's llm/train/orchestration queues have activities only, by design: the SDK's warning about it is noise.
      if (EXPECTED_NOISE.has(entry.message)) return;
      const meta = entry.meta && Object.keys(entry.meta).length ? ` ${JSON.stringify(entry.meta, (_k, v: unknown) => (v instanceof Error ? v.message : v))}` : '';
      // Redacted: the SDK logs activity failures, and a failure may quote an upstream error that echoed a key.
      process.stderr.write(redact(`${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} [${entry.level}] ${entry.message}${meta}`) + '\n');
    });
    Runtime.install({ logger, telemetryOptions: { logging: { forward: {}, filter: { core: level, other: level } } } });
  } catch {
    /* already installed by the host process (tests) */
  }
}

function unreachable(target: TemporalTarget, cause: unknown): SwirlError {
  return new SwirlError('E_TEMPORAL_UNREACHABLE', `cannot reach Temporal at ${target.address}: ${(cause as Error).message}`, {
    hint: target.external ? 'check TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the TLS / API key variables' : 'start the embedded server with `swirl server start`',
    exitCode: EXIT.environment,
    cause,
  });
}

export async function openClient(target: TemporalTarget): Promise<{ client: Client; connection: Connection }> {
  try {
    const connection = await Connection.connect({ ...target.connection, connectTimeout: 5_000 });
    return { client: new Client({ connection, namespace: target.namespace }), connection };
  } catch (e) {
    throw unreachable(target, e);
  }
}

export async function openNativeConnection(target: TemporalTarget): Promise<NativeConnection> {
  installQuietRuntime();
  try {
    return await NativeConnection.connect(target.connection);
  } catch (e) {
    throw unreachable(target, e);
  }
}
