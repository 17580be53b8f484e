/** Arrays sent by Python as {dtype, shape, buffer}; the buffer arrives as a DataView into a larger frame. */
export interface WireArray {
  dtype: "float32" | "uint8";
  shape: number[];
  buffer: DataView | ArrayBuffer;
}

export interface NdArray {
  data: Float32Array | Uint8Array;
  shape: number[];
}

/** Wrap the wire bytes without copying, honouring byteOffset/byteLength; copy only when misaligned. */
export function decodeArray(wire: WireArray | null | undefined): NdArray | null {
  if (!wire || !wire.buffer || !wire.shape) return null;
  const view = wire.buffer instanceof DataView ? wire.buffer : new DataView(wire.buffer);
  const count = wire.shape.reduce((a, b) => a * b, 1);
  if (wire.dtype === "uint8") {
    return { data: new Uint8Array(view.buffer, view.byteOffset, count), shape: wire.shape };
  }
  if (wire.dtype === "float32") {
    if (view.byteOffset % 4 === 0) {
      return { data: new Float32Array(view.buffer, view.byteOffset, count), shape: wire.shape };
    }
    const copy = new Float32Array(count);
    for (let i = 0; i < count; i++) copy[i] = view.getFloat32(i * 4, true);
    return { data: copy, shape: wire.shape };
  }
  throw new Error(`unsupported dtype ${String((wire as WireArray).dtype)}`);
}

/** The (d1, ..., dn) slices of a (k, d1, ..., dn) array, as views into its data (no copies). */
export function unstack(arr: NdArray): NdArray[] {
  const [count, ...shape] = arr.shape;
  const size = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: count ?? 0 }, (_, i) => ({ data: arr.data.subarray(i * size, (i + 1) * size), shape }));
}
