import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import {
  collectDefaultMetrics,
  Counter,
  Histogram,
  Registry,
  type PrometheusContentType,
} from 'prom-client';
import { DataSource } from 'typeorm';

import { registerDatabaseMetrics } from './database-metrics.js';

/** Route label of requests that matched no route, so unknown URLs cannot add label values. */
export const UNMATCHED_ROUTE = 'unmatched';

const HTTP_LABELS = ['method', 'route', 'status_code'] as const;

/**
 * The Prometheus metrics of one application instance. Each instance has its own registry, so
 * several applications in one process (as in the tests) never share or overwrite counters.
 */
@Injectable()
export class MetricsService implements OnModuleInit {
  readonly registry = new Registry<PrometheusContentType>();

  private readonly requests = new Counter({
    name: 'http_requests_total',
    help: 'Completed HTTP requests, by method, route pattern and status code.',
    labelNames: HTTP_LABELS,
    registers: [this.registry],
  });

  private readonly requestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving an HTTP request to sending the response, in seconds.',
    labelNames: HTTP_LABELS,
    registers: [this.registry],
  });

  private readonly rateLimitRejections = new Counter({
    name: 'rate_limit_rejections_total',
    help: 'Requests rejected with 429 Too Many Requests, by method and route pattern.',
    labelNames: ['method', 'route'] as const,
    registers: [this.registry],
  });

  constructor(
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(DataSource) private readonly dataSource: DataSource,
  ) {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Adds the request hook and the database metrics once the DataSource is initialized. */
  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addHook('onResponse', (request, reply, done) => {
      this.recordResponse(
        request.method,
        request.routeOptions.url,
        reply.statusCode,
        reply.elapsedTime,
      );
      done();
    });
    registerDatabaseMetrics(this.registry, this.dataSource);
  }

  /** Renders every metric in the Prometheus text format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Counts one completed request; `elapsedMs` is the time Fastify measured for it. */
  recordResponse(
    method: string,
    route: string | undefined,
    statusCode: number,
    elapsedMs: number,
  ): void {
    const labels = { method, route: route ?? UNMATCHED_ROUTE, status_code: String(statusCode) };
    this.requests.inc(labels);
    this.requestDuration.observe(labels, elapsedMs / 1000);
    if (statusCode === 429) {
      this.rateLimitRejections.inc({ method, route: labels.route });
    }
  }
}
