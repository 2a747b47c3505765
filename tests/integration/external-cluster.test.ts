// With TEMPORAL_ADDRESS set, `swirl run` uses that server and starts no other.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { swirl, tempStateDir, temporalServers } from './helpers.js';

describe('TEMPORAL_ADDRESS', () => {
  it('runs on the given server and starts none of its own', async () => {
    const address = inject('temporalAddress');
    const state = tempStateDir();
    const before = temporalServers();
    const r = await swirl(['run', 'tests/fixtures/specs/valid/dataset-only.yaml'], { TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: state });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`using Temporal at ${address} (TEMPORAL_ADDRESS)`);
    expect(r.stdout).not.toMatch(/started the embedded Temporal server/);
    const id = /workflow id: (\S+)/.exec(r.stdout)?.[1];
    expect(id).toBeTruthy();
    expect(r.stdout).toMatch(/questions \(dataset\) {2}16 questions/);

    expect(existsSync(path.join(state, 'server.json'))).toBe(false);
    expect(temporalServers().filter((l) => l.includes(state))).toEqual([]);
    expect(temporalServers().length).toBe(before.length);

    const connection = await Connection.connect({ address });
    try {
      const desc = await new Client({ connection }).workflow.getHandle(id!).describe();
      expect(desc.status.name).toBe('COMPLETED');
      expect(desc.typedSearchAttributes).toBeDefined();
    } finally {
      await connection.close();
    }
  });

  it('fails with exit 3 and a hint when the address does not answer', async () => {
    const r = await swirl(['status', 'x'], { TEMPORAL_ADDRESS: '127.0.0.1:1', SWIRL_STATE_DIR: tempStateDir() });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/E_TEMPORAL_UNREACHABLE/);
    expect(r.stderr).toMatch(/hint: check TEMPORAL_ADDRESS/);
  });
});
