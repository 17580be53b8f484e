/** Layout arithmetic kept free of the DOM. */

/** Columns of a near-square grid for `count` cells, at most `max` wide (9 cells: 3 x 3). */
export function gridColumns(count: number, max: number = 4): number {
  return Math.max(1, Math.min(max, Math.ceil(Math.sqrt(count))));
}
