/**
 * What every live picture shares: it draws the newest of two streams, JPEG frames (`frame`, acknowledged by the
 * drawer once drawn) and the PNG where a run ended (`final`, which wins while it is set), and its "Download PNG"
 * saves that PNG as it is. `draw(null, "")` clears the picture.
 */
import type { AnyModel } from "@anywidget/types";
import { toBytes, type WireBytes } from "../core/codec";
import { saveBlob } from "../core/dom";
import type { Scope } from "../core/scope";
import type { ViewTraits } from "../core/traits";

export interface StreamTraits extends ViewTraits {
  frame: WireBytes | null;
  frame_seq: number;
  final: WireBytes | null;
}

export type Draw = (data: Uint8Array<ArrayBuffer> | null, type: string, seq?: number) => void;

export function liveStream(scope: Scope, model: AnyModel<StreamTraits>, download: HTMLButtonElement, filename: string, draw: Draw): void {
  const bytes = (name: "frame" | "final") => {
    const value = toBytes(model.get(name));
    return value && value.byteLength > 0 ? value : null;
  };
  const onFrame = () => {
    const frame = bytes("frame");
    if (frame) draw(frame, "image/jpeg", Number(model.get("frame_seq")));
    else if (!bytes("final")) draw(null, "");
  };
  const onFinal = () => {
    const final = bytes("final");
    download.disabled = !final;
    if (final) draw(final, "image/png");
    else onFrame();
  };
  download.addEventListener("click", () => {
    const final = bytes("final");
    if (final) saveBlob(new Blob([final], { type: "image/png" }), filename);
  });
  onFinal();
  scope.listen(model, { frame: onFrame, final: onFinal });
}
