import type { DeviceScoreRecord } from './device-score-writer.js';

export type FormFactor = 'laptop' | 'desktop' | 'tablet';

/** A device model as Windows reports it: SMBIOS manufacturer and product name. */
export interface DeviceModel {
  manufacturer: string;
  model: string;
  formFactor: FormFactor;
  /** Relative share of the fleet. */
  weight: number;
}

/** A business fleet: common business models of recent years, laptops outnumbering desktops. */
export const DEVICE_CATALOG: readonly DeviceModel[] = [
  { manufacturer: 'Dell Inc.', model: 'Latitude 5440', formFactor: 'laptop', weight: 9 },
  { manufacturer: 'Dell Inc.', model: 'Latitude 7440', formFactor: 'laptop', weight: 6 },
  { manufacturer: 'Dell Inc.', model: 'Latitude 5520', formFactor: 'laptop', weight: 4 },
  { manufacturer: 'Dell Inc.', model: 'OptiPlex 7010', formFactor: 'desktop', weight: 6 },
  { manufacturer: 'Dell Inc.', model: 'Precision 3660 Tower', formFactor: 'desktop', weight: 2 },
  {
    manufacturer: 'HP',
    model: 'HP EliteBook 840 G10 Notebook PC',
    formFactor: 'laptop',
    weight: 8,
  },
  { manufacturer: 'HP', model: 'HP EliteBook 860 G9 Notebook PC', formFactor: 'laptop', weight: 4 },
  { manufacturer: 'HP', model: 'HP ProBook 450 G10 Notebook PC', formFactor: 'laptop', weight: 5 },
  {
    manufacturer: 'HP',
    model: 'HP EliteDesk 800 G9 Desktop Mini PC',
    formFactor: 'desktop',
    weight: 4,
  },
  { manufacturer: 'HP', model: 'HP ZBook Firefly 14 G10', formFactor: 'laptop', weight: 2 },
  { manufacturer: 'LENOVO', model: 'ThinkPad T14 Gen 4', formFactor: 'laptop', weight: 8 },
  { manufacturer: 'LENOVO', model: 'ThinkPad X1 Carbon Gen 11', formFactor: 'laptop', weight: 5 },
  { manufacturer: 'LENOVO', model: 'ThinkPad E14 Gen 5', formFactor: 'laptop', weight: 4 },
  { manufacturer: 'LENOVO', model: 'ThinkCentre M70q Gen 4', formFactor: 'desktop', weight: 3 },
  {
    manufacturer: 'Microsoft Corporation',
    model: 'Surface Laptop 5',
    formFactor: 'laptop',
    weight: 5,
  },
  {
    manufacturer: 'Microsoft Corporation',
    model: 'Surface Pro 9',
    formFactor: 'tablet',
    weight: 4,
  },
  { manufacturer: 'Microsoft Corporation', model: 'Surface Go 4', formFactor: 'tablet', weight: 2 },
  {
    manufacturer: 'ASUSTeK COMPUTER INC.',
    model: 'ExpertBook B5402CVA',
    formFactor: 'laptop',
    weight: 2,
  },
  { manufacturer: 'Acer', model: 'TravelMate P216-51', formFactor: 'laptop', weight: 2 },
];

/**
 * The score an organization aims for. Endpoint analytics reports a device as meeting goals when
 * its endpoint analytics score reaches the goal the organization set; the seed uses 50.
 */
export const SCORE_GOAL = 50;

/** Mean, spread and share of devices without data for one component score. */
interface ScoreShape {
  property: string;
  mean: number;
  standardDeviation: number;
  unavailableShare: number;
}

const COMPONENT_SCORES: readonly ScoreShape[] = [
  { property: 'startupPerformanceScore', mean: 60, standardDeviation: 16, unavailableShare: 0.04 },
  { property: 'appReliabilityScore', mean: 70, standardDeviation: 14, unavailableShare: 0.03 },
  { property: 'workFromAnywhereScore', mean: 66, standardDeviation: 17, unavailableShare: 0.02 },
  { property: 'batteryHealthScore', mean: 64, standardDeviation: 20, unavailableShare: 0.06 },
  {
    property: 'meanResourceSpikeTimeScore',
    mean: 74,
    standardDeviation: 13,
    unavailableShare: 0.1,
  },
];

/** Share of devices that have reported nothing yet, so every score is -1. */
const SILENT_SHARE = 0.015;

/** Spread of a per-device offset applied to every score, so old or busy devices score low. */
const DEVICE_QUALITY_SPREAD = 14;

/** Minimum number of component scores from which an endpoint analytics score is computed. */
const MINIMUM_COMPONENTS = 2;

const NAME_CHARACTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const FORM_FACTOR_CODES: Record<FormFactor, string> = { laptop: 'LT', desktop: 'DT', tablet: 'TB' };

/** Returns a pseudo-random number generator (mulberry32) with values in [0, 1). */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;

  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);

    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Generates plausible device scores: real business models, component scores that vary by device,
 * -1 where a device has no data (batteries on desktops, for one), and a health status that
 * follows from the endpoint analytics score. The same seed gives the same devices and ids.
 */
export class DemoDeviceGenerator {
  private readonly totalWeight: number;

  constructor(
    private readonly random: () => number,
    private readonly namePrefix = 'CONTOSO',
  ) {
    this.totalWeight = DEVICE_CATALOG.reduce((sum, model) => sum + model.weight, 0);
  }

  next(): DeviceScoreRecord {
    const device = this.pickModel();
    const values: Record<string, unknown> = {
      deviceName: this.deviceName(device.formFactor),
      model: device.model,
      manufacturer: device.manufacturer,
      ...this.scores(device.formFactor),
    };

    return { id: this.uuid(), values };
  }

  private scores(formFactor: FormFactor): Record<string, number | string> {
    const silent = this.random() < SILENT_SHARE;
    const quality = this.normal(0, DEVICE_QUALITY_SPREAD);
    const scores: Record<string, number | string> = {};
    const available: number[] = [];

    for (const shape of COMPONENT_SCORES) {
      const noBattery = shape.property === 'batteryHealthScore' && formFactor === 'desktop';
      if (silent || noBattery || this.random() < shape.unavailableShare) {
        scores[shape.property] = -1;
        continue;
      }
      const score = clampScore(
        Math.round(this.normal(shape.mean, shape.standardDeviation) + quality),
      );
      scores[shape.property] = score;
      available.push(score);
    }

    const overall =
      available.length >= MINIMUM_COMPONENTS
        ? available.reduce((sum, score) => sum + score, 0) / available.length
        : -1;
    scores.endpointAnalyticsScore = overall;
    scores.healthStatus = healthStatusOf(overall, available.length);

    return scores;
  }

  private pickModel(): DeviceModel {
    let remaining = this.random() * this.totalWeight;
    for (const model of DEVICE_CATALOG) {
      remaining -= model.weight;
      if (remaining < 0) {
        return model;
      }
    }

    return DEVICE_CATALOG[DEVICE_CATALOG.length - 1];
  }

  /** Names most devices by the organization's scheme and some by the Windows default. */
  private deviceName(formFactor: FormFactor): string {
    if (this.random() < 0.25) {
      return `DESKTOP-${this.characters(7)}`;
    }
    const number = String(Math.floor(this.random() * 100_000)).padStart(5, '0');

    return `${this.namePrefix}-${FORM_FACTOR_CODES[formFactor]}-${number}`;
  }

  private characters(count: number): string {
    let text = '';
    for (let index = 0; index < count; index++) {
      text += NAME_CHARACTERS[Math.floor(this.random() * NAME_CHARACTERS.length)];
    }

    return text;
  }

  /** A version 4 GUID from the generator, so a seed reproduces the same ids. */
  private uuid(): string {
    const bytes = Array.from({ length: 16 }, () => Math.floor(this.random() * 256));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = bytes.map((byte) => byte.toString(16).padStart(2, '0')).join('');

    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** Returns a normally distributed value (Box-Muller transform). */
  private normal(mean: number, standardDeviation: number): number {
    const u = 1 - this.random();
    const v = this.random();

    return mean + standardDeviation * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/**
 * Returns the health status that an endpoint analytics score implies: unknown without any data,
 * insufficientData when too few components exist for a score, else by the goal.
 */
export function healthStatusOf(endpointAnalyticsScore: number, components: number): string {
  if (components === 0) {
    return 'unknown';
  }
  if (endpointAnalyticsScore === -1) {
    return 'insufficientData';
  }

  return endpointAnalyticsScore >= SCORE_GOAL ? 'meetingGoals' : 'needsAttention';
}

function clampScore(score: number): number {
  return Math.min(100, Math.max(0, score));
}
