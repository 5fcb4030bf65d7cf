import { Module } from '@nestjs/common';

import { DatabaseModule } from '../database/database.module.js';
import { DeviceScoresController } from './device-scores.controller.js';
import { DeviceScoresService } from './device-scores.service.js';

@Module({
  imports: [DatabaseModule],
  controllers: [DeviceScoresController],
  providers: [DeviceScoresService],
})
export class DeviceScoresModule {}
