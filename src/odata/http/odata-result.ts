/** Entity wire objects as mappers produce them: property names in wire order. */
export type WireEntity = Record<string, unknown>;

/** A single entity to send, wrapped by the OData interceptor with its context URL. */
export class EntityResult {
  constructor(
    readonly entitySetPath: string,
    readonly entity: WireEntity,
    readonly options: {
      select?: readonly string[];
      status?: number;
      location?: string;
      editLink?: string;
      headers?: Readonly<Record<string, string>>;
    } = {},
  ) {}
}

/** One page of a collection. */
export class CollectionResult {
  constructor(
    readonly entitySetPath: string,
    readonly items: readonly WireEntity[],
    readonly options: {
      select?: readonly string[];
      count?: number;
      /** The next page's query string, without '?', when more items remain. */
      nextLinkQuery?: string;
      /** The path of the collection under the surface, for next links. */
      collectionPath: string;
      editLinkOf?: (entity: WireEntity) => string | undefined;
    },
  ) {}
}

/** The bare number of a /$count request, sent as text/plain. */
export class CountResult {
  constructor(readonly count: number) {}
}

/** 204 with a zero-byte body. */
export class NoContentResult {
  constructor(readonly headers: Readonly<Record<string, string>> = {}) {}
}

/** 304 for a GET whose If-None-Match matches the current entity tag. */
export class NotModifiedResult {
  constructor(readonly headers: Readonly<Record<string, string>> = {}) {}
}
