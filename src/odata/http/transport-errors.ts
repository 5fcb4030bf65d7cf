import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

import { Logger } from '@nestjs/common';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

import { toGraphException } from './error-mapping.js';
import { GraphErrorCode, GraphException, badRequest, notFound } from './graph-error.js';
import { graphErrorBody } from './graph-exception.filter.js';
import { attachRequestContext } from './request-context.js';

// NOTE: both functions take effect only when src/app.factory.ts passes them to Fastify as the
// `frameworkErrors` and `clientErrorHandler` options.
const logger = new Logger('TransportErrors');

/**
 * Sends a Graph error for the failures Fastify reports before routing, through its
 * `frameworkErrors` option: a malformed percent-encoding in the path (400) and a path segment
 * longer than `maxParamLength` (404, because such a segment is no id of this API). Without it
 * Fastify sends its own JSON body, which Graph clients cannot read.
 */
export function sendFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  // The onRequest hooks did not run, so the correlation headers are set here. The base URL of
  // the context is not used by an error body.
  const context = attachRequestContext(request, reply, { trustProxy: false, tls: false });
  const graphError =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? notFound('No resource was found at this URL: a path segment is longer than the maximum.')
      : (toGraphException(error) ?? badRequest('The request URL is malformed.'));

  logger.debug(`Rejected request ${context.requestId} before routing (${error.code})`);

  for (const [name, value] of Object.entries(graphError.headers)) {
    reply.header(name, value);
  }
  void reply
    .status(graphError.status)
    .type('application/json')
    .send(graphErrorBody(graphError, context));
}

/** Node.js-style middleware that sets headers on a response, such as helmet's. */
type HeaderMiddleware = (
  request: IncomingMessage,
  response: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/**
 * Returns the header lines, each ending in CRLF, that `middleware` sets on a response. It runs
 * once against a stand-in response that only records them, for responses written to the socket
 * without a response object.
 */
export function headerLinesOf(middleware: HeaderMiddleware): string {
  const headers = new Map<string, string>();
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers.set(name, Array.isArray(value) ? value.join(', ') : String(value));
    },
    removeHeader: (name: string) => {
      headers.delete(name);
    },
  };
  middleware({} as IncomingMessage, recorder as unknown as ServerResponse, () => undefined);

  return [...headers].map(([name, value]) => `${name}: ${value}\r\n`).join('');
}

/**
 * Responds to a request that Node.js could not parse as HTTP/1.1 (its `clientError` event, through
 * Fastify's `clientErrorHandler` option) with a Graph error and `extraHeaders` (lines ending in
 * CRLF), then closes the connection. No request object exists, so the body carries a new
 * request-id.
 */
export function sendClientError(
  error: Error & { code?: string },
  socket: Socket,
  extraHeaders = '',
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) {
    return;
  }

  let graphError: GraphException;
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    graphError = new GraphException(
      GraphErrorCode.RequestHeaderFieldsTooLarge,
      'The request line and headers are larger than the limit of this service.',
    );
  } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    graphError = new GraphException(
      GraphErrorCode.RequestTimeout,
      'The request was not received completely within the time limit of this service.',
    );
  } else {
    graphError = badRequest('The request is not valid HTTP/1.1.');
  }
  logger.debug(`Rejected a malformed request (${error.code ?? error.message})`);

  // Writes only on a connection that has sent nothing yet, so no response in progress is
  // corrupted. Otherwise the client sees the connection close.
  if (socket.writable && socket.bytesWritten === 0) {
    const requestId = randomUUID();
    const body = graphErrorBody(graphError, { requestId, clientRequestId: requestId });
    socket.write(
      `HTTP/1.1 ${graphError.status} ${STATUS_CODES[graphError.status]}\r\n` +
        'Content-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `request-id: ${requestId}\r\n` +
        `client-request-id: ${requestId}\r\n` +
        'OData-Version: 4.0\r\n' +
        extraHeaders +
        'Connection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroy();
}
