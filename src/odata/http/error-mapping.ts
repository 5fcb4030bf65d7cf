import { HttpException } from '@nestjs/common';
import { QueryFailedError, QueryRunnerAlreadyReleasedError } from 'typeorm';

import { GraphErrorCode, GraphException, badRequest } from './graph-error.js';

const STATUS_CODES: Record<number, GraphErrorCode> = {
  400: GraphErrorCode.BadRequest,
  401: GraphErrorCode.InvalidAuthenticationToken,
  403: GraphErrorCode.Forbidden,
  404: GraphErrorCode.ResourceNotFound,
  405: GraphErrorCode.MethodNotAllowed,
  406: GraphErrorCode.NotAcceptable,
  408: GraphErrorCode.RequestTimeout,
  409: GraphErrorCode.Conflict,
  412: GraphErrorCode.PreconditionFailed,
  413: GraphErrorCode.RequestEntityTooLarge,
  415: GraphErrorCode.UnsupportedMediaType,
  431: GraphErrorCode.RequestHeaderFieldsTooLarge,
  429: GraphErrorCode.TooManyRequests,
  503: GraphErrorCode.ServiceUnavailable,
};

/** Fastify's own error codes for failures before a handler runs, with the message to send. */
const FASTIFY_ERRORS: Record<string, [GraphErrorCode, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [
    GraphErrorCode.RequestEntityTooLarge,
    'The request body is larger than the limit of this service.',
  ],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [
    GraphErrorCode.UnsupportedMediaType,
    "The request body must be sent with Content-Type 'application/json'.",
  ],
  FST_ERR_CTP_EMPTY_JSON_BODY: [GraphErrorCode.BadRequest, 'The request body is empty.'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [
    GraphErrorCode.BadRequest,
    'The Content-Length header does not match the request body.',
  ],
  FST_ERR_CTP_INVALID_JSON_BODY: [GraphErrorCode.BadRequest, 'The request body is not valid JSON.'],
  FST_ERR_BAD_URL: [GraphErrorCode.BadRequest, 'The request URL is malformed.'],
  FST_ERR_ASYNC_CONSTRAINT: [GraphErrorCode.BadRequest, 'The request is malformed.'],
  FST_ERR_CTP_INVALID_TYPE: [GraphErrorCode.BadRequest, 'The Content-Type header is invalid.'],
};

/** PostgreSQL error classes that mean the database cannot be reached or is shutting down. */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0[1-3]|57014|40001|40P01)/;
const UNAVAILABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
]);
const UNAVAILABLE_MESSAGES =
  /(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|Query read timeout|connect ECONNREFUSED)/i;

function databaseUnavailable(): GraphException {
  return new GraphException(
    GraphErrorCode.ServiceUnavailable,
    'The database is unavailable. Retry the request after the time in Retry-After.',
    { 'Retry-After': '5' },
  );
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) {
    return undefined;
  }
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Maps any thrown value to the Graph error to send. Returns undefined for unexpected errors,
 * which the caller logs and reports as a 500 without details.
 */
export function toGraphException(error: unknown): GraphException | undefined {
  if (error instanceof GraphException) {
    return error;
  }

  const code = codeOf(error);
  if (code !== undefined && code in FASTIFY_ERRORS) {
    const [graphCode, message] = FASTIFY_ERRORS[code];
    return new GraphException(graphCode, message);
  }

  if (error instanceof HttpException) {
    const status = error.getStatus();
    const graphCode = STATUS_CODES[status];
    if (graphCode !== undefined) {
      return new GraphException(graphCode, error.message);
    }
    return undefined;
  }

  if (error instanceof QueryFailedError) {
    const sqlState = codeOf(error.driverError);
    if (sqlState === '23505') {
      return new GraphException(GraphErrorCode.Conflict, 'An entity with this id already exists.');
    }
    if (sqlState?.startsWith('22')) {
      return badRequest(
        'The query could not be evaluated for the stored values, for example because an ' +
          'arithmetic result is out of range. Change the $filter expression.',
      );
    }
    if (sqlState !== undefined && UNAVAILABLE_SQLSTATE.test(sqlState)) {
      return databaseUnavailable();
    }
    if (UNAVAILABLE_MESSAGES.test(error.message)) {
      return databaseUnavailable();
    }
    return undefined;
  }

  if (error instanceof QueryRunnerAlreadyReleasedError) {
    return databaseUnavailable();
  }
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code) && UNAVAILABLE_SQLSTATE.test(code)) {
    return databaseUnavailable();
  }
  if (code !== undefined && UNAVAILABLE_NODE_CODES.has(code)) {
    return databaseUnavailable();
  }
  if (error instanceof Error && UNAVAILABLE_MESSAGES.test(error.message)) {
    return databaseUnavailable();
  }

  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    const graphCode = STATUS_CODES[statusCode] ?? GraphErrorCode.BadRequest;
    return new GraphException(graphCode, 'The request is malformed.');
  }
  return undefined;
}
