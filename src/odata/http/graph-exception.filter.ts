import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  Logger,
  NotFoundException,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { toGraphException } from './error-mapping.js';
import { GraphErrorCode, GraphException } from './graph-error.js';
import { originFormOf, requestContextOf } from './request-context.js';

/** A path pattern the service serves and the methods it accepts there, for 405 responses. */
export interface RouteMethods {
  pattern: RegExp;
  methods: readonly string[];
}

/** Formats a date as Graph's innerError.date does: UTC, whole seconds, no zone suffix. */
function graphDate(date: Date): string {
  return date.toISOString().slice(0, 19);
}

/** Serializes the Graph error body of `error` for a request with these correlation ids. */
export function graphErrorBody(
  error: GraphException,
  ids: { requestId: string; clientRequestId: string },
): string {
  return JSON.stringify({
    error: {
      code: error.code,
      message: error.message,
      innerError: {
        date: graphDate(new Date()),
        'request-id': ids.requestId,
        'client-request-id': ids.clientRequestId,
      },
    },
  });
}

/**
 * Turns every error, from a handler, a guard, the router or the body parser, into the Graph
 * error body. Unexpected errors are logged once with the request id and sent as a bare 500.
 */
@Catch()
export class GraphExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(GraphExceptionFilter.name);

  constructor(private readonly routes: readonly RouteMethods[] = []) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const context = requestContextOf(request);

    let error = toGraphException(exception);
    if (exception instanceof NotFoundException && !(exception instanceof GraphException)) {
      error = this.routeNotFound(request);
    }
    if (error === undefined) {
      this.logger.error(
        { err: exception, requestId: context.requestId, method: request.method, url: request.url },
        'Request failed with an unexpected error',
      );
      error = new GraphException(
        GraphErrorCode.InternalServerError,
        `An internal error occurred. Quote request-id ${context.requestId} when reporting it.`,
      );
    } else if (error.status >= 500) {
      this.logger.warn(
        { requestId: context.requestId, code: error.code, cause: String(exception) },
        error.message,
      );
    }

    if (reply.sent) {
      return;
    }
    reply.header('request-id', context.requestId);
    reply.header('client-request-id', context.clientRequestId);
    reply.header('OData-Version', '4.0');
    for (const [name, value] of Object.entries(error.headers)) {
      reply.header(name, value);
    }
    reply.status(error.status).type('application/json').send(graphErrorBody(error, context));
  }

  private routeNotFound(request: FastifyRequest): GraphException {
    const url = originFormOf(request.raw.url ?? '/');
    const path = url.split('?', 1)[0];
    const route = this.routes.find((candidate) => candidate.pattern.test(path));
    if (route !== undefined && !route.methods.includes(request.method)) {
      return new GraphException(
        GraphErrorCode.MethodNotAllowed,
        `The method ${request.method} is not allowed on this resource. ` +
          `Allowed methods: ${route.methods.join(', ')}.`,
        { Allow: route.methods.join(', ') },
      );
    }
    return new GraphException(
      GraphErrorCode.ResourceNotFound,
      `No resource was found at '${path.slice(0, 200)}'.`,
    );
  }
}
