import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { buildAppConfig } from '../config/app-config.js';
import { buildDataSourceOptions } from './data-source-options.js';
import { startEmbeddedDatabase } from './embedded-database.js';

/** Arbitrary fixed key for pg_advisory_lock, so instances starting together migrate one at a time. */
const MIGRATION_LOCK_KEY = 4_201_763_117;

/** Applies pending migrations while holding an advisory lock, and returns their names. */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  const lockRunner = dataSource.createQueryRunner();
  await lockRunner.connect();
  try {
    await lockRunner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((migration) => migration.name);
  } finally {
    await lockRunner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    await lockRunner.release();
  }
}

async function main(): Promise<void> {
  const logger = new Logger('Migrations');
  const config = buildAppConfig();
  const embedded =
    config.databaseUrl === undefined ? await startEmbeddedDatabase(config.dataDir) : undefined;
  const url = config.databaseUrl ?? embedded?.url ?? '';
  // Two connections: one holds the advisory lock while TypeORM migrates on the other.
  const dataSource = new DataSource(buildDataSourceOptions(url, 2));
  await dataSource.initialize();
  try {
    const applied = await runMigrations(dataSource);
    logger.log(applied.length > 0 ? `Applied ${applied.join(', ')}` : 'No pending migrations');
  } finally {
    await dataSource.destroy();
    await embedded?.close();
  }
}

if (process.argv[1]?.endsWith('migrate.js')) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
