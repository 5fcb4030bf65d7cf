import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

import type { LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import helmet from 'helmet';
import { Logger as PinoLogger } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { DataSource } from 'typeorm';

import { AppModule } from './app.module.js';
import type { AppConfig } from './config/app-config.js';
import { startEmbeddedDatabase } from './database/embedded-database.js';
import { runMigrations } from './database/migrate.js';
import { setupApiDocs } from './docs/api-docs.js';
import { GracefulShutdown } from './lifecycle/graceful-shutdown.js';
import { createRootLogger, registerRequestLogging } from './logging/logging.module.js';
import { DEVICE_SCORES_ROUTES } from './device-scores/device-scores.controller.js';
import { registerJsonBodyParser } from './odata/http/json-body-parser.js';
import { GraphExceptionFilter } from './odata/http/graph-exception.filter.js';
import { rewriteKeySegment } from './odata/http/key-segment.js';
import { badRequest } from './odata/http/graph-error.js';
import {
  headerLinesOf,
  sendClientError,
  sendFrameworkError,
} from './odata/http/transport-errors.js';
import { ODataResponseInterceptor } from './odata/http/odata-response.interceptor.js';
import { attachRequestContext } from './odata/http/request-context.js';

export interface CreateAppOptions {
  /** The PostgreSQL URL to use; defaults to the configured DATABASE_URL. */
  databaseUrl?: string;
  logger?: LoggerService | false;
  /** Destination of the pino logger's JSON lines; standard output when unset. */
  logDestination?: DestinationStream;
}

/**
 * Builds the application: Fastify with the service's limits, the JSON body parser, the request
 * context hook, the Graph error filter and the OData response interceptor. Runs pending migrations
 * unless MIGRATIONS_RUN=false. The caller listens (or injects requests in tests).
 */
export async function createApp(
  config: AppConfig,
  options: CreateAppOptions = {},
): Promise<NestFastifyApplication> {
  let databaseUrl = options.databaseUrl ?? config.databaseUrl;
  const embedded =
    databaseUrl === undefined ? await startEmbeddedDatabase(config.dataDir) : undefined;
  databaseUrl ??= embedded?.url ?? '';

  const rootLogger = createRootLogger(config, options.logDestination);
  // Security headers on every response. HSTS is sent only when this listener itself serves HTTPS.
  // The helmet middleware is built once: @fastify/helmet built it again for every request, which
  // parsed the Content-Security-Policy directives each time.
  const setSecurityHeaders = helmet({
    hsts: config.tls !== undefined,
    crossOriginResourcePolicy: { policy: 'same-site' },
  });
  const clientErrorHeaders = headerLinesOf(setSecurityHeaders);
  const fastifyOptions = {
    bodyLimit: config.bodyLimitBytes,
    maxParamLength: 500,
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    trustProxy: config.trustProxy,
    rewriteUrl: (request: { url?: string }) => rewriteKeySegment(request.url ?? '/'),
    genReqId: () => randomUUID(),
    loggerInstance: rootLogger,
    disableRequestLogging: true,
    // Errors raised before routing (unparseable HTTP, bad percent-encoding) get Graph bodies too.
    clientErrorHandler: (error: Error, socket: Socket) =>
      sendClientError(error, socket, clientErrorHeaders),
    // No onRequest hook runs for these errors, so the security headers are set here.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) =>
      setSecurityHeaders(request.raw, reply.raw, () => sendFrameworkError(error, request, reply)),
  };
  // Node's default 16 KiB header limit would reject a 16 KB $filter before it reaches the service.
  const maxHeaderSize = 64 * 1024;
  const adapter = config.tls
    ? new FastifyAdapter({
        ...fastifyOptions,
        https: {
          cert: readFileSync(config.tls.certFile),
          key: readFileSync(config.tls.keyFile),
          maxHeaderSize,
          requireHostHeader: false,
        },
      })
    : new FastifyAdapter({ ...fastifyOptions, http: { maxHeaderSize, requireHostHeader: false } });

  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, databaseUrl, rootLogger, embedded),
    adapter,
    { bodyParser: false, bufferLogs: options.logger !== false, abortOnError: false },
  );
  if (options.logger === false) {
    app.useLogger(false);
  } else {
    app.useLogger(app.get(PinoLogger));
  }

  const fastify = app.getHttpAdapter().getInstance();
  const contextOptions = {
    trustProxy: config.trustProxy,
    tls: config.tls !== undefined,
  };
  // This hook comes first, so a request that a later hook rejects still gets the headers.
  fastify.addHook('onRequest', (request, reply, done) => {
    setSecurityHeaders(request.raw, reply.raw, done as (error?: unknown) => void);
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    attachRequestContext(request, reply, contextOptions);
    // Node's own check sends an empty 400 for a missing Host, so the check is made here instead.
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      done(badRequest('The Host header is missing. HTTP/1.1 requests must send one.'));
      return;
    }
    done();
  });
  registerJsonBodyParser(fastify, config.bodyLimitBytes);
  registerRequestLogging(fastify);

  app.useGlobalFilters(
    new GraphExceptionFilter([
      ...DEVICE_SCORES_ROUTES,
      { pattern: /^(\/beta|\/v1\.0)?\/\$batch$/, methods: ['POST'] },
      { pattern: /^(\/beta|\/v1\.0)?\/\$metadata$/, methods: ['GET', 'HEAD'] },
    ]),
  );
  app.useGlobalInterceptors(new ODataResponseInterceptor());
  await setupApiDocs(app);
  app.get(GracefulShutdown).listenForSignals(app);

  if (config.migrationsRun) {
    await runMigrations(app.get(DataSource));
  }
  await app.init();
  return app;
}
