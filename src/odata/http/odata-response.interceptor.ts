import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { map, type Observable } from 'rxjs';

import {
  CollectionResult,
  CountResult,
  EntityResult,
  NoContentResult,
  NotModifiedResult,
  type WireEntity,
} from './odata-result.js';
import {
  type GraphRequestContext,
  type MetadataLevel,
  requestContextOf,
} from './request-context.js';

function jsonContentType(metadata: MetadataLevel): string {
  return (
    `application/json;odata.metadata=${metadata};odata.streaming=true;` +
    'IEEE754Compatible=false;charset=utf-8'
  );
}

function contextUrl(
  context: GraphRequestContext,
  entitySetPath: string,
  select: readonly string[] | undefined,
  suffix: string,
): string {
  const selection = select !== undefined && select.length > 0 ? `(${select.join(',')})` : '';
  return `${context.baseUrl}/$metadata#${entitySetPath}${selection}${suffix}`;
}

/** Applies the requested odata.metadata level to one entity's annotations. */
function annotate(entity: WireEntity, metadata: MetadataLevel, editLink?: string): WireEntity {
  if (metadata === 'minimal') {
    return entity;
  }
  const result: WireEntity = {};
  for (const [name, value] of Object.entries(entity)) {
    if (metadata === 'none' && name.startsWith('@odata.')) {
      continue;
    }
    result[name] = value;
    if (metadata === 'full' && name === '@odata.type' && editLink !== undefined) {
      result['@odata.id'] = editLink;
      result['@odata.editLink'] = editLink;
    }
  }
  return result;
}

/**
 * Wraps handler results in the OData envelope: context URL, count, next link, metadata level,
 * and the OData content type. Controllers return the result classes and never shape JSON.
 */
@Injectable()
export class ODataResponseInterceptor implements NestInterceptor {
  intercept(executionContext: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = executionContext.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();

    return next.handle().pipe(map((result: unknown) => this.render(request, reply, result)));
  }

  private render(request: FastifyRequest, reply: FastifyReply, result: unknown): unknown {
    const context = requestContextOf(request);

    if (result instanceof NoContentResult) {
      for (const [name, value] of Object.entries(result.headers)) {
        reply.header(name, value);
      }
      reply.status(204);
      return undefined;
    }

    if (result instanceof NotModifiedResult) {
      for (const [name, value] of Object.entries(result.headers)) {
        reply.header(name, value);
      }
      reply.status(304);
      return undefined;
    }

    if (result instanceof CountResult) {
      reply.type('text/plain;charset=utf-8');
      return String(result.count);
    }

    if (result instanceof EntityResult) {
      const { select, status, location, editLink, headers } = result.options;
      for (const [name, value] of Object.entries(headers ?? {})) {
        reply.header(name, value);
      }
      if (status !== undefined) {
        reply.status(status);
      }
      if (location !== undefined) {
        reply.header('Location', location);
      }
      reply.type(jsonContentType(context.metadata));
      const body: WireEntity = {};
      if (context.metadata !== 'none') {
        body['@odata.context'] = contextUrl(context, result.entitySetPath, select, '/$entity');
      }
      return JSON.stringify(
        Object.assign(body, annotate(result.entity, context.metadata, editLink)),
      );
    }

    if (result instanceof CollectionResult) {
      const { select, count, nextLinkQuery, collectionPath, editLinkOf } = result.options;
      reply.type(jsonContentType(context.metadata));
      const body: WireEntity = {};
      if (context.metadata !== 'none') {
        body['@odata.context'] = contextUrl(context, result.entitySetPath, select, '');
      }
      if (count !== undefined) {
        body['@odata.count'] = count;
      }
      body.value = result.items.map((item) => annotate(item, context.metadata, editLinkOf?.(item)));
      if (nextLinkQuery !== undefined) {
        body['@odata.nextLink'] = `${context.baseUrl}/${collectionPath}?${nextLinkQuery}`;
      }
      return JSON.stringify(body);
    }

    return result;
  }
}
