import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { Logger as PinoRoot } from 'pino';

import { AuthModule } from './auth/auth.module.js';
import { APP_CONFIG, type AppConfig } from './config/app-config.js';
import { buildDataSourceOptions } from './database/data-source-options.js';
import { DashboardModule } from './dashboard/dashboard.module.js';
import { DatabaseModule } from './database/database.module.js';
import type { EmbeddedDatabase } from './database/embedded-database.js';
import {
  EMBEDDED_DATABASE,
  EmbeddedDatabaseLifecycle,
} from './database/embedded-database.lifecycle.js';
import { DeviceScoresModule } from './device-scores/device-scores.module.js';
import { HealthModule } from './health/health.module.js';
import { LifecycleModule } from './lifecycle/lifecycle.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { ModelScoresModule } from './model-scores/model-scores.module.js';
import { BatchModule } from './odata/batch/batch.module.js';
import { MetadataModule } from './odata/metadata/metadata.module.js';

/** The root module, built from an already validated configuration. */
@Module({})
export class AppModule {
  static forRoot(
    config: AppConfig,
    databaseUrl: string,
    logger: PinoRoot,
    embedded?: EmbeddedDatabase,
  ): DynamicModule {
    // The embedded server accepts a fixed number of connections: leave two for tools and tests.
    const poolSize = embedded !== undefined ? Math.max(1, embedded.maxConnections - 2) : 10;
    return {
      module: AppModule,
      global: true,
      imports: [
        LoggingModule.forRoot(logger),
        TypeOrmModule.forRoot(buildDataSourceOptions(databaseUrl, poolSize)),
        DatabaseModule,
        AuthModule,
        DeviceScoresModule,
        ModelScoresModule,
        DashboardModule,
        HealthModule,
        MetadataModule,
        BatchModule,
        MetricsModule,
        LifecycleModule,
      ],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: EMBEDDED_DATABASE, useValue: embedded },
        EmbeddedDatabaseLifecycle,
      ],
      exports: [APP_CONFIG],
    };
  }
}
