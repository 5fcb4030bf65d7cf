/** Error codes of the Graph error body, each tied to one HTTP status in GRAPH_ERROR_STATUS. */
export enum GraphErrorCode {
  BadRequest = 'BadRequest',
  InvalidAuthenticationToken = 'InvalidAuthenticationToken',
  Forbidden = 'Forbidden',
  ResourceNotFound = 'ResourceNotFound',
  MethodNotAllowed = 'MethodNotAllowed',
  NotAcceptable = 'NotAcceptable',
  RequestTimeout = 'RequestTimeout',
  Conflict = 'Conflict',
  PreconditionFailed = 'PreconditionFailed',
  RequestEntityTooLarge = 'RequestEntityTooLarge',
  UnsupportedMediaType = 'UnsupportedMediaType',
  RequestHeaderFieldsTooLarge = 'RequestHeaderFieldsTooLarge',
  TooManyRequests = 'TooManyRequests',
  InternalServerError = 'InternalServerError',
  ServiceUnavailable = 'ServiceUnavailable',
}

export const GRAPH_ERROR_STATUS: Record<GraphErrorCode, number> = {
  [GraphErrorCode.BadRequest]: 400,
  [GraphErrorCode.InvalidAuthenticationToken]: 401,
  [GraphErrorCode.Forbidden]: 403,
  [GraphErrorCode.ResourceNotFound]: 404,
  [GraphErrorCode.MethodNotAllowed]: 405,
  [GraphErrorCode.NotAcceptable]: 406,
  [GraphErrorCode.RequestTimeout]: 408,
  [GraphErrorCode.Conflict]: 409,
  [GraphErrorCode.PreconditionFailed]: 412,
  [GraphErrorCode.RequestEntityTooLarge]: 413,
  [GraphErrorCode.UnsupportedMediaType]: 415,
  [GraphErrorCode.RequestHeaderFieldsTooLarge]: 431,
  [GraphErrorCode.TooManyRequests]: 429,
  [GraphErrorCode.InternalServerError]: 500,
  [GraphErrorCode.ServiceUnavailable]: 503,
};

/**
 * A failure that the service reports to the client as a Graph error body.
 * Every layer throws this (or a subclass) and the global filter maps it once.
 */
export class GraphException extends Error {
  readonly status: number;

  constructor(
    readonly code: GraphErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'GraphException';
    this.status = GRAPH_ERROR_STATUS[code];
  }
}

export function badRequest(message: string): GraphException {
  return new GraphException(GraphErrorCode.BadRequest, message);
}

export function notFound(message: string): GraphException {
  return new GraphException(GraphErrorCode.ResourceNotFound, message);
}
