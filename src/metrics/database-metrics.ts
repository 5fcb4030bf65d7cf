import type { Pool, PoolClient } from 'pg';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DataSource } from 'typeorm';

type Query = PoolClient['query'];

/**
 * Registers the database metrics of one application: gauges that read the pg pool behind
 * TypeORM's PostgreSQL driver when Prometheus scrapes, and query durations measured on the pool's
 * connections. Call it once the DataSource is initialized, because the pool exists from then on.
 */
export function registerDatabaseMetrics(registry: Registry, dataSource: DataSource): void {
  const pool = (): Pool | undefined => (dataSource.driver as unknown as { master?: Pool }).master;

  new Gauge({
    name: 'db_pool_connections',
    help: 'Open connections in the database pool, by state: idle, or in_use by a query.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const current = pool();
      const total = current?.totalCount ?? 0;
      const idle = current?.idleCount ?? 0;
      this.set({ state: 'idle' }, idle);
      this.set({ state: 'in_use' }, total - idle);
    },
  });
  new Gauge({
    name: 'db_pool_connections_max',
    help: 'Maximum number of connections the database pool opens.',
    registers: [registry],
    collect() {
      this.set(pool()?.options.max ?? 0);
    },
  });
  new Gauge({
    name: 'db_pool_waiting_requests',
    help: 'Requests for a database connection waiting because every pool connection is in use.',
    registers: [registry],
    collect() {
      this.set(pool()?.waitingCount ?? 0);
    },
  });

  const durations = new Histogram({
    name: 'db_query_duration_seconds',
    help: 'Time from sending a database query to its result, in seconds, for successful queries.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const failures = new Counter({
    name: 'db_query_failures_total',
    help: 'Database queries that failed, including those cut off by a lost connection.',
    registers: [registry],
  });
  const instrumented = new WeakSet<PoolClient>();
  pool()?.on('acquire', (client) => {
    if (!instrumented.has(client)) {
      instrumented.add(client);
      timeQueries(client, durations, failures);
    }
  });
}

/**
 * Wraps `client.query` so that every query that returns a promise is timed. TypeORM and the
 * tenant transactions both use that form. Queries with a callback or a submittable object pass
 * through untimed.
 */
function timeQueries(client: PoolClient, durations: Histogram, failures: Counter): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const timed = (...args: unknown[]): unknown => {
    const startedAt = performance.now();
    const result = query(...args);
    if (result instanceof Promise) {
      result.then(
        () => durations.observe((performance.now() - startedAt) / 1000),
        () => failures.inc(),
      );
    }

    return result;
  };
  client.query = timed as Query;
}
