import { Global, Module } from '@nestjs/common';

import { GracefulShutdown } from './graceful-shutdown.js';
import { ShutdownState } from './shutdown-state.js';

/** Graceful shutdown on SIGTERM and SIGINT, and the state that readiness reads. */
@Global()
@Module({
  providers: [ShutdownState, GracefulShutdown],
  exports: [ShutdownState, GracefulShutdown],
})
export class LifecycleModule {}
