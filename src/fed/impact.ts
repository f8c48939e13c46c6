// What a contribution is worth and what it cost, honestly labelled (issue 19): credits count the
// verified FLOPs of the work a round assigned (never a volunteer's claim), and the energy is an
// estimate from the GPU-busy time a volunteer measured and a power figure for its adapter's class,
// with the range that figure may be off by; where the run publishes a grid carbon-intensity
// schedule, the grams of CO₂ follow from the hour and the region the volunteer chose. Shared by the
// seed (receipts, /status.json) and the tab (the page), so both count the same way.
import { type GptConfig, nominalTrainFlops, paramLayout } from '../model';

/**
 * One credit is one GFLOP (10⁹ floating-point operations) of verified training work, counted as
 * src/model/flops.ts counts a training step (6 per parameter per token, plus attention). BOINC's
 * cobblestone is 1/200 of a day of a 1 GFLOPS machine, 432 GFLOP: 432 of our credits.
 */
export const FLOPS_PER_CREDIT = 1e9;

/** The nominal training FLOPs of `tokens` tokens of a round on `model` with sequences of `context`. */
export function trainingFlops(model: GptConfig, context: number, tokens: number): number {
  return nominalTrainFlops(paramLayout(model), context, tokens);
}

export const creditsOf = (flops: number): number => flops / FLOPS_PER_CREDIT;

/** Coarse classes of adapter, for the power estimate. */
export const ADAPTER_CLASSES = ['software', 'integrated', 'discrete', 'unknown'] as const;
export type AdapterClass = (typeof ADAPTER_CLASSES)[number];

export interface PowerFigure {
  /** The figure used, in watts while busy. */
  watts: number;
  /** The range the real draw may lie in: the estimate's stated uncertainty. */
  low: number;
  high: number;
  /** Where the figure comes from. */
  source: string;
}

/**
 * Power while the adapter is busy training, by class. These are board or package power figures
 * from vendors' specifications, not measurements of this machine: the estimate says so, and gives
 * the range. A software adapter (SwiftShader, lavapipe) computes on the CPU, so its figure is a
 * CPU package's under load.
 */
export const ADAPTER_POWER: Record<AdapterClass, PowerFigure> = {
  software: {
    watts: 35,
    low: 15,
    high: 125,
    source:
      'CPU package power under load: Intel Core i7-1165G7 12-28 W (configurable TDP), Intel Core i5-12400 65 W base, AMD Ryzen 7 7700X 105 W TDP',
  },
  integrated: {
    watts: 15,
    low: 5,
    high: 30,
    source:
      'integrated GPUs share the package: Intel Iris Xe (i7-1165G7, 12-28 W package), Apple M1 GPU about 10 W at full load (Apple, M1 package power), AMD Radeon 780M (Ryzen 7 7840U, 15-30 W package)',
  },
  discrete: {
    watts: 150,
    low: 35,
    high: 450,
    source:
      'total board power: NVIDIA RTX 3060 170 W, RTX 4090 450 W, laptop RTX 4060 35-115 W; AMD RX 6600 132 W (vendor specifications)',
  },
  unknown: {
    watts: 75,
    low: 5,
    high: 450,
    source: 'the class is unknown: the widest range of the classes above, with a middle figure',
  },
};

/** Software renderers that WebGPU implementations fall back to, as their adapters describe themselves. */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|warp|software/i;

/**
 * The class of an adapter from what WebGPU says of it: a fallback or software adapter by its flag
 * or name; integrated or discrete only where its description says so (Chrome's descriptions often
 * do, e.g. "Intel(R) UHD Graphics" or a driver's "integrated" type), else unknown: the volunteer may
 * choose the class on the page. Apple's GPUs are integrated in every Mac with Apple silicon.
 */
export function adapterClassOf(info: {
  vendor?: string;
  architecture?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}): AdapterClass {
  const text = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ');
  if (info.isFallbackAdapter || SOFTWARE_ADAPTER.test(text)) return 'software';
  if (/integrated|\bUHD\b|\bIris\b|\bapple\b|\bmetal-3\b|Radeon\(TM\) Graphics|\bgen-\d+/i.test(text))
    return 'integrated';
  if (/discrete|GeForce|\bRTX\b|\bGTX\b|Radeon RX|\bArc\b|Quadro/i.test(text)) return 'discrete';
  return 'unknown';
}

export interface EnergyEstimate {
  /** The estimate in watt-hours, and its range. */
  wh: number;
  lowWh: number;
  highWh: number;
}

/** Watt-hours of `gpuSeconds` of busy time at the class's power figure, with its range. */
export function estimateEnergy(gpuSeconds: number, adapter: AdapterClass): EnergyEstimate {
  const p = ADAPTER_POWER[adapter];
  const hours = Math.max(0, gpuSeconds) / 3600;
  return { wh: p.watts * hours, lowWh: p.low * hours, highWh: p.high * hours };
}

/** Grams of CO₂ of `wh` watt-hours at an intensity in gCO₂/kWh. */
export const gramsCO2 = (wh: number, gCO2PerKWh: number): number => (wh / 1000) * gCO2PerKWh;
