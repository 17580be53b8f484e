/** Arrays sent by Python as {dtype, shape, buffer}; the buffer arrives as a DataView into a larger frame, or as a
 * base64 marker (see codec.ts). */
import { toBytes, type WireBytes } from "./codec";

export interface WireArray {
  dtype: "float32" | "uint8";
  shape: number[];
  buffer: WireBytes;
}

export interface NdArray {
  data: Float32Array | Uint8Array;
  shape: number[];
}

/** `value` as a wire array when it is one (a trait that is `{}` while unset is not). */
export function wireArray(value: unknown): WireArray | null {
  return value && typeof value === "object" && "shape" in value ? (value as WireArray) : null;
}

/** Wrap the wire bytes without copying, honouring byteOffset/byteLength; copy only when misaligned. */
export function decodeArray(wire: WireArray | null | undefined): NdArray | null {
  if (!wire || !wire.shape) return null;
  const bytes = toBytes(wire.buffer);
  if (!bytes) return null;
  const { dtype, shape } = wire;
  const itemSize = dtype === "uint8" ? 1 : dtype === "float32" ? 4 : 0;
  if (!itemSize) throw new Error(`unsupported dtype ${String(dtype)}`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength < count * itemSize) {
    throw new Error(`a ${dtype} array of shape (${shape.join(", ")}) needs ${count * itemSize} bytes, got ${bytes.byteLength}`);
  }
  if (dtype === "uint8") return { data: bytes.subarray(0, count), shape };
  if (bytes.byteOffset % 4 === 0) return { data: new Float32Array(bytes.buffer, bytes.byteOffset, count), shape };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const copy = new Float32Array(count);
  for (let i = 0; i < count; i++) copy[i] = view.getFloat32(i * 4, true);
  return { data: copy, shape };
}

/** The (d1, ..., dn) slices of a (k, d1, ..., dn) array, as views into its data (no copies). */
export function unstack(arr: NdArray): NdArray[] {
  const [count, ...shape] = arr.shape;
  const size = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: count ?? 0 }, (_, i) => ({ data: arr.data.subarray(i * size, (i + 1) * size), shape }));
}
