import { Controller, Get, Inject } from '@nestjs/common';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  type HealthCheckResult,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { DataSource } from 'typeorm';

import { Public } from '../auth/permissions.js';

/** Liveness and readiness for orchestrators. Neither needs a token nor counts against limits. */
@Controller('health')
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(TypeOrmHealthIndicator) private readonly database: TypeOrmHealthIndicator,
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(DataSource) private readonly dataSource: DataSource,
  ) {}

  /** 200 while the process serves requests. */
  @Get('live')
  @Public()
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /** 200 when the database answers and every migration is applied, else 503. */
  @Get('ready')
  @Public()
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.database.pingCheck('database').withTimeout(2000),
      () => this.checkMigrations(),
    ]);
  }

  private async checkMigrations() {
    const session = this.indicators.check('migrations');
    try {
      const pending = await this.dataSource.showMigrations();
      return pending ? session.down('Migrations are pending.') : session.up();
    } catch {
      return session.down('The migration table could not be read.');
    }
  }
}
