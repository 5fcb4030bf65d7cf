import { setTimeout as sleep } from 'node:timers/promises';

import pg from 'pg';

import { queryDatabase, TEST_DATABASE_URL } from './test-app.js';

/** Upper bound for the waits of a blocker. */
export const WAIT_LIMIT_MS = 20_000;

/**
 * A transaction on the test database that holds row locks and uncommitted inserts of one tenant,
 * so that the service's writes to those rows wait until it ends.
 */
export class WriteBlocker {
  private constructor(
    private readonly client: pg.Client,
    readonly pid: number,
  ) {}

  /** Locks the existing rows `lockedIds` and inserts, without committing, rows `heldIds`. */
  static async hold(tenantId: string, lockedIds: string[], heldIds: string[]) {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query('BEGIN');
    await client.query(
      'SELECT id FROM device_scores WHERE tenant_id = $1 AND id = ANY($2::uuid[]) FOR UPDATE',
      [tenantId, lockedIds],
    );
    await client.query('INSERT INTO device_scores (tenant_id, id) SELECT $1, unnest($2::uuid[])', [
      tenantId,
      heldIds,
    ]);
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');

    return new WriteBlocker(client, rows[0].pid);
  }

  /** Waits until `count` other sessions wait for this transaction. */
  async waitForBlocked(count: number): Promise<void> {
    const deadline = Date.now() + WAIT_LIMIT_MS;
    while (Date.now() < deadline) {
      const [{ blocked }] = await queryDatabase<{ blocked: number }>(
        'SELECT count(*)::int AS blocked FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
        [this.pid],
      );
      if (blocked >= count) {
        return;
      }
      await sleep(50);
    }
    throw new Error(`Fewer than ${count} sessions waited for the blocking transaction`);
  }

  /** Rolls back, so the inserted rows disappear and the waiting writes go ahead. */
  async release(): Promise<void> {
    await this.client.query('ROLLBACK');
    await this.client.end();
  }
}
