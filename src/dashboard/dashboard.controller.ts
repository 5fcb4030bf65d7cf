import { Controller, Get, Logger, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

import { Public } from '../auth/permissions.js';
import { notFound } from '../odata/http/graph-error.js';
import { type DashboardAsset, loadDashboardAssets } from './dashboard-assets.js';

/**
 * Policy of the page: its own script, styles and API calls on this origin, nothing else. It
 * replaces the service-wide header, which also makes browsers upgrade requests to https.
 */
const PAGE_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The dashboard page and its script and stylesheet. The page is public: it contains no data and
 * requests a token, which its script sends to the API like any other client.
 */
@Controller('dashboard')
@ApiExcludeController()
export class DashboardController {
  private readonly logger = new Logger(DashboardController.name);
  private readonly assets: Map<string, DashboardAsset> | undefined;

  constructor() {
    const loaded = loadDashboardAssets();
    this.assets = loaded.assets;
    if (loaded.assets === undefined) {
      this.logger.warn(
        { searched: loaded.searched },
        'Dashboard files not found; /dashboard will answer 404. Copy src/dashboard/assets ' +
          'next to the build.',
      );
    }
  }

  @Get()
  @Public()
  page(@Res({ passthrough: true }) reply: FastifyReply): Buffer {
    return this.send(reply, 'index.html');
  }

  @Get('dashboard.js')
  @Public()
  script(@Res({ passthrough: true }) reply: FastifyReply): Buffer {
    return this.send(reply, 'dashboard.js');
  }

  @Get('dashboard.css')
  @Public()
  styles(@Res({ passthrough: true }) reply: FastifyReply): Buffer {
    return this.send(reply, 'dashboard.css');
  }

  private send(reply: FastifyReply, name: string): Buffer {
    const asset = this.assets?.get(name);
    if (asset === undefined) {
      throw notFound('The dashboard is not installed on this service.');
    }

    reply.header('Content-Type', asset.contentType);
    reply.header('Cache-Control', 'no-cache');
    reply.header('Content-Security-Policy', PAGE_POLICY);
    reply.header('X-Content-Type-Options', 'nosniff');
    return asset.body;
  }
}
