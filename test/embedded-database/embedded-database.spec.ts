import 'reflect-metadata';

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Logger } from '@nestjs/common';
import pg from 'pg';
import { DataSource, type EntityManager } from 'typeorm';

import { buildDataSourceOptions } from '../../src/database/data-source-options.js';
import {
  DataDirInUseError,
  EMBEDDED_DATABASE_LOCK_FILE,
  type EmbeddedDatabase,
  startEmbeddedDatabase,
} from '../../src/database/embedded-database.js';
import { runMigrations } from '../../src/database/migrate.js';
import { REQUEST_ROLE, TenantDatabase } from '../../src/database/tenant-database.js';

const T1 = '11111111-1111-1111-1111-111111111111';
const T2 = '22222222-2222-2222-2222-222222222222';
const T1_DEVICE = 'aaaaaaaa-0000-0000-0000-000000000001';
const T2_DEVICE = 'bbbbbbbb-0000-0000-0000-000000000002';

/**
 * runMigrations holds one pooled connection for its advisory lock while TypeORM applies the
 * migrations on a second, so a pool of 1 waits for itself until the connection timeout.
 */
const POOL_SIZE = 2;

/** Creating a new PGlite cluster runs initdb, which takes several seconds on a small machine. */
const SLOW_TEST_MS = 120_000;

const EXPECTED_MIGRATIONS = [
  'CreateDeviceScores1764806400000',
  'IsolateTenantsWithRowSecurity1764806400001',
  'IndexBatteryHealthScoreOrder1796411045028',
  'SortDeviceNameIndexNullsFirst1796411045029',
  'SummarizeModelScores1796500000000',
];

let dataDir: string;
let database: EmbeddedDatabase | undefined;
let dataSource: DataSource | undefined;

beforeAll(() => {
  Logger.overrideLogger(['error', 'warn']);
});

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'eas-embedded-'));
});

afterEach(async () => {
  if (dataSource?.isInitialized) {
    await dataSource.destroy();
  }
  dataSource = undefined;
  await database?.close();
  database = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

async function connect(url: string, poolSize = POOL_SIZE): Promise<DataSource> {
  dataSource = new DataSource(buildDataSourceOptions(url, poolSize));
  await dataSource.initialize();
  return dataSource;
}

async function insertDevice(manager: EntityManager, tenantId: string, id: string): Promise<void> {
  await manager.query(
    'INSERT INTO device_scores (tenant_id, id, device_name) VALUES ($1, $2, $3)',
    [tenantId, id, `device ${id}`],
  );
}

async function tenantIdsVisibleTo(tenants: TenantDatabase, tenantId: string): Promise<string[]> {
  const rows: Array<{ tenant_id: string }> = await tenants.run(tenantId, (manager) =>
    manager.query('SELECT tenant_id FROM device_scores ORDER BY tenant_id'),
  );
  return rows.map((row) => row.tenant_id);
}

describe('startEmbeddedDatabase', () => {
  it(
    'runs migrations and enforces row-level security',
    async () => {
      database = await startEmbeddedDatabase(dataDir);
      const source = await connect(database.url);

      expect(await runMigrations(source)).toEqual(EXPECTED_MIGRATIONS);

      const tenants = new TenantDatabase(source);
      await tenants.run(T1, (manager) => insertDevice(manager, T1, T1_DEVICE));
      await tenants.run(T2, (manager) => insertDevice(manager, T2, T2_DEVICE));

      const [scope] = await tenants.run(T1, (manager) =>
        manager.query(`SELECT current_user AS "user", current_setting('eas.tenant_id') AS tenant`),
      );
      expect(scope).toEqual({ user: REQUEST_ROLE, tenant: T1 });

      expect(await tenantIdsVisibleTo(tenants, T1)).toEqual([T1]);
      expect(await tenantIdsVisibleTo(tenants, T2)).toEqual([T2]);

      const foreignRead = await tenants.run(T1, (manager) =>
        manager.query('SELECT id FROM device_scores WHERE tenant_id = $1', [T2]),
      );
      expect(foreignRead).toEqual([]);

      const [, updated] = await tenants.run(T1, (manager) =>
        manager.query(`UPDATE device_scores SET model = 'changed' WHERE tenant_id = $1`, [T2]),
      );
      expect(updated).toBe(0);

      const foreignInsert = tenants.run(T1, (manager) =>
        insertDevice(manager, T2, 'bbbbbbbb-0000-0000-0000-000000000003'),
      );
      await expect(foreignInsert).rejects.toThrow(/row-level security/);

      // The owner is not subject to the policy, so this shows the rows exist and were hidden.
      const owned: Array<{ tenant_id: string }> = await source.query(
        'SELECT tenant_id FROM device_scores ORDER BY tenant_id',
      );
      expect(owned.map((row) => row.tenant_id)).toEqual([T1, T2]);
    },
    SLOW_TEST_MS,
  );

  it(
    'hides every row when the tenant is not set',
    async () => {
      database = await startEmbeddedDatabase(dataDir);
      const source = await connect(database.url);
      await runMigrations(source);
      await new TenantDatabase(source).run(T1, (manager) => insertDevice(manager, T1, T1_DEVICE));

      const rows = await source.transaction(async (manager): Promise<unknown[]> => {
        await manager.query(`SELECT set_config('role', $1, true)`, [REQUEST_ROLE]);
        return manager.query('SELECT id FROM device_scores');
      });
      expect(rows).toEqual([]);
    },
    SLOW_TEST_MS,
  );

  it(
    'keeps data after close and reopen',
    async () => {
      database = await startEmbeddedDatabase(dataDir);
      let source = await connect(database.url);
      await runMigrations(source);
      await new TenantDatabase(source).run(T1, (manager) => insertDevice(manager, T1, T1_DEVICE));
      await source.destroy();
      await database.close();

      expect(existsSync(join(dataDir, EMBEDDED_DATABASE_LOCK_FILE))).toBe(false);

      database = await startEmbeddedDatabase(dataDir);
      source = await connect(database.url);

      expect(await runMigrations(source)).toEqual([]);
      expect(await tenantIdsVisibleTo(new TenantDatabase(source), T1)).toEqual([T1]);
    },
    SLOW_TEST_MS,
  );

  it(
    'rejects a second open of the same data dir',
    async () => {
      database = await startEmbeddedDatabase(dataDir);

      const second = startEmbeddedDatabase(dataDir);
      await expect(second).rejects.toThrow(DataDirInUseError);
      await expect(second).rejects.toThrow(`already in use by process ${process.pid}`);

      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      const result = await client.query<{ one: number }>('SELECT 1 AS one');
      await client.end();
      expect(result.rows).toEqual([{ one: 1 }]);

      await database.close();
      database = await startEmbeddedDatabase(dataDir);
      expect(database.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    },
    SLOW_TEST_MS,
  );

  it(
    'keeps concurrent tenant transactions apart',
    async () => {
      database = await startEmbeddedDatabase(dataDir);
      const source = await connect(database.url, 4);
      await runMigrations(source);
      const tenants = new TenantDatabase(source);

      // Each transaction pauses after its insert, so the other one is queued meanwhile.
      const insertAndRead = (tenantId: string, deviceId: string): Promise<string[]> =>
        tenants.run(tenantId, async (manager) => {
          await insertDevice(manager, tenantId, deviceId);
          await new Promise((resolve) => setTimeout(resolve, 50));
          const rows: Array<{ tenant_id: string }> = await manager.query(
            'SELECT tenant_id FROM device_scores',
          );
          return rows.map((row) => row.tenant_id);
        });

      const [seenByT1, seenByT2] = await Promise.all([
        insertAndRead(T1, T1_DEVICE),
        insertAndRead(T2, T2_DEVICE),
      ]);
      expect(seenByT1).toEqual([T1]);
      expect(seenByT2).toEqual([T2]);
    },
    SLOW_TEST_MS,
  );

  it(
    'rolls back open transaction on close',
    async () => {
      database = await startEmbeddedDatabase(dataDir);
      let source = await connect(database.url);
      await runMigrations(source);
      await source.destroy();

      const client = new pg.Client({ connectionString: database.url });
      client.on('error', () => undefined);
      await client.connect();
      await client.query('BEGIN');
      await client.query('INSERT INTO device_scores (tenant_id, id) VALUES ($1, $2)', [
        T1,
        T1_DEVICE,
      ]);
      await database.close();

      database = await startEmbeddedDatabase(dataDir);
      source = await connect(database.url);
      const rows = await source.query('SELECT id FROM device_scores');
      expect(rows).toEqual([]);
    },
    SLOW_TEST_MS,
  );

  it(
    'closes connections beyond maxConnections',
    async () => {
      database = await startEmbeddedDatabase(dataDir, { maxConnections: 1 });
      expect(database.maxConnections).toBe(1);

      const first = new pg.Client({ connectionString: database.url });
      await first.connect();
      const second = new pg.Client({ connectionString: database.url });
      second.on('error', () => undefined);

      await expect(second.connect()).rejects.toThrow(/terminated/);
      const result = await first.query<{ one: number }>('SELECT 1 AS one');
      expect(result.rows).toEqual([{ one: 1 }]);
      await first.end();
    },
    SLOW_TEST_MS,
  );

  it('rejects an invalid maxConnections', async () => {
    await expect(startEmbeddedDatabase(dataDir, { maxConnections: 0 })).rejects.toThrow(
      'Invalid maxConnections 0',
    );
    expect(existsSync(join(dataDir, EMBEDDED_DATABASE_LOCK_FILE))).toBe(false);
  });
});
