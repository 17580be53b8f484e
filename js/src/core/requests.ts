/**
 * Everything the page asks of Python, as one typed union: every `model.send` of every view goes through `send`.
 * The vocabulary is the Python side's (`cnnviz_widgets.testing.Frontend` plays the same messages).
 */
import type { AnyModel } from "@anywidget/types";
import { MARKER, MESSAGE_BUFFERS, toBase64, wireOf, type Wire } from "./codec";

export type Request =
  /** Run (occlusion), Start (featurevis), or a saliency analysis: `what` names it. */
  | { type: "run"; what?: "sanity" | "faithfulness" }
  | { type: "stop" }
  | { type: "resume" }
  | { type: "reset" }
  /** A click on the map: pixel row and column in the model's input picture. */
  | { type: "select"; y: number; x: number }
  | { type: "sample"; name: string }
  /** An uploaded file; its bytes travel as the one attachment. */
  | { type: "upload"; name: string }
  /** Live frame `seq` is drawn: Python may send the next. */
  | { type: "ack"; seq: number };

export interface Encoded {
  content: Record<string, unknown>;
  buffers?: ArrayBuffer[];
}

/**
 * The message for `request`: an upload carries exactly one attachment, others none. In base64 mode the attachment
 * becomes a marker in the content's "$buffers" list, so that the message carries no binary buffer at all.
 */
export function encodeRequest(request: Request, attachments: ArrayBuffer[], wire: Wire): Encoded {
  const wanted = request.type === "upload" ? 1 : 0;
  if (attachments.length !== wanted) {
    throw new Error(`a "${request.type}" request carries ${wanted} attachment(s), got ${attachments.length}`);
  }
  const content: Record<string, unknown> = { ...request };
  if (!attachments.length) return { content };
  if (wire === "base64") {
    return { content: { ...content, [MESSAGE_BUFFERS]: attachments.map((b) => ({ [MARKER]: toBase64(new Uint8Array(b)) })) } };
  }
  return { content, buffers: attachments };
}

/** Send `request` to the view's Python side, its attachments as the `_wire` trait says. */
export function send(model: AnyModel, request: Request, ...attachments: ArrayBuffer[]): void {
  const { content, buffers } = encodeRequest(request, attachments, wireOf(model));
  if (buffers) model.send(content, undefined, buffers);
  else model.send(content);
}
