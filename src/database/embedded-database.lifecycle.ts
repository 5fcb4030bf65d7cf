import { Inject, Injectable, type OnApplicationShutdown, Optional } from '@nestjs/common';

import type { EmbeddedDatabase } from './embedded-database.js';

export const EMBEDDED_DATABASE = Symbol('EMBEDDED_DATABASE');

/** Stops the embedded PostgreSQL server, if the service started one, when the application closes. */
@Injectable()
export class EmbeddedDatabaseLifecycle implements OnApplicationShutdown {
  constructor(
    @Optional() @Inject(EMBEDDED_DATABASE) private readonly embedded?: EmbeddedDatabase,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.embedded?.close();
  }
}
