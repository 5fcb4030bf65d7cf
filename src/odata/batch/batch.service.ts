import { Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

import { APP_CONFIG, type AppConfig } from '../../config/app-config.js';
import { GraphErrorCode, GraphException } from '../http/graph-error.js';
import { type GraphRequestContext, requestContextOf } from '../http/request-context.js';
import { BatchGate } from './batch-gate.js';
import { orderByDependencies } from './batch-order.js';
import { type BatchItem, parseBatchRequest } from './batch-request.js';
import {
  type BatchResponseBody,
  type BatchResponseEntry,
  dispatchFailedEntry,
  failedDependencyEntry,
  toBatchResponseEntry,
} from './batch-response.js';
import { LoopbackDispatcher } from './loopback-dispatcher.js';

const FORWARDED_PROXY_HEADERS = ['x-forwarded-proto', 'x-forwarded-host'] as const;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Builds the headers every inner request carries: the batch's token and client-request-id, and
 * the host and proxy headers from which the service computes the batch's base URL. Context URLs,
 * next links and Location headers in inner responses then point where the batch was sent.
 */
function sharedHeaders(
  outer: FastifyRequest,
  context: GraphRequestContext,
): Record<string, string> {
  const origin = context.baseUrl.slice(0, context.baseUrl.length - context.prefix.length);
  const headers: Record<string, string> = {
    host: origin.slice(origin.indexOf('://') + 3),
    'client-request-id': context.clientRequestId,
  };
  const authorization = outer.headers.authorization;
  if (authorization !== undefined) {
    headers.authorization = authorization;
  }
  for (const name of FORWARDED_PROXY_HEADERS) {
    const value = firstHeader(outer.headers[name]);
    if (value !== undefined && HEADER_VALUE.test(value)) {
      headers[name] = value;
    }
  }

  return headers;
}

function batchesBusy(): GraphException {
  return new GraphException(
    GraphErrorCode.ServiceUnavailable,
    'Too many batches are waiting to run. Retry the batch after the time in Retry-After, or ' +
      'send its requests on their own.',
    { 'Retry-After': '1' },
  );
}

/** Returns whether the client of the outer request has closed its connection. */
function clientGone(outer: FastifyRequest): boolean {
  return outer.raw.socket?.destroyed ?? false;
}

/**
 * Runs JSON batches: validates the whole batch first, then sends each inner request, one at a
 * time, through the service's own listener, in an order that respects `dependsOn`. A request
 * whose dependency failed (status 400 or above) is not sent and gets 424. Only a few batches run
 * at once (BATCH_CONCURRENCY), and inner requests stop when the client has gone away.
 */
@Injectable()
export class BatchService {
  private readonly logger = new Logger(BatchService.name);
  private readonly gate: BatchGate;

  constructor(
    @Inject(LoopbackDispatcher) private readonly dispatcher: LoopbackDispatcher,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.gate = new BatchGate(config.batch.concurrency, config.batch.queueLimit);
  }

  async execute(body: unknown, outer: FastifyRequest): Promise<BatchResponseBody> {
    const context = requestContextOf(outer);
    const items = parseBatchRequest(body, context.surface);
    const order = orderByDependencies(items);
    const shared = sharedHeaders(outer, context);

    const entered = this.gate.enter();
    if (entered === undefined) {
      this.logger.warn(
        { requestId: context.requestId },
        'A batch was rejected because the batch queue is full',
      );
      throw batchesBusy();
    }
    const release = await entered;
    try {
      const results = new Map<string, BatchResponseEntry>();
      for (const item of order) {
        // The client cannot read the remaining responses, so their requests are not sent.
        const entry = clientGone(outer)
          ? dispatchFailedEntry(item.id, context)
          : await this.run(item, results, shared, context);
        results.set(item.id, entry);
      }

      return { responses: items.map((item) => results.get(item.id) as BatchResponseEntry) };
    } finally {
      release();
    }
  }

  private async run(
    item: BatchItem,
    results: ReadonlyMap<string, BatchResponseEntry>,
    shared: Record<string, string>,
    context: GraphRequestContext,
  ): Promise<BatchResponseEntry> {
    for (const dependencyId of item.dependsOn) {
      const dependency = results.get(dependencyId) as BatchResponseEntry;
      if (dependency.status >= 400) {
        return failedDependencyEntry(item.id, dependencyId, dependency.status, context);
      }
    }

    try {
      const response = await this.dispatcher.send({
        method: item.method,
        path: `${context.prefix}${item.relativeUrl}`,
        headers: { ...shared, ...item.headers },
        body: item.body,
      });

      return toBatchResponseEntry(item.id, response);
    } catch (error) {
      this.logger.error(
        { err: error, requestId: context.requestId, batchRequestId: item.id },
        'An inner request of a batch could not be sent to the service',
      );

      return dispatchFailedEntry(item.id, context);
    }
  }
}
