/** Image uploads: the size limit the view enforces before sending (Python checks it again). */

export const MAX_UPLOAD_BYTES = 20 * 2 ** 20;

/** Bytes as megabytes with one decimal, "20 MB" for whole numbers. */
export function megabytes(bytes: number): string {
  const mb = bytes / 2 ** 20;
  return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
}

/** Why a file cannot be uploaded, or null when it may be sent. */
export function uploadProblem(name: string, size: number, limit: number = MAX_UPLOAD_BYTES): string | null {
  if (size === 0) return `${name} is empty`;
  if (size > limit) return `${name} is ${megabytes(size)}; uploads are limited to ${megabytes(limit)}`;
  return null;
}
