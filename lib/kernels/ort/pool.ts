/** Float32Array buffers reused across explanations: onnxruntime writes its outputs into them (preallocated
 * outputs), so no fresh memory is touched (page faults) and no garbage piles up per call. Only buffers this
 * pool handed out come back to it. Browser-safe. */
export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  private readonly mine = new WeakSet<Float32Array>();
  private readonly idle = new WeakSet<Float32Array>();
  private bytes = 0;

  constructor(private readonly maxBytes = 2 ** 31) {}

  take(n: number): Float32Array {
    const list = this.free.get(n);
    const a = list?.pop();
    if (a) {
      this.idle.delete(a);
      this.bytes -= a.byteLength;
      return a;
    }
    const b = new Float32Array(n);
    this.mine.add(b);
    return b;
  }

  /** Returns buffers (others are ignored); the caller must not use them afterwards. */
  give(arrays: Iterable<Float32Array | null | undefined>): void {
    for (const a of arrays) {
      if (!a || !this.mine.has(a) || this.idle.has(a) || this.bytes + a.byteLength > this.maxBytes) continue;
      this.idle.add(a);
      this.bytes += a.byteLength;
      const list = this.free.get(a.length);
      if (list) list.push(a);
      else this.free.set(a.length, [a]);
    }
  }

  owns(a: Float32Array): boolean {
    return this.mine.has(a);
  }

  clear(): void {
    this.free.clear();
    this.bytes = 0;
  }
}
