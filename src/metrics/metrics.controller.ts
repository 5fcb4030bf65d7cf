import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiOperation, ApiProduces } from '@nestjs/swagger';
import { Registry } from 'prom-client';

import { Public } from '../auth/permissions.js';
import { MetricsService } from './metrics.service.js';

/** Prometheus scrape endpoint. Public like the health checks, because scrapers carry no token. */
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(MetricsService) private readonly metrics: MetricsService) {}

  @Get()
  @Public()
  @Header('Content-Type', Registry.PROMETHEUS_CONTENT_TYPE)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'Prometheus metrics in the text exposition format' })
  @ApiProduces(Registry.PROMETHEUS_CONTENT_TYPE)
  scrape(): Promise<string> {
    return this.metrics.render();
  }
}
