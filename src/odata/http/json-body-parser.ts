import type { FastifyInstance } from 'fastify';

import { GraphErrorCode, GraphException, badRequest } from './graph-error.js';

const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;
const BODY_METHODS = new Set(['POST', 'PATCH', 'PUT']);
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

/**
 * Maximum nesting of arrays and objects in a body, the default MaxDepth of ASP.NET Core's
 * System.Text.Json. Deeper values overflow the stack of recursive code that walks them later,
 * such as class-transformer.
 */
export const MAX_JSON_DEPTH = 64;

/** Decodes strict UTF-8: malformed bytes throw instead of becoming U+FFFD. A BOM is kept. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Replaces Fastify's body parsers with one that accepts only JSON. The media type matches in any
 * case and with any parameters, and a charset other than UTF-8 is rejected. The body must be
 * valid UTF-8 and nest at most MAX_JSON_DEPTH levels. Every failure is a Graph error (415, 413
 * from the body limit, or 400) instead of Fastify's own body.
 */
export function registerJsonBodyParser(fastify: FastifyInstance, bodyLimit: number): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    const contentType = request.headers['content-type'] ?? '';
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;

    // Node.js keeps only the first Content-Type, while a proxy in front may have used another.
    if (countHeaderLines(request.raw.rawHeaders, 'content-type') > 1) {
      done(badRequest('The request has more than one Content-Type header. Send exactly one.'));
      return;
    }
    if (!JSON_MEDIA_TYPE.test(contentType)) {
      if (contentType === '' && bytes.length === 0) {
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
    let text: string;
    try {
      text = UTF8.decode(bytes);
    } catch {
      done(badRequest('The request body is not valid UTF-8.'));
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
    if (exceedsNesting(text, MAX_JSON_DEPTH)) {
      done(
        badRequest(
          `The request body nests arrays and objects deeper than the maximum of ${MAX_JSON_DEPTH} levels.`,
        ),
      );
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

function countHeaderLines(rawHeaders: readonly string[], name: string): number {
  let count = 0;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    if (rawHeaders[index].toLowerCase() === name) {
      count += 1;
    }
  }

  return count;
}

/**
 * Checks whether JSON text nests arrays and objects deeper than `maxDepth`, in one pass that
 * skips brackets inside strings. Invalid JSON is left for JSON.parse to report.
 */
function exceedsNesting(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const character = text.charCodeAt(index);
    if (inString) {
      if (character === 0x5c) {
        index += 1;
      } else if (character === 0x22) {
        inString = false;
      }
    } else if (character === 0x22) {
      inString = true;
    } else if (character === 0x5b || character === 0x7b) {
      depth += 1;
      if (depth > maxDepth) {
        return true;
      }
    } else if (character === 0x5d || character === 0x7d) {
      depth -= 1;
    }
  }

  return false;
}
