import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AnyModel } from "@anywidget/types";
import { decodeArray } from "../src/core/arrays";
import { fromBase64, isMarker, MARKER, MESSAGE_BUFFERS, toBase64, toBytes } from "../src/core/codec";
import { decodeAnswer, encodeRequest, onAnswer, send } from "../src/core/requests";
import { Scope } from "../src/core/scope";

/** Every byte value, so that no code point is lost in the base64 round trip. */
const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

/** A stand-in for a widget model: `get` reads `state`, `send` records its arguments. */
function fakeModel(state: Record<string, unknown>) {
  const sent: { content: Record<string, unknown>; buffers?: ArrayBuffer[] | ArrayBufferView[] }[] = [];
  const model = {
    get: (key: string) => state[key],
    send: (content: Record<string, unknown>, _callbacks?: unknown, buffers?: ArrayBuffer[] | ArrayBufferView[]) => sent.push({ content, buffers }),
  } as unknown as AnyModel;
  return { model, sent };
}

describe("codec: reading binary values from Python", () => {
  it("keeps only a DataView's own bytes (byteOffset and byteLength) without copying", () => {
    const frame = new ArrayBuffer(32);
    new Uint8Array(frame).set([9, 9, 9, 1, 2, 3, 4, 9], 0);
    const bytes = toBytes(new DataView(frame, 3, 4))!;
    assert.deepEqual(Array.from(bytes), [1, 2, 3, 4]);
    assert.equal(bytes.buffer, frame, "copied instead of wrapped");
    assert.equal(bytes.byteOffset, 3);
  });

  it("reads ArrayBuffers, typed-array views and empty buffers", () => {
    assert.deepEqual(Array.from(toBytes(ALL_BYTES.buffer)!), Array.from(ALL_BYTES));
    assert.deepEqual(Array.from(toBytes(ALL_BYTES.subarray(250, 253))!), [250, 251, 252]);
    const floats = new Float32Array([1.5]);
    assert.deepEqual(Array.from(toBytes(floats)!), Array.from(new Uint8Array(floats.buffer)));
    assert.equal(toBytes(new DataView(new ArrayBuffer(0)))!.byteLength, 0);
  });

  it("decodes base64 markers, the same bytes as the buffer form", () => {
    // base64 of the bytes 0..255, as Python's base64.b64encode gives it (first and last characters checked).
    const text = toBase64(ALL_BYTES);
    assert.ok(text.startsWith("AAECAwQFBgcICQoL") && text.endsWith("+/w=="), text);
    assert.deepEqual(Array.from(toBytes({ [MARKER]: text })!), Array.from(ALL_BYTES));
    assert.deepEqual(Array.from(toBytes({ [MARKER]: "AP8=" })!), [0, 255]);
    assert.equal(toBytes({ [MARKER]: "" })!.byteLength, 0);
    assert.throws(() => fromBase64("not base64!"));
  });

  it("gives null for values that are not binary (unset traits)", () => {
    for (const value of [null, undefined, {}, "AP8=", 3, { [MARKER]: 3 }, [1, 2]]) assert.equal(toBytes(value), null, String(value));
    assert.equal(isMarker({ [MARKER]: "" }), true);
    assert.equal(isMarker({ other: "" }), false);
  });

  it("round-trips large inputs through base64 (encoded in chunks)", () => {
    const big = Uint8Array.from({ length: 100_003 }, (_, i) => (i * 7919) % 256);
    assert.deepEqual(fromBase64(toBase64(big)), big);
    assert.equal(toBase64(new Uint8Array(0)), "");
  });

  it("decodes arrays whose buffer is a marker, also uint8, and rejects a buffer too short for the shape", () => {
    const floats = new Float32Array([0.5, -2, 3, 1e-3]);
    const marker = { [MARKER]: toBase64(new Uint8Array(floats.buffer)) };
    const arr = decodeArray({ dtype: "float32", shape: [2, 2], buffer: marker })!;
    assert.deepEqual(Array.from(arr.data), Array.from(floats));
    assert.deepEqual(arr.shape, [2, 2]);
    const bytes = decodeArray({ dtype: "uint8", shape: [3], buffer: { [MARKER]: "AQID" } })!;
    assert.deepEqual(Array.from(bytes.data), [1, 2, 3]);
    assert.throws(() => decodeArray({ dtype: "float32", shape: [3], buffer: new DataView(new ArrayBuffer(16), 8, 8) }), /needs 12 bytes, got 8/);
  });
});

describe("requests: one typed vocabulary, attachments as the wire mode says", () => {
  const file = () => Uint8Array.from([137, 80, 78, 71, 0, 255]).buffer;

  it("attaches the upload's bytes as a binary buffer in buffers mode", () => {
    const { model, sent } = fakeModel({ _wire: "buffers" });
    const data = file();
    send(model, { type: "upload", name: "a.png" }, data);
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0].content, { type: "upload", name: "a.png" });
    assert.deepEqual(sent[0].buffers, [data]);
  });

  it("puts a base64 marker in the content and attaches no buffer in base64 mode", () => {
    const { model, sent } = fakeModel({ _wire: "base64" });
    send(model, { type: "upload", name: "a.png" }, file());
    assert.equal(sent.length, 1);
    assert.equal(sent[0].buffers, undefined);
    const markers = sent[0].content[MESSAGE_BUFFERS] as unknown[];
    assert.deepEqual(sent[0].content, { type: "upload", name: "a.png", [MESSAGE_BUFFERS]: [{ [MARKER]: "iVBORwD/" }] });
    assert.deepEqual(toBytes(markers[0]), new Uint8Array(file()));
  });

  it("sends buffers when `_wire` is unset", () => {
    const { model, sent } = fakeModel({});
    send(model, { type: "upload", name: "x" }, file());
    assert.equal(sent[0].buffers?.length, 1);
  });

  it("encodes every request as its plain fields, without attachments", () => {
    const cases: [Parameters<typeof encodeRequest>[0], Record<string, unknown>][] = [
      [{ type: "run" }, { type: "run" }],
      [{ type: "run", what: "sanity" }, { type: "run", what: "sanity" }],
      [{ type: "run", what: "faithfulness" }, { type: "run", what: "faithfulness" }],
      [{ type: "stop" }, { type: "stop" }],
      [{ type: "resume" }, { type: "resume" }],
      [{ type: "reset" }, { type: "reset" }],
      [{ type: "select", y: 3, x: 200 }, { type: "select", y: 3, x: 200 }],
      [{ type: "sample", name: "cat" }, { type: "sample", name: "cat" }],
      [{ type: "ack", seq: 12 }, { type: "ack", seq: 12 }],
      [{ type: "checkpoint" }, { type: "checkpoint" }],
    ];
    for (const wire of ["buffers", "base64"] as const) {
      for (const [request, content] of cases) assert.deepEqual(encodeRequest(request, [], wire), { content }, JSON.stringify(request));
    }
  });

  it("refuses an upload without its bytes and bytes on other requests", () => {
    assert.throws(() => encodeRequest({ type: "upload", name: "a.png" }, [], "buffers"), /1 attachment/);
    assert.throws(() => encodeRequest({ type: "run" }, [file()], "buffers"), /0 attachment/);
  });

  it("sends through model.send with no buffers argument for plain requests", () => {
    const { model, sent } = fakeModel({ _wire: "buffers" });
    send(model, { type: "select", y: 1, x: 2 });
    assert.deepEqual(sent, [{ content: { type: "select", y: 1, x: 2 }, buffers: undefined }]);
  });
});

describe("answers: a message from Python with its attachments, in either wire mode", () => {
  const file = Uint8Array.from([0, 1, 2, 250, 255]);

  it("reads the attachments from binary buffers and from base64 markers alike, the markers out of the content", () => {
    const asBuffers = decodeAnswer({ type: "checkpoint", name: "f.pt" }, [new DataView(file.buffer)]);
    const asMarkers = decodeAnswer({ type: "checkpoint", name: "f.pt", [MESSAGE_BUFFERS]: [{ [MARKER]: toBase64(file) }] });
    for (const answer of [asBuffers, asMarkers]) {
      assert.deepEqual(answer?.content, { type: "checkpoint", name: "f.pt" });
      assert.deepEqual(answer?.attachments.map((b) => [...b]), [[...file]]);
    }
    assert.equal(decodeAnswer("not an object"), null);
    assert.throws(() => decodeAnswer({ type: "x", [MESSAGE_BUFFERS]: ["text"] }), /not bytes/);
  });

  it("calls back for messages of its type only, until the scope is disposed", () => {
    const handlers = new Set<(message: unknown, buffers: DataView[]) => void>();
    const model = {
      on: (_event: string, fn: (message: unknown, buffers: DataView[]) => void) => handlers.add(fn),
      off: (_event: string, fn: (message: unknown, buffers: DataView[]) => void) => handlers.delete(fn),
    } as unknown as AnyModel;
    const deliver = (message: unknown, buffers: DataView[] = []) => handlers.forEach((fn) => fn(message, buffers));
    const scope = new Scope();
    const got: number[][] = [];
    onAnswer(scope, model, "checkpoint", ({ attachments }) => got.push([...attachments[0]]));
    deliver({ type: "other" }, [new DataView(file.buffer)]);
    deliver({ type: "checkpoint" }, [new DataView(file.buffer)]);
    scope.dispose();
    deliver({ type: "checkpoint" }, [new DataView(file.buffer)]);
    assert.deepEqual(got, [[...file]]);
    assert.equal(handlers.size, 0);
  });
});
