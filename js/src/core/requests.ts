/**
 * Everything the page asks of Python, as one typed union: every `model.send` of every view goes through `send`.
 * The vocabulary is the Python side's (`cnnviz_widgets.testing.Frontend` plays the same messages). A request that
 * asks for a file (Download checkpoint) is answered by one message from Python (`ViewWidget.answer`): `onAnswer`.
 */
import type { AnyModel } from "@anywidget/types";
import { MARKER, MESSAGE_BUFFERS, toBase64, toBytes, wireOf, type Wire } from "./codec";
import type { Scope } from "./scope";

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
  | { type: "ack"; seq: number }
  /** Download checkpoint: Python answers with the file (`onAnswer`). */
  | { type: "checkpoint" };

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

/** A message from Python (`ViewWidget.answer`): its content and its attachments' bytes. */
export interface Answer {
  content: Record<string, unknown>;
  attachments: Uint8Array<ArrayBuffer>[];
}

/**
 * A message from Python as an Answer, its attachments read from the binary buffers or, in base64 mode, from the
 * markers in the content's "$buffers" list (taken out of the content); null for anything that is not an object.
 */
export function decodeAnswer(message: unknown, buffers: readonly unknown[] = []): Answer | null {
  if (typeof message !== "object" || message === null) return null;
  const { [MESSAGE_BUFFERS]: encoded, ...content } = message as Record<string, unknown>;
  const attached = [...buffers, ...(Array.isArray(encoded) ? encoded : [])].map(toBytes);
  if (attached.some((b) => b === null)) throw new Error("a message from Python carries an attachment that is not bytes");
  return { content, attachments: attached as Uint8Array<ArrayBuffer>[] };
}

/** Call `fn` with each message of `type` that Python sends the view, until the scope is disposed. */
export function onAnswer(scope: Scope, model: AnyModel, type: string, fn: (answer: Answer) => void): void {
  const handler = (message: unknown, buffers: DataView[]) => {
    const answer = decodeAnswer(message, buffers ?? []);
    if (answer && answer.content.type === type) fn(answer);
  };
  model.on("msg:custom", handler);
  scope.add(() => model.off("msg:custom", handler));
}
