import { type DynamicModule, Module } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { LoggerModule } from 'nestjs-pino';
import { pino, type Logger as Pino } from 'pino';

import type { AppConfig } from '../config/app-config.js';

/** Header paths that must never reach a log line. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
];

/** Creates the one pino logger that Fastify, Nest and the request log lines share. */
export function createRootLogger(config: AppConfig): Pino {
  return pino({
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  });
}

/**
 * Logs one line per finished request with method, URL, status, duration, request id, tenant and
 * application; Fastify adds the request id as reqId. Fastify's own request lines are disabled in favour of this one, and the bearer
 * token is never part of it.
 */
export function registerRequestLogging(fastify: FastifyInstance): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    let level: 'error' | 'warn' | 'info' = 'info';
    if (status >= 500) {
      level = 'error';
    } else if (status >= 400) {
      level = 'warn';
    }
    request.log[level](
      {
        method: request.method,
        url: request.url,
        statusCode: status,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
        tenantId: request.principal?.tenantId,
        applicationId: request.principal?.applicationId,
      },
      'request completed',
    );
    done();
  });
}

/** Routes the Nest logger through the shared pino instance (nestjs-pino). */
@Module({})
export class LoggingModule {
  static forRoot(logger: Pino): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: { logger: logger as unknown as Pino<never>, autoLogging: false },
          forRoutes: [],
        }),
      ],
    };
  }
}
