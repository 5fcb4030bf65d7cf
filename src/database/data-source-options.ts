import type { DataSourceOptions } from 'typeorm';

import { CreateDeviceScores1764806400000 } from '../../migrations/1764806400000-CreateDeviceScores.js';
import { IsolateTenantsWithRowSecurity1764806400001 } from '../../migrations/1764806400001-IsolateTenantsWithRowSecurity.js';
import { IndexBatteryHealthScoreOrder1796411045028 } from '../../migrations/1796411045028-IndexBatteryHealthScoreOrder.js';
import { SortDeviceNameIndexNullsFirst1796411045029 } from '../../migrations/1796411045029-SortDeviceNameIndexNullsFirst.js';
import { SummarizeModelScores1796500000000 } from '../../migrations/1796500000000-SummarizeModelScores.js';
import { DeviceScoreEntity } from '../device-scores/device-score.entity.js';

/** Every migration in order. Listed by hand so the compiled service and the tests load the same set. */
export const MIGRATIONS = [
  CreateDeviceScores1764806400000,
  IsolateTenantsWithRowSecurity1764806400001,
  IndexBatteryHealthScoreOrder1796411045028,
  SortDeviceNameIndexNullsFirst1796411045029,
  SummarizeModelScores1796500000000,
];

export const ENTITIES = [DeviceScoreEntity];

/**
 * Builds the TypeORM options for a PostgreSQL URL. Timeouts keep a lost or overloaded database
 * from hanging requests: they fail and the client gets a 503 instead.
 */
export function buildDataSourceOptions(url: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    migrationsRun: false,
    synchronize: false,
    logging: false,
    extra: {
      max: poolSize,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30000,
      statement_timeout: 15000,
      query_timeout: 20000,
      application_name: 'endpoint-analytics',
    },
  };
}
