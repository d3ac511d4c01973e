/** The format and declared size of an image file from its first bytes, read before decoding so a decompression
 * bomb (a small file declaring billions of pixels) is refused without allocating. Pure code (browser-safe). */

export type ImageFormat = 'png' | 'jpeg' | 'bmp';

/** Formats decoded; other images (GIF, TIFF, WebP …) are recognised only to name them in errors. */
export const IMAGE_FORMATS: readonly ImageFormat[] = ['png', 'jpeg', 'bmp'];

export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

/** A format onnx-lrp does not decode, recognised by its signature (for error messages), or undefined. */
export function otherImageFormat(b: Uint8Array): string | undefined {
  const ascii = (i: number, n: number) => String.fromCharCode(...b.subarray(i, i + n));
  if (ascii(0, 4) === 'GIF8') return 'GIF';
  if ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a)) return 'TIFF';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') return 'WebP';
  return undefined;
}

function u16be(b: Uint8Array, i: number): number { return (b[i] << 8) | b[i + 1]; }
function u32be(b: Uint8Array, i: number): number { return ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3]; }
function u16le(b: Uint8Array, i: number): number { return b[i] | (b[i + 1] << 8); }
function i32le(b: Uint8Array, i: number): number { return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24); }
function u32le(b: Uint8Array, i: number): number { return i32le(b, i) >>> 0; }

/** JPEG: the first start-of-frame segment (SOF0..SOF15 but DHT, JPG and DAC) holds height and width. */
function jpegSize(b: Uint8Array): { width: number; height: number } | string {
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return 'a corrupt JPEG (no marker where one was expected)';
    const m = b[i + 1];
    if (m === 0xff) { i++; continue; } // fill byte
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; } // markers without a length
    if (m === 0xd9 || m === 0xda) return 'a JPEG without a frame header before its image data';
    const len = u16be(b, i + 2);
    if (len < 2) return 'a corrupt JPEG (a segment of length < 2)';
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (i + 9 > b.length) break;
      return { height: u16be(b, i + 5), width: u16be(b, i + 7) };
    }
    i += 2 + len;
  }
  return 'a truncated JPEG (it ends before its frame header)';
}

/** The format and declared size, or a sentence saying why the bytes are not a PNG, JPEG or BMP image. */
export function readImageHeader(b: Uint8Array): ImageHeader | string {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) {
    // signature, then the IHDR chunk: length (4), 'IHDR', width (4), height (4)
    if (b.length < 24 || String.fromCharCode(...b.subarray(12, 16)) !== 'IHDR') return 'a truncated or corrupt PNG (no IHDR header)';
    return { format: 'png', width: u32be(b, 16), height: u32be(b, 20) };
  }
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) {
    const s = jpegSize(b);
    return typeof s === 'string' ? s : { format: 'jpeg', ...s };
  }
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) {
    if (b.length < 26) return 'a truncated BMP (shorter than its headers)';
    const dib = u32le(b, 14);
    // BITMAPCOREHEADER (12 bytes): 16-bit sizes; the later headers: 32-bit, height negative for top-down rows
    if (dib === 12) return { format: 'bmp', width: u16le(b, 18), height: u16le(b, 20) };
    return { format: 'bmp', width: Math.abs(i32le(b, 18)), height: Math.abs(i32le(b, 22)) };
  }
  const other = otherImageFormat(b);
  if (other) return `a ${other} image; onnx-lrp reads PNG, JPEG and BMP (convert it, e.g. to PNG)`;
  return 'not a PNG, JPEG or BMP image';
}
