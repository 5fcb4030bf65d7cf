import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';

import { AuthGuard } from './auth.guard.js';
import { resolveKeySource } from './key-source.js';
import { TokenVerifier } from './token-verifier.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { createRateLimiter } from '../rate-limit/create-rate-limiter.js';
import { RATE_LIMITER, type RateLimiter } from '../rate-limit/rate-limiter.js';
import { ThrottlePolicy } from '../rate-limit/throttle-policy.js';

/**
 * Authentication and rate limiting for every route: the token verifier, the throttle policy and
 * `AuthGuard` as the global guard. Needs APP_CONFIG from the root module.
 */
@Global()
@Module({
  providers: [
    {
      provide: TokenVerifier,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig): Promise<TokenVerifier> => {
        const { auth } = config;
        const keys = await resolveKeySource({
          jwksUri: auth.jwksUri,
          jwksFile: auth.jwksFile,
          dataDir: config.dataDir,
          production: config.production,
        });

        return new TokenVerifier({
          audience: auth.audience,
          allowedTenants: auth.allowedTenants,
          clockToleranceSeconds: auth.clockToleranceSeconds,
          keys,
        });
      },
    },
    {
      provide: RATE_LIMITER,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): RateLimiter => createRateLimiter(config.redisUrl),
    },
    {
      provide: ThrottlePolicy,
      inject: [RATE_LIMITER, APP_CONFIG],
      useFactory: (limiter: RateLimiter, config: AppConfig): ThrottlePolicy =>
        new ThrottlePolicy(limiter, config.throttle),
    },
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [TokenVerifier, ThrottlePolicy, RATE_LIMITER],
})
export class AuthModule {}
