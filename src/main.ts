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
  new Logger('Bootstrap').log(`Listening on ${scheme}://${config.host}:${config.port}`);
}

bootstrap().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
