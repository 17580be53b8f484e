/**
 * The one place where binary values cross between Python and the page. Python sends pictures (PNG/JPEG bytes)
 * and array buffers either as binary buffers, which arrive as DataViews, or, where the widget manager does not
 * deliver buffers reliably (Colab), as {"$b64": "<base64>"} markers in the JSON state; the `_wire` trait says
 * which. Reading accepts both forms whatever the trait says; sending (uploads, requests.ts) follows the trait.
 */
import type { AnyModel } from "@anywidget/types";

/** Key of the object that stands for one binary value in base64 mode (cnnviz_widgets/widgets/encoding.py). */
export const MARKER = "$b64";
/** Key of a message's content that carries its attachments as markers in base64 mode. */
export const MESSAGE_BUFFERS = "$buffers";

export type Wire = "buffers" | "base64";
export type Base64Marker = { [MARKER]: string };
/** A binary value as Python sends it: a DataView (or other buffer view / ArrayBuffer), or a base64 marker. */
export type WireBytes = ArrayBufferView | ArrayBuffer | Base64Marker;

export function isMarker(value: unknown): value is Base64Marker {
  return typeof value === "object" && value !== null && typeof (value as Base64Marker)[MARKER] === "string";
}

/**
 * The bytes of a binary value from Python; null for anything else (an unset trait is null, {} or absent).
 * Buffers are wrapped without copying and only the view's own bytes (its byteOffset and byteLength) are kept.
 */
export function toBytes(value: unknown): Uint8Array<ArrayBuffer> | null {
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer as ArrayBuffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (isMarker(value)) return fromBase64(value[MARKER]);
  return null;
}

/** Decode base64 text (throws on text that is not base64). */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Encode bytes as base64 text, in chunks so that large files stay within the engine's argument limit. */
export function toBase64(bytes: Uint8Array): string {
  const chunk = 0x8000;
  let binary = "";
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(binary);
}

/** How this view's binary values travel, from its `_wire` trait. */
export function wireOf(model: AnyModel): Wire {
  return model.get("_wire") === "base64" ? "base64" : "buffers";
}
