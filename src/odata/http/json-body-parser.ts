import type { FastifyInstance } from 'fastify';

import { GraphErrorCode, GraphException, badRequest } from './graph-error.js';

const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;
const BODY_METHODS = new Set(['POST', 'PATCH', 'PUT']);
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

/**
 * Replaces Fastify's body parsers with one that accepts only JSON. The media type matches in any
 * case and with any parameters, and a charset other than UTF-8 is rejected. Every failure is a
 * Graph error (415, 413 from the body limit, or 400) instead of Fastify's own body.
 */
export function registerJsonBodyParser(fastify: FastifyInstance, bodyLimit: number): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (request, body, done) => {
    const contentType = request.headers['content-type'] ?? '';
    const text = typeof body === 'string' ? body : body.toString('utf8');

    if (!JSON_MEDIA_TYPE.test(contentType)) {
      if (contentType === '' && text.length === 0) {
        done(null, undefined);
        return;
      }
      done(
        new GraphException(
          GraphErrorCode.UnsupportedMediaType,
          `The Content-Type '${contentType.slice(0, 100)}' is not supported. ` +
            `Send the body as 'application/json'.`,
        ),
      );
      return;
    }
    const charset = CHARSET.exec(contentType)?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      done(
        new GraphException(
          GraphErrorCode.UnsupportedMediaType,
          `The charset '${charset.slice(0, 40)}' is not supported. Send the body as UTF-8.`,
        ),
      );
      return;
    }
    if (text.trim().length === 0) {
      // Some clients label every request as JSON, so a bodiless DELETE stays valid.
      if (BODY_METHODS.has(request.method)) {
        done(badRequest('The request body is empty. Send a JSON object.'));
      } else {
        done(null, undefined);
      }
      return;
    }
    try {
      done(null, JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text));
    } catch (error) {
      const detail = error instanceof SyntaxError ? `: ${error.message.slice(0, 200)}` : '';
      done(badRequest(`The request body is not valid JSON${detail}.`));
    }
  });
}
