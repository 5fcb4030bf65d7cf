import { type DynamicModule, Module } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LoggerModule, PinoLogger } from 'nestjs-pino';
import { type DestinationStream, pino, type Logger as Pino } from 'pino';

import type { AppConfig } from '../config/app-config.js';

/** Header paths that must never reach a log line. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
];

/**
 * Creates the one pino logger that Fastify, Nest and the request log lines share. It writes to
 * `destination` when given, else to standard output.
 */
export function createRootLogger(config: AppConfig, destination?: DestinationStream): Pino {
  const options = {
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };

  return destination === undefined ? pino(options) : pino(options, destination);
}

/**
 * Logs one line per finished request with method, URL, status, duration, request id, tenant and
 * application; Fastify adds the request id as reqId. Fastify's own request lines are disabled in favour of this one, and the bearer
 * token is never part of it.
 */
export function registerRequestLogging(fastify: FastifyInstance): void {
  bindRequestIdToNestLogs(fastify);
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

/**
 * Gives every Nest Logger line written while a request runs the request's `reqId`, the id of its
 * "request completed" line. The context is entered again after body parsing, because the parser's
 * stream events do not carry it over.
 *
 * NOTE: this replaces the request middleware of nestjs-pino, which does not run in this
 * application: LoggerModule.configure() registers it, but it is never called for a request.
 */
function bindRequestIdToNestLogs(fastify: FastifyInstance): void {
  const contexts = new PinoLogger({ pinoHttp: { logger: fastify.log as unknown as Pino<never> } });
  const enter = (request: FastifyRequest, _reply: FastifyReply, done: () => void): void => {
    contexts.runInContext(done, { bindings: { reqId: request.id } });
  };
  fastify.addHook('onRequest', enter);
  fastify.addHook('preValidation', enter);
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
