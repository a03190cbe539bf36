/**
 * Where a `StreamFormat` writes its frames: SSE text straight into UTF-8 bytes, piece by piece.
 * A 10,000-event catch-up spends most of its time here, so the writer avoids what costs most:
 * joining small frame strings (flattening them costs more than encoding), and a native encode
 * call per piece (ASCII, the usual case, is copied by a plain loop; other text is encoded).
 */
export interface SseWriter {
  /** SSE text, written as it is: a field's name or part of its value, a line break, a comment. */
  text(sse: string): void
  /** One `data` field: `data: <value>\n`, or a `data:` line per line when the value has line breaks, as SSE requires. */
  data(value: string): void
}

const encoder = new TextEncoder()
const NEWLINE = 10
const IDLE_BYTES = 1024

/**
 * An `SseWriter` that fills chunks of about `chunkBytes`, each ended at a frame's end
 * (`endFrame`), handed out by `take()`. Between takes it holds a small buffer only: a response
 * that waits for a live event keeps 1 KB, not the size of its last catch-up.
 */
export class SseChunks implements SseWriter {
  readonly #chunkBytes: number
  #bytes: Uint8Array
  #at = 0
  #taken: Uint8Array[] = []

  constructor(chunkBytes = 64 * 1024) {
    this.#chunkBytes = chunkBytes
    this.#bytes = new Uint8Array(IDLE_BYTES)
  }

  text(sse: string): void {
    const length = sse.length
    if (this.#at + length > this.#bytes.length) this.#grow(length * 3)
    const bytes = this.#bytes
    let at = this.#at
    for (let i = 0; i < length; i++) {
      const unit = sse.charCodeAt(i)
      if (unit >= 0x80) return this.#encode(sse.slice(i), at)
      bytes[at++] = unit
    }
    this.#at = at
  }

  data(value: string): void {
    if (value.includes('\n') || value.includes('\r')) {
      for (const line of value.split(/\r\n|\r|\n/)) this.data(line)
      return
    }
    this.text('data: ')
    this.text(value)
    this.#byte(NEWLINE)
  }

  /** A frame ends here: a chunk that is full enough is closed, so no chunk grows past about `chunkBytes`. */
  endFrame(): void {
    if (this.#at >= this.#chunkBytes) this.#close()
  }

  /** How many bytes are written and not taken yet. */
  get size(): number {
    return this.#at + this.#taken.reduce((sum, chunk) => sum + chunk.length, 0)
  }

  /** The chunks written since the last `take()`. */
  take(): Uint8Array[] {
    if (this.#at > 0) this.#close()
    if (this.#bytes.length > IDLE_BYTES) this.#bytes = new Uint8Array(IDLE_BYTES)
    return this.#taken.splice(0)
  }

  #close(): void {
    // A full buffer is handed out as it is (its unused room is small) and replaced; a part-full one is copied and reused.
    if (this.#at >= this.#chunkBytes) {
      this.#taken.push(this.#bytes.subarray(0, this.#at))
      this.#bytes = new Uint8Array(this.#bytes.length)
    } else this.#taken.push(this.#bytes.slice(0, this.#at))
    this.#at = 0
  }

  #byte(value: number): void {
    if (this.#at + 1 > this.#bytes.length) this.#grow(1)
    this.#bytes[this.#at++] = value
  }

  /** Text from its first non-ASCII unit on: encoded natively. */
  #encode(rest: string, at: number): void {
    if (at + rest.length * 3 > this.#bytes.length) {
      this.#at = at
      this.#grow(rest.length * 3)
    }
    this.#at = at + encoder.encodeInto(rest, this.#bytes.subarray(at)).written
  }

  #grow(bytes: number): void {
    // Past the idle size, straight to a chunk's size and a margin for the frame that ends it.
    const grown = new Uint8Array(Math.max(this.#bytes.length * 2, this.#chunkBytes + (this.#chunkBytes >> 2), this.#at + bytes))
    grown.set(this.#bytes.subarray(0, this.#at))
    this.#bytes = grown
  }
}
