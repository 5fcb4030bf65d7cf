import 'reflect-metadata';

import { randomUUID } from 'node:crypto';

import {
  DataSource,
  type EntityManager,
  type ObjectLiteral,
  type SelectQueryBuilder,
} from 'typeorm';

import { buildDataSourceOptions } from '../../src/database/data-source-options.js';
import { runMigrations } from '../../src/database/migrate.js';
import { REQUEST_ROLE } from '../../src/database/tenant-database.js';
import type { CountQueryPlan, ListQueryPlan } from '../../src/odata/query/list-query.js';

// Runs query plans on the real device_scores table of the test database, the way the service
// does: in a transaction as the request role, with the tenant set for row-level security.

export const CONFORMANCE_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/eas_test';

/** Lists of options the collection route takes, as the service passes them to the planner. */
export const LIST_ACCEPTED: ReadonlySet<string> = new Set([
  'filter',
  'orderby',
  'select',
  'top',
  'skip',
  'count',
  'search',
  'skiptoken',
  'format',
]);

/** A device_scores row with the columns the query engine can read, keyed by column name. */
export interface ScoreRow {
  id: string;
  device_name: string | null;
  model: string | null;
  manufacturer: string | null;
  endpoint_analytics_score: number;
  startup_performance_score: number;
  app_reliability_score: number;
  work_from_anywhere_score: number;
  battery_health_score: number;
  mean_resource_spike_time_score: number;
  health_status: number;
}

export const SCORE_COLUMNS = [
  'id',
  'device_name',
  'model',
  'manufacturer',
  'endpoint_analytics_score',
  'startup_performance_score',
  'app_reliability_score',
  'work_from_anywhere_score',
  'battery_health_score',
  'mean_resource_spike_time_score',
  'health_status',
] as const satisfies readonly (keyof ScoreRow)[];

/** Returns a fresh random tenant GUID, so suites never share rows. */
export function newTenantId(): string {
  return randomUUID();
}

/** Connects to the test database and applies pending migrations, as the service does at start. */
export async function openPlanDatabase(url = CONFORMANCE_DATABASE_URL): Promise<DataSource> {
  const dataSource = new DataSource(buildDataSourceOptions(url, 3));
  await dataSource.initialize();
  await runMigrations(dataSource);

  return dataSource;
}

/** Inserts rows for one tenant in a single statement, as the table owner. */
export async function insertScoreRows(
  dataSource: DataSource,
  tenantId: string,
  rows: readonly ScoreRow[],
): Promise<void> {
  if (rows.length === 0) {
    return;
  }

  const arrays = SCORE_COLUMNS.map((column) => rows.map((row) => row[column]));
  const types = [
    'uuid',
    'text',
    'text',
    'text',
    'float8',
    'float8',
    'float8',
    'float8',
    'float8',
    'float8',
    'int2',
  ];
  const unnest = types.map((type, index) => `$${index + 2}::${type}[]`).join(', ');
  await dataSource.query(
    `INSERT INTO device_scores (tenant_id, ${SCORE_COLUMNS.join(', ')})
     SELECT $1::uuid, * FROM unnest(${unnest})`,
    [tenantId, ...arrays],
  );
}

export async function deleteTenantRows(dataSource: DataSource, tenantId: string): Promise<void> {
  await dataSource.query('DELETE FROM device_scores WHERE tenant_id = $1', [tenantId]);
}

/** Runs `work` in a transaction as the request role, scoped to the tenant. */
async function asTenant<T>(
  dataSource: DataSource,
  tenantId: string,
  work: (query: () => SelectQueryBuilder<ObjectLiteral>, manager: EntityManager) => Promise<T>,
): Promise<T> {
  return dataSource.transaction(async (manager) => {
    await manager.query(
      `SELECT set_config('role', $1, true), set_config('eas.tenant_id', $2, true)`,
      [REQUEST_ROLE, tenantId],
    );

    return work(
      () =>
        manager
          .createQueryBuilder()
          .from('device_scores', 'ds')
          .where('ds.tenant_id = :tenantId', { tenantId }),
      manager,
    );
  });
}

function applyConditions(
  query: SelectQueryBuilder<ObjectLiteral>,
  plan: CountQueryPlan,
): SelectQueryBuilder<ObjectLiteral> {
  for (const fragment of [plan.filter, plan.search]) {
    if (fragment !== undefined) {
      query.andWhere(fragment.sql, fragment.params);
    }
  }

  return query;
}

/** Builds the page query of a plan as the service does, without running it. */
function pageQuery(
  base: () => SelectQueryBuilder<ObjectLiteral>,
  plan: ListQueryPlan,
): SelectQueryBuilder<ObjectLiteral> {
  const query = applyConditions(base(), plan).select(
    SCORE_COLUMNS.map((column) => `ds.${column} AS "${column}"`),
  );
  if (plan.after !== undefined) {
    query.andWhere(plan.after.sql, plan.after.params);
  }
  for (const order of plan.orderBy) {
    query.addOrderBy(`ds.${order.column}`, order.direction, `NULLS ${order.nulls}`);
  }

  return query.limit(plan.pageSize + 1).offset(plan.skip);
}

/** A node of a JSON query plan, as `EXPLAIN (FORMAT JSON)` returns it. */
export interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Scan Direction'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

/**
 * Returns PostgreSQL's plan for the page query (or, with `count`, the count query) of a plan,
 * as the request role of the tenant. `settings` are planner settings for the transaction,
 * such as `enable_sort: 'off'`.
 */
export async function explainPlan(
  dataSource: DataSource,
  tenantId: string,
  plan: ListQueryPlan,
  options: { count?: boolean; settings?: Record<string, string> } = {},
): Promise<PlanNode> {
  return asTenant(dataSource, tenantId, async (base, manager) => {
    for (const [name, value] of Object.entries(options.settings ?? {})) {
      await manager.query('SELECT set_config($1, $2, true)', [name, value]);
    }
    const query =
      options.count === true
        ? applyConditions(base(), plan).select('count(*)::int', 'count')
        : pageQuery(base, plan);
    const [sql, parameters] = query.getQueryAndParameters();
    const result: { 'QUERY PLAN': { Plan: PlanNode }[] }[] = await manager.query(
      `EXPLAIN (FORMAT JSON) ${sql}`,
      parameters,
    );

    return result[0]['QUERY PLAN'][0].Plan;
  });
}

/**
 * Reads one page of a plan: tenant, filter, search, keyset, ORDER BY, OFFSET and LIMIT
 * pageSize + 1, as the service reads it. Returns the page and the next link's query string.
 */
export async function readPlanPage(
  dataSource: DataSource,
  tenantId: string,
  plan: ListQueryPlan,
): Promise<{ rows: ScoreRow[]; next?: string; count?: number }> {
  return asTenant(dataSource, tenantId, async (base) => {
    let count: number | undefined;
    if (plan.count) {
      const result = await applyConditions(base(), plan)
        .select('count(*)::int', 'count')
        .getRawOne<{ count: number }>();
      count = result?.count;
    }
    if (plan.pageSize === 0) {
      return { rows: [], count };
    }

    const rows = await pageQuery(base, plan).getRawMany<ScoreRow>();
    const page = rows.slice(0, plan.pageSize);
    const next =
      rows.length > plan.pageSize
        ? plan.nextLinkQuery(page[page.length - 1] as unknown as Record<string, unknown>)
        : undefined;

    return { rows: page, next, count };
  });
}

/** Counts the rows a `/$count` plan matches. */
export async function countPlanRows(
  dataSource: DataSource,
  tenantId: string,
  plan: CountQueryPlan,
): Promise<number> {
  return asTenant(dataSource, tenantId, async (base) => {
    const result = await applyConditions(base(), plan)
      .select('count(*)::int', 'count')
      .getRawOne<{ count: number }>();

    return result?.count ?? 0;
  });
}

/**
 * Percent-encodes a decoded option value as UTF-8, the way Kiota sends it. A lone surrogate,
 * which UTF-8 cannot carry, becomes U+FFFD first.
 */
export function encodeOptionValue(value: string): string {
  return encodeURIComponent(value.toWellFormed());
}

/** Builds a raw query string from decoded option values, each percent-encoded. */
export function buildQuery(options: Record<string, string | number | boolean>): string {
  return Object.entries(options)
    .map(([name, value]) => `${name}=${encodeOptionValue(String(value))}`)
    .join('&');
}
