// Loads the fastify types, so the augmentation at the end compiles even where nothing else does.
import type {} from 'fastify';

/** The caller that a verified access token identifies. */
export interface Principal {
  /** Tenant from the `tid` claim, a lower-case GUID. It decides which rows the request can reach. */
  readonly tenantId: string;
  /** Client application from `azp` (v2) or `appid` (v1), lower-case, or 'unknown' without either. */
  readonly applicationId: string;
  /** The `sub` claim, when the token has one. */
  readonly subject?: string;
  /** Delegated scopes (`scp`) and application roles (`roles`), lower-cased. */
  readonly permissions: ReadonlySet<string>;
  /** Token format, taken from the issuer form: `sts.windows.net` is 1.0, `.../v2.0` is 2.0. */
  readonly tokenVersion: '1.0' | '2.0';
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication guard once the access token is verified. */
    principal?: Principal;
  }
}
