/**
 * The views' synced traits, typed: what Python's widgets declare (cnnviz_widgets/widgets/*.py). Components take an
 * `AnyModel` of the smallest interface they read, so any view that has those traits can use them.
 */
import type { AnyModel } from "@anywidget/types";
import type { CurvesResult, SanityResult } from "../logic/analysis";
import type { ScanSummary } from "../logic/datasets";
import type { ExampleItem } from "../logic/examples";
import type { ChannelStats, FilterKind } from "../logic/layers";
import type { OccludedWindow } from "../logic/occlusion";
import type { MethodDesc, OptionDesc, Options, OptionValue } from "../logic/schema";
import type { WireArray } from "./arrays";
import type { Wire, WireBytes } from "./codec";

export type ObjectHash = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Every view: which one, the banner, the job's progress, how binary values travel and the page's theme. */
export interface ViewTraits {
  _view: string;
  error: string;
  busy: boolean;
  progress: number;
  status: string;
  _wire: Wire;
  theme: "light" | "dark";
}

export interface PredictionRow {
  index: number;
  label: string;
  prob: number;
}

/** A heat-map as Python sends it: the array and what it measures (the colour bar's caption). */
export interface HeatArray extends WireArray {
  quantity?: string;
  /** Occlusion: the window layout of the shown map, where Python sends it. */
  grid?: { window: number | [number, number]; stride: number | [number, number] };
}

/** Views with a photo: the picture, its top-5 (the class picker) and the overlay's initial look. */
export interface PhotoTraits extends ViewTraits {
  image: WireBytes | null;
  notice: string;
  samples: string[];
  sample: string;
  predictions: PredictionRow[];
  target: number;
  opacity: number;
  colormap: string;
}

export interface LayerRow {
  name: string;
  type: string;
  shape: number[];
}

/** Views with a layer picker. */
export interface LayerTraits {
  layer: string;
  layers: LayerRow[];
}

export interface SaliencyTraits extends PhotoTraits, LayerTraits {
  method: string;
  methods: MethodDesc[];
  options: Options;
  compare: boolean;
  heatmap: HeatArray | Record<string, never>;
  maps: Record<string, HeatArray>;
  sanity: SanityResult | Record<string, never>;
  curves: CurvesResult | Record<string, never>;
}

export interface OcclusionTraits extends PhotoTraits {
  window: number;
  stride: number;
  baseline: number | string;
  baselines: string[];
  schema: OptionDesc[];
  heatmap: HeatArray | Record<string, never>;
  occluded: OccludedWindow | Record<string, never>;
  done: number;
  total: number;
}

/** Views with a unit picker: the layer's channel thumbnails and the chosen channel (`units`: a batch's picks). */
export interface UnitTraits {
  thumbnails: (WireArray & { layer: string }) | Record<string, never> | null;
  unit: number;
  units?: number[];
  colormap: string;
}

export interface LayersTraits extends PhotoTraits, LayerTraits, UnitTraits {
  schema: OptionDesc[];
  tab: string;
  page: number;
  stats: ChannelStats | Record<string, never>;
  heatmap: HeatArray | Record<string, never>;
  projection: ProjectionResult | Record<string, never>;
  filters: FiltersResult | Record<string, never>;
  combination: CombinationResult | Record<string, never>;
  invariance: InvarianceResult | Record<string, never>;
  snapshots: SnapshotsResult | Record<string, never>;
  [setting: string]: unknown;
}

/** Views with live pictures (components/liveBatch): JPEG frames as they come, the PNG where a run ended. */
export interface LiveTraits extends ViewTraits {
  frame: WireBytes | null;
  frame_seq: number;
  final: WireBytes | null;
  captions: string[];
}

export interface FeaturevisTraits extends PhotoTraits, LayerTraits, UnitTraits, LiveTraits {
  schema: OptionDesc[];
  kind: string;
  units: number[];
  y: number | null;
  x: number | null;
  batch: number;
  batch_mode: string;
  class_label: string;
  thumbnails: (WireArray & { layer: string }) | null;
  frame: WireBytes | null;
  frame_seq: number;
  final: WireBytes | null;
  captions: string[];
  step: number;
  examples: ExamplesResult | Unset;
  [setting: string]: unknown;
}

/** DeepDream: the photo at the dream's size (before), the live octave picture, the full-size dream (after). */
export interface DreamTraits extends PhotoTraits, LayerTraits {
  schema: OptionDesc[];
  kind: string;
  class_label: string;
  original: WireBytes | null;
  frame: WireBytes | null;
  frame_seq: number;
  final: WireBytes | null;
  step: number;
  octave: number;
  octaves: number;
  norms: number[];
  [setting: string]: unknown;
}

/** ClassVisualizer: the class (picked by name among `labels`), the recipes' pictures and their probabilities. */
export interface ClassvisTraits extends LiveTraits {
  schema: OptionDesc[];
  target: number;
  labels: string[];
  class_label: string;
  facets_note: string;
  probs: number[];
  step: number;
  [setting: string]: unknown;
}

/** StyleTransfer and TextureSynthesis: the source thumbnails with the blend's weights, each style layer's weight, the
 * picture (JPEG live, PNG at the end), whose features and recipe are in use, and what was done to the inputs. */
export interface StyleTraits extends ViewTraits {
  schema: OptionDesc[];
  mode: "transfer" | "texture";
  recipe: string;
  notes: string[];
  sources: { content?: WireBytes; styles?: WireBytes[] };
  style_weights: number[];
  style_layers: string[];
  layer_weights: number[];
  frame: WireBytes | null;
  frame_seq: number;
  final: WireBytes | null;
  step: number;
  [setting: string]: unknown;
}

/** FastStyleTrainer: the style and held-out photo thumbnails, the held-out photo painted by the network being trained
 * (JPEG live, PNG where a stretch ended), the checkpoint there, and the photo last stylised with the trained network. */
export interface FastStyleTraits extends ViewTraits {
  schema: OptionDesc[];
  recipe: string;
  notes: string[];
  sources: { style?: WireBytes; preview?: WireBytes };
  samples: string[];
  frame: WireBytes | null;
  frame_seq: number;
  final: WireBytes | null;
  stylised: WireBytes | null;
  step: number;
  [setting: string]: unknown;
}

/** FoolingImage: the fooled picture and the change (one strip, JPEG live and PNG at the end), the fooled picture's
 * top-5, and the class searched over the model's labels. */
export interface FoolingTraits extends PhotoTraits {
  schema: OptionDesc[];
  labels: string[];
  frame: WireBytes | null;
  frame_seq: number;
  final: WireBytes | null;
  after: PredictionRow[];
  step: number;
  reached: boolean;
  gain: number;
  max_change: number;
  mean_change: number;
  [setting: string]: unknown;
}

/** FeatureInversion: the chosen layers (ticked among `layer_rows`), the photo at the run's size, and the photo with
 * each layer's reconstruction side by side in one strip (JPEG live, PNG at the end), captioned with their PSNR. */
export interface InversionTraits extends PhotoTraits, LiveTraits {
  schema: OptionDesc[];
  layers: string[];
  layer_rows: LayerRow[];
  model_name: string;
  original: WireBytes | null;
  psnr: number[];
  step: number;
  [setting: string]: unknown;
}

/** FeatureVisualizer: the unit's top patches in the model's latest scan, or a note alone when there are none. */
export type ExamplesResult = { note: string } | { layer: string; unit: number; items: ExampleItem[]; crops: WireBytes[]; note: string };

/** Set a trait and sync it to Python. */
export function save<T extends ObjectHash, K extends keyof T>(model: AnyModel<T>, name: K, value: T[K]): void {
  model.set(name, value);
  model.save_changes();
}

/** A trait read as a settings value (the settings form binds traits by name). */
export function traitValue(model: AnyModel, name: string): OptionValue | null | undefined {
  return model.get(name) as OptionValue | null | undefined;
}

/** LayerExplorer: the clicked channel's strongest position, its receptive-field box and the two crops. */
export interface ProjectionResult {
  layer: string;
  unit: number;
  y: number;
  x: number;
  value: number;
  box: [number, number, number, number];
  rule: string;
  image: WireBytes;
  patch: WireBytes;
}

/** A tab's answer for a layer that has no such thing (a ReLU has no filters). */
export interface TabNote {
  layer?: string;
  note: string;
}

export type FiltersResult = TabNote | (WireArray & { layer: string; kind: FilterKind; first: number; total: number; folded: boolean });
export type CombinationResult = TabNote | { layer: string; unit: number; chain: string[]; barrier: string; image: WireBytes; size: number[]; channels: number[]; strength: number[] };
export interface InvarianceResult {
  transform: string;
  amounts: number[];
  layers: string[];
  distances: number[][];
  probability: number[];
  target: number;
  label: string;
}
export type SnapshotsResult = TabNote | { names: string[]; layer: string; unit: number; kind: FilterKind; first: string; filters: WireArray; maps: WireArray; projections: WireBytes[] };

/** DatasetExplorer: the layer overview sprite (one cell per unit, its strongest patch). */
export interface OverviewResult {
  layer: string;
  count: number;
  cell: number;
  columns: number;
  image: WireBytes;
}

/** One of a unit's top patches: the dataset image, the activation and the receptive field [top, left, bottom, right]. */
export interface PatchItem {
  item: number;
  name: string;
  value: number;
  label: string;
  box: [number, number, number, number];
}

export interface PatchesResult {
  layer: string;
  unit: number;
  rule: string;
  items: PatchItem[];
  crops: WireBytes[];
  projections: WireBytes[];
  /** What the engine said of these patches (e.g. deconvnet projections that ignore the image); "" when nothing. */
  note?: string;
}

/** The image in focus (item -2: the uploaded picture, which has no label, confidence or box). */
export interface FocusResult {
  item: number;
  name: string;
  label: string;
  predicted: string;
  confidence?: number;
  box?: [number, number, number, number] | null;
  image: WireBytes;
}

export interface NeighbourRow {
  item: number;
  name: string;
  distance: number;
  image: WireBytes;
}

export interface NeighboursResult {
  item: number;
  space: string;
  metric: string;
  features: NeighbourRow[];
  pixels: NeighbourRow[];
}

export interface HoveredResult {
  item: number;
  name: string;
  label: string;
  image: WireBytes;
}

export interface SelectionResult {
  items: number[];
  images: WireBytes[];
  total: number;
}

type Unset = Record<string, never>;

export interface DatasetsTraits extends ViewTraits, LayerTraits {
  schema: OptionDesc[];
  tab: string;
  unit: number;
  item: number;
  space: string;
  summary: ScanSummary | Unset;
  overview: OverviewResult | Unset;
  patches: PatchesResult | Unset;
  focus: FocusResult | Unset;
  neighbours: NeighboursResult | Unset;
  grid: WireBytes | null;
  hovered: HoveredResult | Unset;
  selection: SelectionResult | Unset;
  /** Whether the running job is the scan (not yet sent by Python: without it, busy before the scan is complete). */
  scanning?: boolean;
  [setting: string]: unknown;
}
