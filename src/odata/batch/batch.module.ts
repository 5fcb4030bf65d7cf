import { Module } from '@nestjs/common';

import { BatchAccessGuard } from './batch-access.guard.js';
import { BatchController } from './batch.controller.js';
import { BatchService } from './batch.service.js';
import { LoopbackDispatcher } from './loopback-dispatcher.js';

/** `POST /$batch` on every surface. Needs APP_CONFIG from the root module and AuthModule. */
@Module({
  controllers: [BatchController],
  providers: [BatchService, LoopbackDispatcher, BatchAccessGuard],
})
export class BatchModule {}
