import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { type DynamicModule, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';

import type { AppConfig } from '../config/app-config.js';
import { LogContextInterceptor } from './log-context.interceptor.js';

/** The request id that Fastify's genReqId stores on the raw request, shared with pino-http. */
export interface RawRequestWithId extends IncomingMessage {
  requestId?: string;
  tenantId?: string;
  applicationId?: string;
}

/** Creates a request id for Fastify and keeps it on the raw request for the log line. */
export function generateRequestId(raw: RawRequestWithId): string {
  const id = randomUUID();
  raw.requestId = id;
  return id;
}

/** Header and body paths that must never reach a log line. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
];

function levelFor(_request: IncomingMessage, response: ServerResponse, error?: Error): string {
  if (error !== undefined || response.statusCode >= 500) {
    return 'error';
  }
  return response.statusCode >= 400 ? 'warn' : 'info';
}

/**
 * Structured JSON logs through nestjs-pino: one line per request with method, URL, status,
 * duration, request id, tenant and application, and the Nest logger routed to the same pino
 * instance. Tokens and cookies are redacted.
 */
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
            genReqId: (request: RawRequestWithId) => request.requestId ?? randomUUID(),
            customLogLevel: levelFor,
            customProps: (request: RawRequestWithId) => ({
              tenantId: request.tenantId,
              applicationId: request.applicationId,
            }),
            serializers: {
              req: (request: { id: string; method: string; url: string }) => ({
                id: request.id,
                method: request.method,
                url: request.url,
              }),
              res: (response: { statusCode: number }) => ({ statusCode: response.statusCode }),
            },
          },
        }),
      ],
      providers: [{ provide: APP_INTERCEPTOR, useClass: LogContextInterceptor }],
    };
  }
}
