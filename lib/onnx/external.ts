/** The external-data reader a model loader is given. Its own module so that the public declarations (load.d.ts)
 * never reach the protobuf schema's types (onnx-proto's need `Long` from protobufjs 6). */

/** Reads an external-data file named in a tensor, relative to the model's folder. `expected` is the byte count
 * the tensor's shape needs: a reader refuses a file that does not hold it before reading anything. */
export type ExternalReader = (location: string, offset: number, length: number | undefined, expected?: number) => Uint8Array;
