import type { LiveBatch, LogEntry, NewEntry } from './run-log.ts'

/**
 * How the Redis log writes one append's batch, in its stream entry and on its live channel:
 * a line of JSON, `[final, events, lengths]`, then every event's data, back to back. `events`
 * is the one event name when all are the same (a run of tokens), else a name per event;
 * `lengths` are the data's lengths in UTF-16 units, so reading a batch is one small JSON parse
 * and a slice per event, where a JSON array of the data costs an unescape of every quote in it.
 * A batch holds no seq: its stream entry's id is its last seq, and its live message starts
 * with that seq and a line break.
 */
export function encodeBatch(entries: readonly NewEntry[], final: boolean): string {
  const first = entries[0]?.event
  const events = entries.every((entry) => entry.event === first) ? first : entries.map((entry) => entry.event)
  let data = ''
  const lengths: number[] = []
  for (const entry of entries) {
    lengths.push(entry.data.length)
    data += entry.data
  }
  return `${JSON.stringify([final ? 1 : 0, events, lengths])}\n${data}`
}

/** The batch that ends at `lastSeq`. */
export function decodeBatch(payload: string, lastSeq: number): LiveBatch {
  const headerEnd = payload.indexOf('\n')
  const [final, events, lengths] = JSON.parse(payload.slice(0, headerEnd)) as [0 | 1, string | string[], number[]]
  const entries: LogEntry[] = new Array(lengths.length)
  let at = headerEnd + 1
  const firstSeq = lastSeq - lengths.length + 1
  for (let i = 0; i < lengths.length; i++) {
    const end = at + lengths[i]!
    entries[i] = { seq: firstSeq + i, event: typeof events === 'string' ? events : events[i]!, data: payload.slice(at, end) }
    at = end
  }
  return { entries, ended: final === 1 }
}

/** A live message: `<lastSeq>\n<batch>`. */
export function decodeLiveMessage(message: string): LiveBatch {
  const seqEnd = message.indexOf('\n')
  return decodeBatch(message.slice(seqEnd + 1), Number(message.slice(0, seqEnd)))
}
