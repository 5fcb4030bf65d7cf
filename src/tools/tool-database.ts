import { DataSource } from 'typeorm';

import { buildAppConfig } from '../config/app-config.js';
import { buildDataSourceOptions } from '../database/data-source-options.js';
import { startEmbeddedDatabase } from '../database/embedded-database.js';
import { runMigrations } from '../database/migrate.js';
import { TenantDatabase } from '../database/tenant-database.js';

/** The database a data tool writes to, with pending migrations applied. */
export interface ToolDatabase {
  tenants: TenantDatabase;
  dataSource: DataSource;
  close(): Promise<void>;
}

/**
 * Connects to DATABASE_URL, or opens the embedded database under DATA_DIR when it is unset, as
 * the service does, and applies pending migrations. The embedded database accepts one process at
 * a time, so stop the service first or give both the same DATABASE_URL.
 */
export async function openToolDatabase(env: Record<string, unknown>): Promise<ToolDatabase> {
  const config = buildAppConfig(env);
  const embedded =
    config.databaseUrl === undefined ? await startEmbeddedDatabase(config.dataDir) : undefined;
  // Two connections, because runMigrations holds one for its advisory lock.
  const dataSource = new DataSource(
    buildDataSourceOptions(config.databaseUrl ?? embedded?.url ?? '', 2),
  );
  try {
    await dataSource.initialize();
    await runMigrations(dataSource);
  } catch (error) {
    await dataSource.destroy().catch(() => undefined);
    await embedded?.close();
    throw error;
  }

  return {
    tenants: new TenantDatabase(dataSource),
    dataSource,
    close: async () => {
      await dataSource.destroy();
      await embedded?.close();
    },
  };
}
