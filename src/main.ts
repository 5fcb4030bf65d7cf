import 'reflect-metadata';

import { existsSync } from 'node:fs';

import { Logger } from '@nestjs/common';

import { createApp } from './app.factory.js';
import { buildAppConfig } from './config/app-config.js';

async function bootstrap(): Promise<void> {
  if (existsSync('.env')) {
    process.loadEnvFile('.env');
  }
  const config = buildAppConfig();
  const app = await createApp(config);
  await app.listen({ host: config.host, port: config.port });
  const scheme = config.tls ? 'https' : 'http';
  const logger = new Logger('Bootstrap');
  logger.log(`Listening on ${scheme}://${config.host}:${config.port}`);
  if (!config.production && !config.auth.jwksFile && !config.auth.jwksUri) {
    logger.log(
      'Development keys are active. Mint a token with: npm run --silent token ' +
        `and call ${scheme}://${config.host}:${config.port}/beta/deviceManagement/` +
        'userExperienceAnalyticsDeviceScores with it as a Bearer token.',
    );
  }
}

bootstrap().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
