import { Controller, Get, Inject } from '@nestjs/common';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  type HealthCheckResult,
  type HealthIndicatorResult,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';

import { Public } from '../auth/permissions.js';
import { ShutdownState } from '../lifecycle/shutdown-state.js';

/**
 * Maximum time one readiness check may take, so that readiness returns 503 quickly when the
 * database hangs instead of waiting for the pool's connect and query timeouts.
 */
const CHECK_TIMEOUT_MS = 2000;

/** Liveness and readiness for orchestrators. Neither needs a token nor counts against limits. */
@Controller('health')
@ApiTags('Health')
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(TypeOrmHealthIndicator) private readonly database: TypeOrmHealthIndicator,
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(ShutdownState) private readonly shutdown: ShutdownState,
  ) {}

  /** 200 while the process serves requests. */
  @Get('live')
  @Public()
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: 200 while the process serves requests' })
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /** 200 when the service is not shutting down, the database responds and no migration is pending. */
  @Get('ready')
  @Public()
  @HealthCheck()
  @ApiOperation({
    summary: 'Readiness: 200 when the database answers and migrations are applied, else 503',
  })
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.checkShutdown(),
      () => this.database.pingCheck('database').withTimeout(CHECK_TIMEOUT_MS),
      () => this.checkMigrations(),
    ]);
  }

  private checkShutdown(): HealthIndicatorResult {
    const session = this.indicators.check('shutdown');

    return this.shutdown.shuttingDown
      ? session.down('The service is shutting down.')
      : session.up();
  }

  private async checkMigrations(): Promise<HealthIndicatorResult> {
    const session = this.indicators.check('migrations');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timed out'>((resolve) => {
      timer = setTimeout(() => resolve('timed out'), CHECK_TIMEOUT_MS);
    });
    try {
      const pending = await Promise.race([this.dataSource.showMigrations(), timedOut]);
      if (pending === 'timed out') {
        return session.down(`The migration table did not answer within ${CHECK_TIMEOUT_MS} ms.`);
      }
      return pending ? session.down('Migrations are pending.') : session.up();
    } catch {
      return session.down('The migration table could not be read.');
    } finally {
      clearTimeout(timer);
    }
  }
}
