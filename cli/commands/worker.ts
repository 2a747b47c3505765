import { QUEUE_ROLES, type QueueRole } from '../../activities/queues.js';
import { resolveTemporal } from '../../runtime/connection.js';
import { openNativeConnection } from '../../runtime/clients.js';
import { SwirlError, EXIT } from '../../runtime/errors.js';
import { createWorkers, defaultDeps, taskQueues } from '../../worker.js';
import { defaultEpisodeThreads } from '../../activities/episode-threads.js';
import { closeTrainers } from '../../activities/trainer-pool.js';
import { out } from '../output.js';

export function parseRoles(value: string): QueueRole[] {
  const roles = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const r of roles) {
    if (!QUEUE_ROLES.includes(r as QueueRole)) {
      throw new SwirlError('E_USAGE', `unknown queue \`${r}\``, { hint: `queues: ${QUEUE_ROLES.join(', ')} (comma-separated)` });
    }
  }
  if (roles.length === 0) throw new SwirlError('E_USAGE', 'no queue given', { hint: `queues: ${QUEUE_ROLES.join(', ')}` });
  return roles as QueueRole[];
}

/** `--episode-threads N`: a whole number ≥ 0. */
export function parseEpisodeThreads(value: string | undefined): number {
  if (value === undefined) {
    try {
      return defaultEpisodeThreads();
    } catch (e) {
      throw new SwirlError('E_USAGE', (e as Error).message, { hint: 'SWIRL_EPISODE_THREADS=0 runs every episode on the main thread' });
    }
  }
  if (!/^\d+$/.test(value.trim())) throw new SwirlError('E_USAGE', `--episode-threads must be a whole number ≥ 0, got \`${value}\``, { hint: '0 runs every episode on the main thread' });
  return Number(value);
}

export async function workerAction(opts: { queue: string; episodeThreads?: string }, setCode: (c: number) => void): Promise<void> {
  const roles = parseRoles(opts.queue);
  const episodeThreads = parseEpisodeThreads(opts.episodeThreads);
  const target = await resolveTemporal({ autostart: false });
  const connection = await openNativeConnection(target);
  const queues = taskQueues();
  const workers = await createWorkers({ connection, namespace: target.namespace, roles, queues, deps: { ...defaultDeps(), episodeThreads } });
  if (workers.length === 0) throw new SwirlError('E_NOTHING_TO_RUN', `no workflows or activities are registered for ${roles.join(', ')} yet`, { hint: 'run an orchestration worker: `swirl worker --queue orchestration`' });
  out(`worker connected to ${target.address} (namespace ${target.namespace})`);
  for (const w of workers) out(`  polling ${w.options.taskQueue}`);
  if (roles.includes('llm')) out(`  episode threads: ${episodeThreads ? `${episodeThreads} (rollouts against remote models)` : 'none (episodes run on the main thread)'}`);
  out('stop with Ctrl-C (SIGINT) or SIGTERM; running activities get 10s to finish');
  // The SDK runtime shuts every worker down on SIGINT/SIGTERM; run() resolves after that.
  await Promise.all(workers.map((w) => w.run()));
  closeTrainers();
  await connection.close();
  out('worker stopped');
  setCode(EXIT.ok);
}
