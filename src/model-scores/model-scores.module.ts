import { Module } from '@nestjs/common';

import { DatabaseModule } from '../database/database.module.js';
import { ModelScoresController } from './model-scores.controller.js';
import { ModelScoresService } from './model-scores.service.js';

@Module({
  imports: [DatabaseModule],
  controllers: [ModelScoresController],
  providers: [ModelScoresService],
})
export class ModelScoresModule {}
