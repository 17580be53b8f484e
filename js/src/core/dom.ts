/** The DOM helpers every component uses: an element builder and a file download. */

type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

/** Create an element with attributes, `on*` listeners and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  el.append(...children);
  return el;
}

/** Show `el` or hide it (display: none). */
export function show(el: HTMLElement, on: boolean): void {
  el.style.display = on ? "" : "none";
}

/** Let the browser save `blob` as a file called `filename` ("Download PNG"). */
export function saveBlob(blob: Blob, filename: string): void {
  const a = h("a", { href: URL.createObjectURL(blob), download: filename });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
