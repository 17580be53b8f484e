/** FoolingImage's pure parts: how the magnified change is captioned. */

/** The change picture's caption: how many times it is magnified (3 significant digits) and its largest change, in
 * grey levels: "change ×12.5, max 8.0/255". */
export function changeCaption(gain: number, maxChange: number): string {
  const times = gain >= 100 ? Math.round(gain).toString() : gain.toPrecision(3).replace(/\.?0+$/, "");
  return `change ×${times}, max ${maxChange.toFixed(1)}/255`;
}
