/** Results of the faithfulness checks as Python sends them, and their captions (pure, unit-tested). */
import type { WireArray } from "../core/arrays";

/** The `sanity` trait: maps after each cascade step of randomisation ("original" first). */
export interface SanityResult {
  method: string;
  layer: string | null;
  names: string[];
  correlation: number[];
  maps: WireArray;
}

/** The `curves` trait: class probability as pixels are deleted from / inserted into the image. */
export interface CurvesResult {
  method: string;
  fractions: number[];
  deletion: number[];
  insertion: number[];
  deletion_auc: number;
  insertion_auc: number;
}

/** Caption of one sanity step: the rank correlation with the original map (always visible) and the lowest
 * layer randomised so far. */
export function sanityCaption(name: string, correlation: number): { rho: string; layer: string } {
  return { rho: `ρ ${correlation.toFixed(2)}`, layer: name };
}

/** One line with both areas under the curves and which way is better. */
export function aucText(curves: CurvesResult, title: string): string {
  return (
    `${title}: deletion AUC ${curves.deletion_auc.toFixed(3)} (lower is better) · ` +
    `insertion AUC ${curves.insertion_auc.toFixed(3)} (higher is better)`
  );
}
